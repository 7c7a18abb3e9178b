"""fude (筆, "brush"): read handwritten Japanese characters and digits.

Datasets (MNIST, Kuzushiji-MNIST, Kuzushiji-49, CSV, image folders, strokes), fast CNN training,
evaluation and recognition from image files and drawings. Quick start::

    import fude
    test = fude.load_dataset("mnist", split="test")      # uint8 (10000, 28, 28), int64 labels
    model = fude.load_model("mnist")                      # a shipped, pretrained model
    model.predict(test.images[:3], k=3)                   # top-3 guesses per image

The package reads as the pipeline, data flowing one way: ``files``, ``runtime``, ``scripts``,
``classmap`` -> ``datasets`` and ``strokes`` -> ``models`` -> ``recognizer`` -> ``train`` ->
``evaluate``, ``baselines``, ``plots``, ``report``, ``summary``, ``export`` -> ``serve`` and ``cli``.
"""

__version__ = "0.1.0"

from fude.classmap import ClassMap  # noqa: E402
from fude.datasets import Dataset, DatasetError, load_csv, load_dataset, load_image_folder, load_pair  # noqa: E402
from fude.models import ModelError, create_model  # noqa: E402
from fude.recognizer import Recognizer, load_model  # noqa: E402

__all__ = ["ClassMap", "Dataset", "DatasetError", "ModelError", "Recognizer", "create_model", "load_csv",
           "load_dataset", "load_image_folder", "load_model", "load_pair", "__version__"]
