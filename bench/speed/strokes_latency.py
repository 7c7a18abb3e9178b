"""Latency of reading one character drawn as strokes (the shipped `hiragana` model, or --model, on
one CPU core): validation, rasterisation (or the point sequence), the forward passes (the
companion's too) and the reading settings, as `model.predict_strokes` does them; in onnxruntime (the
model's ONNX file, what the reading commands and the server run) or in PyTorch (--backend torch).

    FUDE_DATA_DIR=../shared/data .venv/bin/python bench/speed/strokes_latency.py [--n 500] [--model RUN_DIR] \
        [--backend auto|torch|onnxruntime]
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

import fude
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import save_results  # noqa: E402
from fude.recognizer import reading_backend
from fude.strokes import read_drawing

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("--n", type=int, default=500)
p.add_argument("--model", default="hiragana", help="shipped model or run folder")
p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
p.add_argument("--backend", default="auto", choices=["auto", "torch", "onnxruntime"],
               help="auto: as the reading commands (the ONNX file where the model has one)")
args = p.parse_args()
torch.set_num_threads(1)
backend = reading_backend(args.model, args.backend, args.precision)
rec = fude.load_model(args.model, precision=args.precision, backend=backend, threads=1)
drawings = [read_drawing(f) for f in sorted((Path(__file__).parents[2] / "examples").glob("strokes-*.json"))]
for d in drawings:  # warm-up
    rec.predict_strokes(d.strokes, canvas=d.canvas)
times = []
for i in range(args.n):
    d = drawings[i % len(drawings)]
    t0 = time.perf_counter()
    top = rec.predict_strokes(d.strokes, canvas=d.canvas)
    times.append((time.perf_counter() - t0) * 1000)
p50, p90, p99 = (float(np.percentile(times, q)) for q in (50, 90, 99))
print(f"predict_strokes on 1 thread, {args.n} calls: p50 {p50:.2f} ms, p90 {p90:.2f} ms, p99 {p99:.2f} ms; "
      f"last top-1 {top[0]['char']}")
save_results(f"strokes_latency-{Path(args.model).name}-{args.precision}"
             + ("" if backend == "torch" and args.backend == "auto" else f"-{backend}"), None, model=args.model,
             backend=backend, precision=rec.precision_for(1), calls=args.n, p50_ms=p50, p90_ms=p90, p99_ms=p99)
