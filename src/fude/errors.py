"""fude's own error types, in a module of their own that imports nothing: the ``fude`` command
reports them as one ``error:`` line whichever module raised them, without importing the modules
(and PyTorch) first. Each is also importable from where it is raised: ``fude.datasets``,
``fude.datasets.preprocess``, ``fude.models``."""


class DatasetError(Exception):
    """A dataset file is missing, corrupt, or holds data of the wrong shape, dtype or range."""


class ImageError(ValueError):
    """A file is not a readable image, or holds no ink to read."""


class ModelError(Exception):
    """A model name, folder, config or weights file is unknown, missing or invalid."""


# what adds the train extra to the core install: CPU PyTorch pinned first (else pip takes a CUDA build of
# several GB), then fude's own extra from its source folder (the name "fude" on PyPI is another project)
TRAIN_EXTRA = 'pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu && pip install ".[train]"'
