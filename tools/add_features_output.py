"""Give a model folder's ONNX file its ``features`` output (the input of the classifier head; see
``fude.export.with_features_output``), which a writer's memory compares drawings by, and record the
new file's sha256 in the folder's ``config.json``. The logits are the same graph's, unchanged:
checked here on random inputs. Files ``fude export`` wrote since 2026-12-08 have the output already.

    .venv/bin/python tools/add_features_output.py src/fude/pretrained/ja src/fude/pretrained/ja-seq ...
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from fude.export import with_features_output
from fude.files import atomic_write


def logits(data: bytes, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return session.run(["logits"], {session.get_inputs()[0].name: x})[0]


def main(folders: list[str]) -> None:
    for folder in map(Path, folders):
        path, config_path = folder / "model.onnx", folder / "config.json"
        before = path.read_bytes()
        model = onnx.load_from_string(before)
        after = with_features_output(model).SerializeToString()
        if after == before:
            print(f"{folder}: has its features output already")
            continue
        shape = [d.dim_value or 3 for d in model.graph.input[0].type.tensor_type.shape.dim]
        x = np.random.default_rng(0).random(shape, dtype=np.float32)
        assert np.array_equal(logits(before, x), logits(after, x)), folder
        config = json.loads(config_path.read_text())
        config["weights_sha256"]["model.onnx"] = hashlib.sha256(after).hexdigest()
        atomic_write(path, after)
        atomic_write(config_path, json.dumps(config, indent=1, ensure_ascii=False).encode())
        print(f"{folder}: features output added, logits unchanged on {shape[0]} random inputs")


if __name__ == "__main__":
    main(sys.argv[1:])
