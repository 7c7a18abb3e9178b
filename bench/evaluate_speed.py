"""`fude evaluate` throughput: images/s of batched inference on the 10,000 MNIST test images.

    FUDE_DATA_DIR=../shared/data .venv/bin/python bench/evaluate_speed.py
"""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import table  # noqa: E402

import fude  # noqa: E402
from fude.evaluate import evaluate  # noqa: E402
from fude.models import Recognizer, create_model  # noqa: E402

test = fude.load_dataset("mnist", "test")
rows = []
for name in ("fude-cnn", "fude-cnn-l", "keras-cnn", "shipped mnist"):
    rec = fude.load_model("mnist") if name.startswith("shipped") else Recognizer(create_model(name), test.class_map)
    evaluate(rec, test)  # warm-up
    best = min(evaluate(rec, test)["seconds"] for _ in range(3))
    rows.append({"model": name, "arch": rec.net.arch, "images_per_s": len(test) / best,
                 "threads": torch.get_num_threads()})
print(table(rows))
