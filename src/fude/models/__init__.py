"""Networks: a registry of character classifiers by architecture name, each with a config dataclass
saved beside its weights, and model folders on disk.

Every network is a :class:`CharClassifier`: it reads what its :class:`InputSpec` says (images
``(B, 1, S, S)`` float32 in [0, 1], or stroke sequences ``(B, T, 7)``), returns logits
``(B, num_classes)``, and has a feature/head split (``forward_features`` -> ``head``) with
``reset_classifier(num_classes)`` for fine-tuning to a new class set.

    spec.py      InputSpec (no PyTorch)
    base.py      CharClassifier, ModelError, forward_batched
    cnn.py       fude-cnn, fude-cnn-l, keras-cnn
    stroke.py    stroke-gru, stroke-lstm, stroke-conv1d
    registry.py  ARCHS, create_model
    store.py     model folders: save_model, build_from_config, load_weights, the shipped models
    ort.py       OrtRunner: a network exported in memory and run in onnxruntime

The object that reads characters with a trained network is :class:`fude.recognizer.Recognizer`.
The names below are imported on first use (PEP 562): reading a model folder's config or the shipped
models' names (``fude.models.store``, ``fude.models.spec``) does not import PyTorch.
"""

_HOMES = {"CharClassifier": "base", "ModelError": "base", "forward_batched": "base", "InputSpec": "spec",
          "ARCHS": "registry", "DEFAULT_ARCH": "registry", "Arch": "registry", "arch_config": "registry",
          "arch_spec": "registry", "create_model": "registry", "DEFAULT_STROKE_MODEL": "store", "DEFAULT_IMAGE_MODEL": "store",
          "DEFAULT_DATASET_MODEL": "store", "PRETRAINED": "store",
          "SERVED_MODELS": "store", "build_from_config": "store", "load_network": "store", "load_weights": "store",
          "read_config": "store", "resolve_model_dir": "store", "save_model": "store"}
__all__ = sorted(_HOMES)


def __getattr__(name: str):
    import importlib

    if name not in _HOMES:
        raise AttributeError(f"module 'fude.models' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"fude.models.{_HOMES[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))
