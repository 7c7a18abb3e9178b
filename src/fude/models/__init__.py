"""Networks: a registry of character classifiers by architecture name, each with a config dataclass
saved beside its weights, and model folders on disk.

Every network is a :class:`CharClassifier`: it reads what its :class:`InputSpec` says (images
``(B, 1, S, S)`` float32 in [0, 1], or stroke sequences ``(B, T, 7)``), returns logits
``(B, num_classes)``, and has a feature/head split (``forward_features`` -> ``head``) with
``reset_classifier(num_classes)`` for fine-tuning to a new class set.

    base.py      CharClassifier, InputSpec, ModelError, forward_batched
    cnn.py       fude-cnn, fude-cnn-l, keras-cnn
    stroke.py    stroke-gru, stroke-lstm, stroke-conv1d
    registry.py  ARCHS, create_model
    store.py     model folders: save_model, build_from_config, load_weights, the shipped models

The object that reads characters with a trained network is :class:`fude.recognizer.Recognizer`.
"""

from fude.models.base import CharClassifier, InputSpec, ModelError, forward_batched
from fude.models.registry import ARCHS, DEFAULT_ARCH, Arch, arch_config, arch_spec, create_model
from fude.models.store import DEFAULT_STROKE_MODEL, PRETRAINED, SERVED_MODELS, build_from_config, load_network, load_weights, read_config, \
    resolve_model_dir, save_model

__all__ = ["ARCHS", "DEFAULT_ARCH", "DEFAULT_STROKE_MODEL", "PRETRAINED", "SERVED_MODELS", "Arch", "CharClassifier", "InputSpec", "ModelError", "arch_config",
           "arch_spec", "build_from_config", "create_model", "forward_batched", "load_network", "load_weights", "read_config",
           "resolve_model_dir", "save_model"]
