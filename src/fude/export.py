"""Export a trained model to ONNX (https://onnx.ai) for onnxruntime and other runtimes.

The ONNX graph takes ``images``: float32 ``(N, 1, S, S)`` in [0, 1] (S the network's input size, 28
for the datasets), bright ink on black (the datasets' layout; the model's normalisation is inside the graph) and returns ``logits``: float32
``(N, K)``. The class map, preprocessing box and fude version ride along as metadata
(``fude.class_map``, ``fude.config``), so the file alone is enough to name the predicted characters.

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


def _require(module: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ModelError(f"ONNX export needs the {module!r} package: pip install \"fude[onnx]\"") from e


def export_onnx(rec: Recognizer, path: str | os.PathLike, opset: int = 18) -> Path:
    """Write ``rec`` as an ONNX model with a dynamic batch dimension (``torch.onnx.export``, the
    ``torch.export``-based exporter), with the class map and config as metadata; atomic.

    Raises:
        ModelError: the onnx packages are missing.
    """
    if rec.net.input_kind != "image":
        raise ModelError(f"ONNX export is for image models; {rec.net.arch} reads stroke sequences")
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
            program = torch.onnx.export(net, example, input_names=["images"], output_names=["logits"],
                                        opset_version=opset, dynamic_shapes=({0: torch.export.Dim("batch")},),
                                        dynamo=True, verbose=False)
    finally:
        quiet.setLevel(level)
    model = program.model_proto
    meta = {"fude.class_map": json.dumps(rec.class_map.to_list(), ensure_ascii=False),
            "fude.config": json.dumps({k: v for k, v in rec.config.items() if k != "class_map"}, ensure_ascii=False)}
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    path = Path(path)
    atomic_write(path, model.SerializeToString())
    return path


def check_onnx(rec: Recognizer, path: str | os.PathLike, images: np.ndarray | None = None, seed: int = 0) -> dict:
    """Run the ONNX file with onnxruntime (CPU) and PyTorch on the same images and compare.

    Args:
        images: uint8 ``(N, S, S)``; default 512 random images.

    Returns:
        ``{"n", "max_abs_diff" (of the logits), "same_top1" (share of images with the same argmax)}``.
    """
    ort = _require("onnxruntime")
    if images is None:
        size = rec.input_size
        images = np.random.default_rng(seed).integers(0, 256, (512, size, size), dtype=np.uint8)
    x = rec.to_inputs(images).numpy()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    onnx_logits = session.run(["logits"], {"images": x})[0]
    fp32 = Recognizer(rec.net, rec.class_map, rec.settings, rec.config, rec.device, "fp32", backend="torch")  # PyTorch's own
    torch_logits = fp32.logits(images).numpy()
    return {"n": len(x), "max_abs_diff": float(np.abs(onnx_logits - torch_logits).max()),
            "same_top1": float((onnx_logits.argmax(1) == torch_logits.argmax(1)).mean())}
