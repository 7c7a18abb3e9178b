"""Model folders: ``model.safetensors`` (weights), optionally ``model.onnx`` (the same network for
onnxruntime: reading without PyTorch, :mod:`fude.recognizer.onnx`) and ``config.json`` (the network's config, the
class map and preprocessing, plus how it was trained), written atomically and read back strictly.
Shipped models are such folders inside the package (``fude/pretrained/<name>``)."""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path

from typing import TYPE_CHECKING

from fude.classmap import ClassMap
from fude.errors import ModelError
from fude.files import atomic_write, atomic_write_json

if TYPE_CHECKING:  # PyTorch is imported by the functions that build networks, not by reading a folder
    from torch import nn

    from fude.models.base import CharClassifier

PRETRAINED = ("mnist", "kmnist", "ja", "ja-seq", "hiragana", "hiragana-seq")  # models shipped in fude/pretrained/
DEFAULT_STROKE_MODEL = "ja"  # what reads drawings unless another model is named: every kana and kanji
DEFAULT_IMAGE_MODEL = "ja"  # what reads a picture file of a character (fude predict FILE, an upload): the same
DEFAULT_DATASET_MODEL = "kmnist"  # what evaluates, predicts and reports on a data set unless another is named
SERVED_MODELS = "ja,hiragana,hiragana-seq,kmnist,mnist"  # what `fude serve` loads unless told (FUDE_MODELS)


def save_model(model: CharClassifier, folder: str | os.PathLike, class_map: ClassMap, extra_config: dict | None = None,
               name: str = "model") -> None:
    """Write ``<name>.safetensors`` and ``config.json`` (network config, class map, and the fields of
    ``extra_config``: how it was trained, its preprocessing, ...) atomically."""
    import hashlib

    from safetensors.torch import save

    from fude.models.registry import arch_config

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    weights = save(state)
    atomic_write(folder / f"{name}.safetensors", weights)
    # the weights' checksum goes last, with the config: a folder whose weights are not the ones its
    # config describes (a kill between the two writes, a flipped bit) is refused when loaded
    atomic_write_json(folder / "config.json", {**(extra_config or {}), "model": arch_config(model),
                                               "class_map": class_map.to_list(),
                                               "weights_sha256": {f"{name}.safetensors": hashlib.sha256(weights).hexdigest()}})


def resolve_model_dir(name_or_dir: str | os.PathLike) -> Path:
    """A shipped model's name (``"mnist"``, ``"kmnist"``, ...) or a model folder -> the folder.

    Raises:
        ModelError: neither.
    """
    path = Path(name_or_dir)
    if (path / "config.json").exists():
        return path
    if str(name_or_dir) in PRETRAINED:
        return Path(str(resources.files("fude.pretrained").joinpath(str(name_or_dir))))
    raise ModelError(f"no model {str(name_or_dir)!r}: not a shipped model ({', '.join(PRETRAINED)}) and not a "
                     f"folder holding config.json and model.safetensors")


def read_config(folder: Path) -> dict:
    """A model folder's ``config.json``.

    Raises:
        ModelError: unreadable, not JSON, or without its ``model`` or ``class_map`` section.
    """
    from fude.files import read_input

    try:
        config = json.loads(read_input(folder / "config.json", 256 * 2**20, "model config (JSON)").decode("utf-8"))
    except RecursionError:
        raise ModelError(f"{folder / 'config.json'}: JSON nested too deep to be a model config") from None
    except (OSError, ValueError) as e:
        raise ModelError(f"{folder / 'config.json'}: not a readable JSON config ({e})") from e
    if not isinstance(config, dict) or "model" not in config or "class_map" not in config:
        raise ModelError(f"{folder / 'config.json'}: missing the 'model' or 'class_map' section")
    return config


def build_from_config(config: dict) -> tuple[CharClassifier, ClassMap]:
    """Fresh network and class map from a saved config dict (see :func:`save_model`).

    Raises:
        ModelError: an unknown architecture or field, or a class count that disagrees with the class map.
    """
    from fude.models.registry import create_model

    import torch

    from fude.models.spec import MAX_PARAMETERS

    try:
        model_cfg = dict(config["model"])
        arch = model_cfg.pop("arch", None)
        class_map = ClassMap.from_list(config["class_map"])
        with torch.device("meta"):  # sized before any memory is taken: a config that lies costs nothing
            sketch = create_model(arch, **model_cfg)
        problem = sketch.input_spec.problem()
        size = sum(p.numel() for p in sketch.parameters())
        if problem or size > MAX_PARAMETERS:
            raise ModelError(f"invalid model config: a network reading {problem}" if problem else
                             f"invalid model config: a network of {size:,} parameters (at most {MAX_PARAMETERS:,})")
        model = create_model(arch, **model_cfg)
    except (TypeError, ValueError, KeyError, AttributeError, RuntimeError, OverflowError) as e:
        raise ModelError(f"invalid model config: {e}") from e
    if model.config.num_classes != len(class_map):
        raise ModelError(f"config has {model.config.num_classes} classes but its class map has {len(class_map)}")
    return model, class_map


def load_weights(model: nn.Module, path: Path, sha256: str | None = None) -> None:
    """Load a safetensors file into ``model``, strictly; with ``sha256``, only if the file's bytes
    have that checksum.

    Raises:
        ModelError: not a safetensors file, a checksum that differs, or names/shapes that do not
            match the model.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load

    try:
        data = Path(path).read_bytes()
        state = load(data)
    except (SafetensorError, OSError, ValueError) as e:
        raise ModelError(f"{path}: not a readable safetensors weights file ({e})") from e
    check_sha256(Path(path), data, sha256)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise ModelError(f"{path}: weights do not match the model in config.json ({e})") from e


def load_network(name_or_dir: str | os.PathLike, weights: str = "model") -> tuple[CharClassifier, ClassMap, dict]:
    """A shipped model's or a model folder's network with its weights (checked against the sha256
    its config records), its class map and its whole config: what a model folder holds, without the
    reading settings (:func:`fude.load_model` adds those).

    Raises:
        ModelError: unknown name, missing or invalid config, or weights that are missing, damaged or
            do not fit the network (the file named).
    """
    folder = resolve_model_dir(name_or_dir)
    config = read_config(folder)
    try:
        net, class_map = build_from_config(config)
    except ModelError as e:
        raise ModelError(f"{folder / 'config.json'}: {e}") from e
    checksums = config.get("weights_sha256") if isinstance(config.get("weights_sha256"), dict) else {}
    path = folder / f"{weights}.safetensors"
    if not path.exists() and (folder / f"{weights}.onnx").exists():  # a shipped model: its ONNX file only
        load_onnx_weights(net, folder / f"{weights}.onnx", config)
    else:
        load_weights(net, path, checksums.get(path.name))
    return net, class_map, config


def load_onnx_weights(model: nn.Module, path: Path, config: dict) -> None:
    """Load the weights of an ONNX file written by :func:`fude.export.export_into_model` (the
    network's own weights as its initializers, under their PyTorch names) into ``model``, strictly
    (batch norms' ``num_batches_tracked`` counters, which inference never reads, are not in the
    graph and stay as they are); the file's bytes checked against the sha256 ``config`` records.

    Raises:
        ModelError: the onnx package missing, a checksum that differs, not an ONNX file, or
            initializers that do not match the model.
    """
    import numpy as np
    import torch

    try:
        import onnx
        from onnx import numpy_helper
    except ImportError as e:
        from fude.errors import TRAIN_EXTRA

        raise ModelError(f"{path}: reading its weights into PyTorch needs the onnx package ({TRAIN_EXTRA})") from e
    data = read_checked(path, config)
    try:
        graph = onnx.load_from_string(data).graph
        weights = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    except Exception as e:  # protobuf's DecodeError and onnx's own
        raise ModelError(f"{path}: not a readable ONNX file ({e})") from e
    state = model.state_dict()
    missing = [k for k in state if k not in weights and not k.endswith("num_batches_tracked")]
    if missing:
        raise ModelError(f"{path}: its graph lacks the weights {', '.join(missing[:5])}: not a graph written by fude "
                         f"export --in-model for the network in config.json")
    try:
        model.load_state_dict({k: torch.from_numpy(np.array(weights[k])) if k in weights else v
                               for k, v in state.items()}, strict=True)
    except RuntimeError as e:
        raise ModelError(f"{path}: weights do not match the model in config.json ({e})") from e


def read_checked(path: Path, config: dict) -> bytes:
    """A model file's bytes, checked against the sha256 the config records for it (``weights_sha256``;
    a file it records nothing for is read as it is).

    Raises:
        ModelError: unreadable, or a checksum that differs.
    """
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ModelError(f"{path}: cannot read it ({e})") from e
    checksums = config.get("weights_sha256")
    check_sha256(path, data, checksums.get(path.name) if isinstance(checksums, dict) else None)
    return data


def check_sha256(path: Path, data: bytes, expected: str | None) -> None:
    """Refuse ``data`` (the bytes of ``path``) unless their sha256 is ``expected``. None (a config
    that records no checksum: written by hand, or its ``weights_sha256`` removed) loads the file
    unchecked with a warning that says so.

    Raises:
        ModelError: a checksum that differs.
    """
    import hashlib

    if expected is None:
        import warnings

        warnings.warn(f"{path}: config.json records no sha256 for it (weights_sha256), so it is loaded unchecked: "
                      "a damaged file would give wrong answers", UserWarning, stacklevel=3)
    else:
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected:
            raise ModelError(f"{path}: its sha256 is {actual}, but config.json records {expected}: the file is "
                             f"damaged or not this model's; the model was not loaded")
