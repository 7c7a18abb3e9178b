"""fude (筆, "brush"): read handwritten Japanese characters and digits.

Datasets (MNIST, Kuzushiji-MNIST, Kuzushiji-49, CSV, image folders, strokes), fast CNN training,
evaluation and recognition from image files and drawings. Quick start::

    import fude
    test = fude.load_dataset("mnist", split="test")      # uint8 (10000, 28, 28), int64 labels
    model = fude.load_model("mnist")                      # a shipped, pretrained model
    model.predict(test.images[:3], k=3)                   # top-3 guesses per image

The package reads as the pipeline, data flowing one way: `errors`, `files`, `cores`, `runtime`,
`scripts`, `classmap`, `recipes` → `datasets` → `strokes` → `models` → `recognizer` → `evaluate` → `train` →
`baselines`, `plots`, `report`, `summary`, `export` → `serve` → `cli` (README "Development"; a module
imports only from its own step or those before it: tests/test_layout.py).
"""

__version__ = "0.1.0"

# the public names and the module each lives in: imported on first use (PEP 562), so that `import
# fude` and the `fude` command start without PyTorch (a second and more), which `fude train` spends
# reading its data instead (fude.cli.args.prefetch)
_HOMES = {"ClassMap": "fude.classmap", "Dataset": "fude.datasets", "DatasetError": "fude.datasets",
          "load_csv": "fude.datasets", "load_dataset": "fude.datasets", "load_image_folder": "fude.datasets",
          "load_pair": "fude.datasets", "ModelError": "fude.models", "create_model": "fude.models",
          "Recognizer": "fude.recognizer", "load_model": "fude.recognizer"}
__all__ = sorted(_HOMES) + ["__version__"]


def __getattr__(name: str):
    import importlib.util

    if name in _HOMES:
        value = getattr(importlib.import_module(_HOMES[name]), name)
    elif name.isidentifier() and not name.startswith("_") and importlib.util.find_spec(f"fude.{name}") is not None:
        # a sub-package or module: fude.models, fude.train, ... (not __main__, which runs the command)
        value = importlib.import_module(f"fude.{name}")
    else:
        raise AttributeError(f"module 'fude' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))
