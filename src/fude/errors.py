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
