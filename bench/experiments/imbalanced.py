"""Imbalanced classes: does balanced class weighting (or a class-balanced sampler) raise balanced accuracy?

A deliberately imbalanced training set is drawn from the KMNIST dev images: class c keeps
round(500 * (10/500) ** (c/9)) images, from 500 (お) down to 10 (を), a 50:1 ratio like
Kuzushiji-49's common and rare kana. The model is fude's default CNN; the test set is a disjoint,
balanced 2,000 images (200 per class). Printed per setting (mean over seeds): balanced accuracy
(mean per-class recall, the official K49 metric; on a balanced test set it equals plain accuracy),
accuracy at the training class frequencies (sum of per-class recall times the training share: what
an imbalanced test set drawn like the training data would give), and the worst class's recall.

    FUDE_DATA_DIR=../shared/data .venv/bin/python bench/experiments/imbalanced.py [--seeds 3] [--epochs 30]
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
from fude.runtime import set_threads  # noqa: E402
from fude.train import TrainConfig, train  # noqa: E402

SETTINGS = {"none": {}, "class weights": {"class_weights": "balanced"}, "balanced sampler": {"sampler": "balanced"}}


def imbalanced_split(labels: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, imbalanced; test indices, 200 per class, disjoint from train)."""
    rng = np.random.default_rng(seed)
    train_idx, test_idx = [], []
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(labels == c))
        test_idx.append(idx[:200])
        train_idx.append(idx[200: 200 + round(500 * (10 / 500) ** (c / 9))])
    return np.concatenate(train_idx), np.concatenate(test_idx)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: one per core)")
    args = p.parse_args()
    set_threads(args.threads)
    data = fude.load_dataset("kmnist", "dev")
    tr, te = imbalanced_split(data.labels)
    counts = np.bincount(data.labels[tr], minlength=10)
    prior = counts / counts.sum()
    print("training images per class:", dict(zip(data.class_map.chars, counts.tolist())), flush=True)
    rows = []
    for name, options in SETTINGS.items():
        res, t0 = [], time.perf_counter()
        for seed in range(args.seeds):
            cfg = TrainConfig(epochs=args.epochs, batch_size=64, val_split=0.0, seed=seed, **options)
            with tempfile.TemporaryDirectory() as tmp:
                train(cfg, data.subset(tr), tmp, progress=False)
                pred = fude.load_model(tmp).predict_proba(data.images[te]).argmax(1)
            recall = np.array([(pred[data.labels[te] == c] == c).mean() for c in range(10)])
            res.append((recall.mean(), (recall * prior).sum(), recall.min()))
            print(f"{name} seed {seed}: balanced accuracy {recall.mean():.4f}, per-class recall "
                  f"{' '.join(f'{r:.2f}' for r in recall)}", flush=True)
        m = np.array(res)
        rows.append({"setting": name, "balanced_accuracy": f"{m[:, 0].mean():.4f} ± {m[:, 0].std():.4f}",
                     "accuracy_at_train_frequencies": f"{m[:, 1].mean():.4f}",
                     "worst_class_recall": f"{m[:, 2].mean():.4f}",
                     "seconds_per_run": (time.perf_counter() - t0) / args.seeds})
    print(table(rows))
    save_results("imbalanced", rows, epochs=args.epochs, seeds=args.seeds)


if __name__ == "__main__":
    main()
