"""What a writer's memory costs (fude.recognizer.writer): one drawing read by `ja` (onnxruntime, one
thread) without a memory and with memories of 1,000 and 10,000 drawings, and learning a drawing
(just read, as the page learns a pick; and one never read, which runs the networks). Memories are
the features of real drawings (Tomoe's, read by the same networks), alternated rounds; p50 in ms.

    FUDE_DATA_DIR=../shared/data .venv/bin/python bench/speed/writer_speed.py [--rounds 200]
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
from fude.strokes import check_strokes, load_tomoe


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=200)
    args = ap.parse_args()
    rec = fude.load_model("ja", backend="onnxruntime", threads=1)
    index = {c: i for i, c in enumerate(rec.class_map.chars)}
    tomoe = [c for c in load_tomoe() if c.label in index]
    drawings = [check_strokes(c.strokes) for c in tomoe[: args.rounds]]
    feats = np.concatenate([rec.read_many(drawings[i: i + 256], features=True)[1] for i in range(0, len(drawings), 256)])
    labels = np.array([index[c.label] for c in tomoe[: args.rounds]])
    hands = {"none": rec.writer()}
    for n in (1000, 10000):
        hand = rec.writer()
        reps = -(-n // len(feats))
        noise = np.random.default_rng(n).normal(0, 0.02, (reps * len(feats), feats.shape[1])).astype(np.float32)
        f = np.tile(feats, (reps, 1)) + noise
        hand.add((f / np.linalg.norm(f, axis=1, keepdims=True))[:n], np.tile(labels, reps)[:n])
        hands[str(n)] = hand
    times: dict[str, list[float]] = {}
    for d in drawings:
        for name, hand in hands.items():
            t0 = time.perf_counter()
            (rec if name == "none" else hand).predict_strokes(d, k=5)
            times.setdefault(f"read, memory of {name}", []).append(1000 * (time.perf_counter() - t0))
        hand = hands["10000"]
        t0 = time.perf_counter()
        hand.learn(d, rec.class_map.chars[0])  # just read: its features are kept
        times.setdefault("learn a drawing just read (memory of 10000)", []).append(1000 * (time.perf_counter() - t0))
        hand._recent.clear()
        t0 = time.perf_counter()
        hand.learn(d, rec.class_map.chars[0])
        times.setdefault("learn a drawing never read (memory of 10000)", []).append(1000 * (time.perf_counter() - t0))
    rows = [{"what": k, "p50_ms": round(float(np.median(v)), 2), "p90_ms": round(float(np.percentile(v, 90)), 2)}
            for k, v in times.items()]
    print(table(rows))
    save_results("writer_speed", rows, rounds=len(drawings))


if __name__ == "__main__":
    main()
