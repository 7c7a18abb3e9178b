"""What precision="auto" should pick, measured: the shipped `ja` picture network's forward pass in
fp32 and in bf16 (autocast) on one CPU thread, for batches of 1 to 1,024 32-pixel images (a batch of
1 is one drawing, as the page and `fude predict-strokes` send), alternated, best of several rounds
(ms per call and per image), and what `auto` chooses for each (``Recognizer.precision_for``). On a
CPU without fast bf16 (no AMX or AVX512-BF16) `auto` is fp32 throughout and bf16 is emulated.

    .venv/bin/python bench/speed/auto_precision.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import save_results, table  # noqa: E402

import fude  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="ja")
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    torch.set_num_threads(1)
    recs = {prec: fude.load_model(args.model, precision=prec, backend="torch") for prec in ("fp32", "bf16")}
    auto = fude.load_model(args.model, backend="torch")
    size = auto.input_size
    rng = np.random.default_rng(0)
    rows = []
    for batch in (1, 2, 4, 8, 16, 64, 256, 1024):
        x = rng.integers(0, 256, (batch, size, size), dtype=np.uint8)
        calls = max(3, 256 // batch)
        best = {}
        for _ in range(args.rounds):
            for prec, rec in recs.items():  # alternated, so drift hits both
                rec.logits(x[:1])  # warm
                t = time.perf_counter()
                for _ in range(calls):
                    rec.logits(x)
                ms = (time.perf_counter() - t) / calls * 1000
                best[prec] = min(best.get(prec, ms), ms)
        faster = min(best, key=best.get)
        rows.append({"batch": batch, "fp32_ms": best["fp32"], "bf16_ms": best["bf16"],
                     "fp32_ms_per_image": best["fp32"] / batch, "bf16_ms_per_image": best["bf16"] / batch,
                     "faster": faster, "auto_picks": auto.precision_for(batch)})
        print(rows[-1], flush=True)
    print(table(rows))
    save_results("auto_precision", rows, model=args.model, threads=1, rounds=args.rounds)


if __name__ == "__main__":
    main()
