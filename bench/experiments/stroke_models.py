"""Hiragana from strokes: a CNN on rasterised drawings against sequence models (GRU, LSTM, 1-D conv)
on the same drawings' points, side by side.

Every model trains on the same synthetic drawings of all 86 hiragana (fude.strokes.synth, KanjiVG strokes,
seed 0) with fude's one training loop, and is tested on unseen drawings of two kinds:
- `synthetic`: new drawings from the same generator (seed 1);
- `harder`: drawings varied about twice as much as in training (seed 2: larger rotation, shear,
  per-stroke jitter, elastic deformation, more joined and swapped strokes), a stand-in for people
  who write less neatly than the generator;
- `reordered`: the `synthetic` drawings with their strokes in a random order, each stroke drawn in
  a random direction (as learners who do not know the stroke order may write).
None is a set of real human drawings.
Latency is `predict_strokes` on one thread, p50 over 300 calls.

    FUDE_DATA_DIR=../shared/data .venv/bin/python bench/experiments/stroke_models.py [--per-char 300] [--epochs 5]
"""

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import save_results, table  # noqa: E402
from fude.classmap import ClassMap
from fude.datasets import Dataset, SequenceDataset, stroke_source
from fude.strokes.kanjivg import load_kanjivg
from fude.recognizer import load_model
from fude.strokes.synth import SynthConfig, drawing, drawn, synth_images, synth_sequences
from fude.train import TrainConfig, default_lr, train

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("--per-char", type=int, default=300, help="training drawings per character")
p.add_argument("--test-per-char", type=int, default=30, help="test drawings per character, each kind")
p.add_argument("--epochs", type=int, default=5)
p.add_argument("--length", type=int, default=64, help="points per sequence")
p.add_argument("--archs", default="fude-cnn-l,stroke-conv1d,stroke-gru,stroke-lstm")
p.add_argument("--threads", type=int, default=0, help="training threads (0: all cores)")
p.add_argument("--reorder", type=float, default=0.0, help="training drawings: chance of a random stroke order")
p.add_argument("--reverse", type=float, default=0.0, help="training drawings: chance per stroke of drawing it backwards")
args = p.parse_args()

chars = load_kanjivg(str(stroke_source("kanjivg-hiragana")))
cmap = ClassMap(tuple(chars))
base = SynthConfig()
harder = replace(base, rotate=14, scale=0.2, aspect=0.2, shear=16, stroke_shift=0.07, stroke_rotate=10,
                 stroke_scale=0.16, elastic=0.06, speed=0.7, join=0.25, swap=0.06)
t0 = time.perf_counter()
train_cfg = replace(base, reorder=args.reorder, reverse=args.reverse)
train_img = Dataset(*synth_images(chars, args.per_char, seed=0, cfg=train_cfg), cmap, {"name": "synth-0"})
train_seq = SequenceDataset(*synth_sequences(chars, args.per_char, seed=0, length=args.length, cfg=train_cfg), cmap,
                            {"name": "synth-0"})
tests = {kind: [(drawing(s, seed, i, j, cfg)[0], i) for i, s, _ in drawn(chars, 1) for j in range(args.test_per_char)]
         for kind, seed, cfg in (("synthetic", 1, base), ("harder", 2, harder))}
rng = np.random.default_rng(3)
tests["reordered"] = [([s if rng.random() < 0.5 else s[::-1] for s in (d[k] for k in rng.permutation(len(d)))], i)
                      for d, i in tests["synthetic"]]
print(f"{len(train_img):,} training drawings, {sum(map(len, tests.values())):,} test drawings of "
      f"{len(chars)} characters generated in {time.perf_counter() - t0:.1f} s")

rows = []
threads = args.threads or torch.get_num_threads()
for arch in args.archs.split(","):
    seq = arch.startswith("stroke-")
    torch.set_num_threads(threads)
    cfg = TrainConfig(arch=arch, epochs=args.epochs, val_split=0.0, lr=default_lr(arch))
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        result = train(cfg, train_seq if seq else train_img, out, progress=False)
        seconds = time.perf_counter() - t0
        rec = load_model(out)
    torch.set_num_threads(1)
    row = {"model": arch, "input": "sequence" if seq else "image", "params": sum(p.numel() for p in rec.net.parameters()),
           "train_s": seconds, "samples_per_s": result["samples_per_s"]}
    for kind, drawings in tests.items():
        tops = [[g["index"] for g in rec.predict_strokes(s, k=5)] for s, _ in drawings]
        truth = [i for _, i in drawings]
        row[f"{kind}_top1"] = float(np.mean([t[0] == i for t, i in zip(tops, truth)]))
        row[f"{kind}_top5"] = float(np.mean([i in t for t, i in zip(tops, truth)]))
    times = []
    for n in range(300):
        s = tests["synthetic"][n % len(tests["synthetic"])][0]
        t = time.perf_counter()
        rec.predict_strokes(s)
        times.append((time.perf_counter() - t) * 1000)
    row["p50_ms"] = float(np.percentile(times[20:], 50))
    rows.append(row)
    print(row, flush=True)
print(f"\n{args.epochs} epochs on {len(train_img):,} drawings (reorder {args.reorder}, reverse {args.reverse}), "
      f"batch 256, {threads} training threads, "
      f"torch {torch.__version__}\n")
print(table(rows))
tag = f"-reorder{args.reorder}-reverse{args.reverse}" if args.reorder or args.reverse else ""
save_results(f"stroke_models{tag}", rows, epochs=args.epochs, training_drawings=len(train_img), threads=threads)
