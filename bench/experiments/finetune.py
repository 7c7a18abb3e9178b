"""Does starting from the Kuzushiji model help a hiragana model? Fine-tuning against training from scratch.

Few training drawings per character (as when a person collects their own), the same recipe
(fude-cnn-l, SGD one-cycle, augmentation), three starts: random weights; the shipped `kmnist`
model with a new head, everything trainable; and the same with its first block(s) frozen.
Accuracy on an independent synthetic test set (other seed) of the 74 hiragana shapes.

    FUDE_DATA_DIR=../shared/data .venv/bin/python bench/experiments/finetune.py [--per-char 20] [--epochs 15] [--seeds 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import save_results, table  # noqa: E402

import fude  # noqa: E402
from fude.classmap import ClassMap  # noqa: E402
from fude.datasets import Dataset, stroke_source  # noqa: E402
from fude.strokes.kanjivg import load_kanjivg  # noqa: E402
from fude.strokes.synth import synth_images  # noqa: E402
from fude.train import TrainConfig, train  # noqa: E402

STARTS = {"from scratch": {}, "kmnist, all trainable": {"init_from": "kmnist"},
          "kmnist, block 1 frozen": {"init_from": "kmnist", "freeze": 1},
          "kmnist, blocks 1-2 frozen": {"init_from": "kmnist", "freeze": 2}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--per-char", type=int, default=20)
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--seeds", type=int, default=2)
    args = p.parse_args()
    chars = load_kanjivg(str(stroke_source("kanjivg-hiragana")))
    cmap = ClassMap(tuple(chars))
    x, y = synth_images(chars, args.per_char, seed=0)
    xt, yt = synth_images(chars, 40, seed=1)
    data = Dataset(x, y, cmap, {"name": "hiragana-synth"})
    print(f"{len(x):,} training drawings, {len(xt):,} test drawings, {len(set(y.tolist()))} shapes", flush=True)
    rows = []
    for name, start in STARTS.items():
        accs, t0 = [], time.perf_counter()
        for seed in range(args.seeds):
            cfg = TrainConfig(arch="fude-cnn-l", epochs=args.epochs, batch_size=64, val_split=0.0, seed=seed, **start)
            with tempfile.TemporaryDirectory() as tmp:
                train(cfg, data, tmp, progress=False)
                accs.append(float((fude.load_model(tmp).predict_proba(xt).argmax(1) == yt).mean()))
            print(f"{name} seed {seed}: {accs[-1]:.4f}", flush=True)
        rows.append({"start": name, "test_accuracy": f"{np.mean(accs):.4f} ± {np.std(accs):.4f}",
                     "seconds_per_run": (time.perf_counter() - t0) / args.seeds})
    print(table(rows))
    save_results("finetune", rows, per_char=args.per_char, epochs=args.epochs, seeds=args.seeds)


if __name__ == "__main__":
    main()
