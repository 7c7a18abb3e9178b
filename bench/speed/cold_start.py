"""Cold start: the wall time of a whole `fude predict-strokes FILE` process (default model `ja` with its
companion) from exec to exit, and its peak RSS, reading in onnxruntime (the default: the shipped
ONNX files, PyTorch never imported) against `--backend torch`, the two alternated so that drift on
the machine hits both alike; and the seconds from starting `fude serve` (its default models) to
its first `/health` answer.

    FUDE_DATA_DIR=../shared/data .venv/bin/python bench/speed/cold_start.py [--runs 7] [--file examples/strokes-あ.json]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import run_child, save_results, table

REPO = Path(__file__).resolve().parents[2]


def serve_ready(port: int) -> float:
    """Seconds from starting ``fude serve`` (default models) to its first ``/health`` answer."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "fude", "serve", "--port", str(port), "--db",
                             "/tmp/fude-bench-cold.sqlite"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
                return time.perf_counter() - t0
            except OSError:
                if proc.poll() is not None or time.perf_counter() - t0 > 60:
                    raise SystemExit("fude serve did not start")
                time.sleep(0.01)
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--file", default="examples/strokes-あ.json")
    p.add_argument("--port", type=int, default=8766)
    args = p.parse_args()
    fude = [sys.executable, "-m", "fude", "predict-strokes", str(REPO / args.file)]
    backends = {"onnxruntime (default)": [], "torch": ["--backend", "torch"]}
    times: dict[str, list] = {b: [] for b in backends}
    rss: dict[str, list] = {b: [] for b in backends}
    for _ in range(args.runs):  # alternated
        for name, extra in backends.items():
            out, wall, peak = run_child([*fude, *extra])
            times[name].append(wall)
            rss[name].append(peak)
    rows = [{"command": "fude predict-strokes " + args.file + (" " + " ".join(extra) if extra else ""),
             "median_s": float(np.median(times[name])), "min_s": min(times[name]), "max_s": max(times[name]),
             "peak_rss_mib": float(np.median(rss[name]))} for name, extra in backends.items()]
    ready = [serve_ready(args.port) for _ in range(3)]
    rows.append({"command": "fude serve (default models) until /health answers", "median_s": float(np.median(ready)),
                 "min_s": min(ready), "max_s": max(ready), "peak_rss_mib": None})
    print(out.strip())
    print(table(rows))
    save_results("cold_start", rows, runs=args.runs, file=args.file)


if __name__ == "__main__":
    main()
