"""Export a trained model to ONNX (https://onnx.ai) for onnxruntime and other runtimes.

The ONNX graph takes ``images``: float32 ``(N, 1, S, S)`` in [0, 1] (S the network's input size, 28
for the datasets), bright ink on black (the datasets' layout; the model's normalisation is inside
the graph), or for a stroke-sequence network ``sequences``: float32 ``(N, T, F)``
(:func:`fude.strokes.sequence_features`), and returns ``logits``: float32 ``(N, K)``. The class map,
preprocessing box and fude version ride along as metadata (``fude.class_map``, ``fude.config``), so
the file alone is enough to name the predicted characters.

:func:`export_into_model` writes the graph into the model's own folder (``model.onnx``, its sha256
recorded in ``config.json``): what :func:`fude.load_model` runs in onnxruntime, without PyTorch.

Needs the ``onnx`` extra: ``pip install "fude[onnx]"`` (onnx, onnxscript, onnxruntime).
"""

from __future__ import annotations

import copy
import json
import logging
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from fude.files import atomic_write
from fude.models import ModelError
from fude.recognizer import Recognizer


INPUT_NAMES = {"image": "images", "sequence": "sequences"}  # the graph's input, by the kind of network


def _require(module: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ModelError(f"ONNX export needs the {module!r} package: pip install \"fude[onnx]\"") from e


def export_onnx(rec: Recognizer, path: str | os.PathLike, opset: int = 18, metadata: bool = True,
                optimize: bool = True) -> Path:
    """Write ``rec``'s network as an ONNX model with a dynamic batch dimension (``torch.onnx.export``,
    the ``torch.export``-based exporter), with the class map and config as metadata unless
    ``metadata`` is False; atomic. ``optimize=False`` keeps the graph as the network is (batch norms
    not folded into the convolutions; onnxruntime folds them when it opens the graph), so that its
    initializers are the network's own weights under their own names: what
    :func:`fude.models.store.load_onnx_weights` reads back into PyTorch.

    Raises:
        ModelError: the onnx packages are missing.
    """
    onnx = _require("onnx")
    _require("onnxscript")
    net = copy.deepcopy(rec.net).cpu().eval().to(memory_format=torch.contiguous_format)
    example = (net.example_input(2),)
    # the exporter logs that torchvision's detection ops are unavailable and warns about its own internals:
    # neither concerns these models, so keep the user's terminal for what does
    quiet = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            program = torch.onnx.export(net, example, input_names=[INPUT_NAMES[rec.input_spec.kind]],
                                        output_names=["logits"],
                                        opset_version=opset, dynamic_shapes=({0: torch.export.Dim("batch")},),
                                        dynamo=True, verbose=False, optimize=optimize)
    finally:
        quiet.setLevel(level)
    model = with_features_output(program.model_proto)
    meta = {"fude.class_map": json.dumps(rec.class_map.to_list(), ensure_ascii=False),
            "fude.config": json.dumps({k: v for k, v in rec.config.items() if k != "class_map"}, ensure_ascii=False)}
    for key, value in meta.items() if metadata else ():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    path = Path(path)
    atomic_write(path, model.SerializeToString())
    return path


def with_features_output(model):
    """An ONNX model (``onnx.ModelProto``, changed in place and returned) whose graph also gives
    ``features`` float32 ``(N, num_features)``: the input of the node that computes ``logits`` (the
    classifier head's), what a writer's memory (:mod:`fude.recognizer.writer`) compares drawings by.
    A graph that gives it already is returned as it is.

    Raises:
        ModelError: no node computes ``logits``.
    """
    onnx = _require("onnx")
    graph = model.graph
    if any(o.name == "features" for o in graph.output):
        return model
    head = next((n for n in graph.node if "logits" in n.output), None)
    if head is None:
        raise ModelError("the ONNX graph has no node that computes 'logits'")
    graph.node.append(onnx.helper.make_node("Identity", [head.input[0]], ["features"], name="features"))
    graph.output.append(onnx.helper.make_tensor_value_info("features", onnx.TensorProto.FLOAT, ["batch", None]))
    return model


def check_onnx(rec: Recognizer, path: str | os.PathLike, images: np.ndarray | None = None, seed: int = 0) -> dict:
    """Run the ONNX file with onnxruntime (CPU) and PyTorch on the same inputs and compare.

    Args:
        images: uint8 ``(N, S, S)`` images, or float32 ``(N, T, F)`` sequences for a sequence
            network; default 512 random ones.

    Returns:
        ``{"n", "max_abs_diff" (of the logits), "same_top1" (share of inputs with the same argmax)}``.
    """
    ort = _require("onnxruntime")
    spec = rec.input_spec
    if images is None:
        rng = np.random.default_rng(seed)
        images = rng.integers(0, 256, (512, spec.size, spec.size), dtype=np.uint8) if spec.kind == "image" else \
            rng.standard_normal((512, *spec.shape)).astype(np.float32)
    x = rec.to_inputs(images).numpy()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    onnx_logits = session.run(["logits"], {INPUT_NAMES[spec.kind]: x})[0]
    fp32 = Recognizer(rec.net, rec.class_map, rec.settings, rec.config, rec.device, "fp32", backend="torch")  # PyTorch's own
    torch_logits = fp32.logits(images).numpy()
    return {"n": len(x), "max_abs_diff": float(np.abs(onnx_logits - torch_logits).max()),
            "same_top1": float((onnx_logits.argmax(1) == torch_logits.argmax(1)).mean())}


def export_into_model(folder: str | os.PathLike, weights: str = "model") -> tuple[Path, dict]:
    """Write a model folder's network as ``<weights>.onnx`` beside its weights, check it against
    PyTorch on 512 random inputs (:func:`check_onnx`) and record its sha256 in ``config.json``
    (``weights_sha256``): then :func:`fude.load_model` can read the folder in onnxruntime, without
    PyTorch. The graph keeps the network's weights as they are (``optimize=False``), so PyTorch can
    load them from it too: the shipped models carry only this file. Both files are written
    atomically, the graph first (a kill between the two leaves a graph whose checksum the config
    does not match: refused when loaded, never read wrongly).

    Returns:
        the ONNX file's path and :func:`check_onnx`'s comparison.

    Raises:
        ModelError: an unknown or unreadable model, the onnx packages missing, or a graph whose
            logits differ from PyTorch's by more than 1e-3 or whose top-1 differs (nothing recorded).
    """
    import hashlib

    from fude.files import atomic_write_json
    from fude.models.store import read_config, resolve_model_dir
    from fude.recognizer import load_model

    folder = resolve_model_dir(folder)
    rec = load_model(folder, weights=weights, precision="fp32", backend="torch")
    path = export_onnx(rec, folder / f"{weights}.onnx", metadata=False, optimize=False)
    check = check_onnx(rec, path)
    if check["max_abs_diff"] > 1e-3 or check["same_top1"] < 1.0:
        raise ModelError(f"{path}: onnxruntime's logits differ from PyTorch's (max {check['max_abs_diff']:.2e}, "
                         f"same top-1 on {check['same_top1']:.2%}); not recorded in config.json")
    config = read_config(folder)
    checksums = config.get("weights_sha256") if isinstance(config.get("weights_sha256"), dict) else {}
    config["weights_sha256"] = {**checksums, path.name: hashlib.sha256(path.read_bytes()).hexdigest()}
    atomic_write_json(folder / "config.json", config)
    return path, check
