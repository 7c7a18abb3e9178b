"""Loading a model folder as a recognizer, in PyTorch or in onnxruntime: :func:`load_model` (what
``fude.load_model`` is). This module imports neither: a folder read in onnxruntime never imports
PyTorch, which is what lets the core install (``pip install fude``, no PyTorch) read handwriting."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from fude.errors import TRAIN_EXTRA, ModelError
from fude.recognizer.base import BaseRecognizer, companion_location, companion_problem
from fude.recognizer.config import RecognizerConfig

BACKENDS = ("auto", "torch", "onnxruntime")


def has_torch() -> bool:
    """Whether PyTorch is installed (found, not imported; an import hook that refuses it counts as not)."""
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False


def has_onnxruntime() -> bool:
    """Whether onnxruntime is installed (found, not imported)."""
    try:
        return importlib.util.find_spec("onnxruntime") is not None
    except (ImportError, ValueError):
        return False


def onnx_file(folder: Path, weights: str = "model") -> Path | None:
    """A model folder's ONNX file for ``weights`` (``<weights>.onnx``), or None when it has none."""
    path = folder / f"{weights}.onnx"
    return path if path.is_file() else None


def uses_onnx_file(name_or_dir: str | os.PathLike, backend: str = "auto", precision: str = "auto",
                   device: str = "cpu", weights: str = "model") -> bool:
    """Whether :func:`load_model` with these arguments reads the folder's ONNX file in onnxruntime
    (an :class:`~fude.recognizer.onnx.OnnxRecognizer`) rather than building the network in PyTorch.

    ``backend="onnxruntime"``: whenever the folder has the file (without one, PyTorch's network is
    exported in memory: :class:`~fude.recognizer.Recognizer`). ``"auto"``: when PyTorch is not
    installed. ``"torch"``: never. The file runs in fp32 on the CPU only, so another ``device`` or a
    ``precision`` of ``"bf16"`` reads in PyTorch.

    Raises:
        ValueError: an unknown backend.
        ModelError: an unknown model.
    """
    from fude.models.store import resolve_model_dir

    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == "torch" or str(device) != "cpu" or precision not in ("auto", "fp32"):
        return False
    if onnx_file(resolve_model_dir(name_or_dir), weights) is None:
        return False
    return backend == "onnxruntime" or not has_torch()


def reading_backend(name_or_dir: str | os.PathLike, backend: str = "auto", precision: str = "auto") -> str:
    """The backend the reading commands (``fude predict`` on files, ``predict-strokes``, ``serve``)
    load a model with: for ``"auto"``, ``"onnxruntime"`` when the model has its ONNX file, reads in
    fp32 and onnxruntime is installed (no PyTorch to import: a second faster to start, a third of
    the memory); else ``backend`` as given.

    Raises:
        ModelError: an unknown model.
    """
    from fude.models.store import resolve_model_dir

    if backend == "auto" and precision in ("auto", "fp32") and onnx_file(resolve_model_dir(name_or_dir)) is not None \
            and has_onnxruntime():
        return "onnxruntime"
    return backend


def load_model(name_or_dir: str | os.PathLike = "kmnist", device: str = "cpu", weights: str = "model",
               precision: str = "auto", backend: str = "auto", threads: int = 0) -> BaseRecognizer:
    """Load a shipped model (``"mnist"``, ``"kmnist"``, ``"ja"``, ``"ja-seq"``, ``"hiragana"``,
    ``"hiragana-seq"``) or a model folder written by ``fude train``, with its reading settings
    (:class:`~fude.recognizer.config.RecognizerConfig`, from its ``config.json``) and its companion.

    Where PyTorch is installed, ``backend="auto"`` (the default) gives a
    :class:`~fude.recognizer.Recognizer` (``precision`` and ``backend`` as there); without PyTorch,
    or with ``backend="onnxruntime"``, the folder's ONNX file (``model.onnx``, checked against the
    sha256 its config records) runs in onnxruntime: an
    :class:`~fude.recognizer.onnx.OnnxRecognizer`, which reads images and drawings the same way
    (see :func:`uses_onnx_file`), with ``threads`` onnxruntime threads per call (0: one per
    physical core; PyTorch's are set process-wide by ``torch.set_num_threads``). The companion is
    loaded the same way.

    Raises:
        ModelError: unknown name, missing or invalid config, settings, weights or ONNX file, a
            companion that does not fit, or a folder without an ONNX file where PyTorch is not
            installed (the message says what to install).
        ValueError: an unknown precision or backend.
    """
    from fude.models.store import read_checked, read_config, resolve_model_dir

    folder = resolve_model_dir(name_or_dir)
    use_onnx = uses_onnx_file(folder, backend, precision, device, weights)
    if not use_onnx and not has_torch():
        raise ModelError(f"{folder}: reading this model needs PyTorch ({TRAIN_EXTRA}): it has no ONNX file "
                         f"{weights}.onnx for onnxruntime (fude export {folder} --in-model writes one)"
                         if backend != "torch" and onnx_file(folder, weights) is None else
                         f"{folder}: the {backend!r} backend on {device} in {precision} needs PyTorch ({TRAIN_EXTRA})")
    if use_onnx:
        config = read_config(folder)
        from fude.classmap import ClassMap

        try:
            class_map = ClassMap.from_list(config["class_map"])
        except (TypeError, ValueError, KeyError, AttributeError) as e:
            raise ModelError(f"{folder / 'config.json'}: invalid class map: {e}") from e
    else:
        from fude.models.store import load_network

        net, class_map, config = load_network(folder, weights)
    try:
        settings = RecognizerConfig.from_model_config(config)
    except (AttributeError, TypeError, ValueError) as e:
        raise ModelError(f"{folder / 'config.json'}: {e}") from e
    companion = None
    if settings.companion is not None:
        where = companion_location(folder, settings.companion)
        try:
            if resolve_model_dir(where).resolve() == folder.resolve():
                raise ModelError(f"{folder / 'config.json'}: companion {settings.companion!r} is this model itself")
            companion = load_model(where, device, "model", precision, backend, threads)
        except RecursionError:
            raise ModelError(f"{folder / 'config.json'}: companion {settings.companion!r} leads back to itself") from None
        problem = companion_problem(companion, class_map)
        if problem:
            raise ModelError(f"{folder / 'config.json'}: companion {settings.companion!r}: {problem}")
    if use_onnx:
        from fude.recognizer.onnx import OnnxRecognizer

        path = folder / f"{weights}.onnx"
        graph = read_checked(path, config)
        try:
            return OnnxRecognizer(graph, class_map, settings, config, companion, threads)
        except ModelError as e:
            raise ModelError(f"{path}: {e}") from e
    from fude.recognizer.network import Recognizer

    return Recognizer(net, class_map, settings, config, device, precision, backend, companion)
