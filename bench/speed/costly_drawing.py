"""What the costliest legal drawing costs to read, against an ordinary one: a drawing of many long
strokes (50 strokes x 400 points: the server's 20,000-point limit) and one stroke of 2,000 points,
read by `ja` (onnxruntime, one thread) and turned into sequence features, beside SciPy's
splprep(s=0)/splev fitting the same strokes one at a time (what reading used before fude's NumPy
B-spline). Alternated rounds; p50 in ms.

    .venv/bin/python bench/speed/costly_drawing.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import save_results, table

import fude
from fude.strokes import check_strokes, sequence_features


def drawing(strokes: int, points: int, seed: int = 0) -> list[np.ndarray]:
    """``strokes`` wavy strokes of ``points`` points each, over a 100-unit square, hand-like jitter."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, points)
    return [np.column_stack([50 + 40 * np.cos(6 * t + s) + rng.normal(0, 0.5, points),
                             50 + 40 * np.sin(5 * t + s) + rng.normal(0, 0.5, points)]) for s in range(strokes)]


def scipy_splines(strokes: list[np.ndarray], n: int = 32) -> None:
    from scipy.interpolate import splev, splprep

    for s in strokes:
        u = np.concatenate([[0], np.cumsum(np.hypot(*np.diff(s, axis=0).T))])
        tck, _ = splprep(s.T, u=u / u[-1], s=0)
        splev(np.linspace(0, 1, n), tck)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    rec = fude.load_model("ja", backend="onnxruntime", threads=1)
    cases = {"ordinary (8 strokes x 30 points)": drawing(8, 30), "50 strokes x 400 points": drawing(50, 400),
             "1 stroke x 2,000 points": drawing(1, 2000)}
    cases = {k: check_strokes(v) for k, v in cases.items()}
    jobs = {"ja reading": lambda d: rec.predict_strokes(d, k=5), "sequence features": lambda d: sequence_features(d, 128),
            "SciPy splines, stroke by stroke": scipy_splines}
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.rounds):
        for case, d in cases.items():
            for job, fn in jobs.items():
                t0 = time.perf_counter()
                fn(d)
                times.setdefault((case, job), []).append(1000 * (time.perf_counter() - t0))
    rows = [{"drawing": case, "what": job, "p50_ms": round(float(np.median(v)), 2)} for (case, job), v in times.items()]
    print(table(rows))
    save_results("costly_drawing", rows, rounds=args.rounds)


if __name__ == "__main__":
    main()
