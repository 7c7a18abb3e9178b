"""Score stroke models on a folder of labelled drawings: top-1 and top-5 accuracy per model.

Made for real people's drawings, which fude cannot make itself: draw on the page (`fude serve`),
confirm each drawing ("Yes, save it" or a correction), then `fude samples export --out DIR` writes
them as `DIR/strokes/*.json`. Any stroke JSON files with a `label` work.

    .venv/bin/python bench/accuracy/real_drawings.py DIR/strokes [--models hiragana,hiragana-seq] [--misses]
"""

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

import fude
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import save_results, table  # noqa: E402
from fude.strokes import read_drawing

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("folder", help="folder of stroke JSON files with labels")
p.add_argument("--models", default="hiragana,hiragana-seq", help="comma-separated shipped models or run folders")
p.add_argument("--misses", action="store_true", help="list every drawing a model got wrong")
args = p.parse_args()
torch.set_num_threads(1)
files = sorted(Path(args.folder).glob("*.json"))
drawings = [(f, read_drawing(f)) for f in files]
labelled = [(f, d) for f, d in drawings if d.label]
if not labelled:
    raise SystemExit(f"no labelled stroke JSON files in {args.folder} ({len(files)} files)")
print(f"{len(labelled)} labelled drawings of {len({d.label for _, d in labelled})} characters in {args.folder}"
      + (f" ({len(files) - len(labelled)} without a label skipped)" if len(files) > len(labelled) else ""))
rows = []
for name in args.models.split(","):
    rec = fude.load_model(name)
    hits1, hits5 = [], []
    for f, d in labelled:
        top = [g["char"] for g in rec.predict_strokes(d.strokes, k=5, canvas=d.canvas)]
        hits1.append(top[0] == d.label)
        hits5.append(d.label in top)
        if args.misses and top[0] != d.label:
            print(f"{name}: {f.name}: {d.label} read as {' '.join(top)}")
    rows.append({"model": name, "drawings": len(labelled), "top1": float(np.mean(hits1)), "top5": float(np.mean(hits5))})
print(table(rows))
save_results(f"real_drawings-{Path(args.folder).name}", rows)
