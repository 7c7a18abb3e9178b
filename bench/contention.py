"""Training speed beside a busy neighbour: the fast MNIST recipe (`fude train`, real CLI) alone and
with a CPU hog (a Python busy loop in its own process) on the same cores, alternating, with fude's
own thread choice and with the thread count fixed.

    .venv/bin/python bench/contention.py [--rounds 3] [--hogs 1]

Reported: samples/s of the training epoch (from the run's metrics.jsonl) and wall time; each row a
mean over --rounds runs (alternated with the other settings, since these machines drift).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import save_results  # noqa: E402

FAST = ["--dataset", "mnist", "--epochs", "1", "--lr", "0.3", "--warmup", "0.5", "--no-augment", "--val-split", "0",
        "--model-config", '{"space_to_depth": true}', "--quiet"]


def hog() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def run(extra: list[str]) -> tuple[float, float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "fude", "train", *FAST, *extra, "--out", tmp], check=True,
                       stdout=subprocess.DEVNULL, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        wall = time.perf_counter() - t0
        row = json.loads((Path(tmp) / "metrics.jsonl").read_text().splitlines()[-1])
        threads = json.loads((Path(tmp) / "config.json").read_text())["threads"]
    return row["samples_per_s"], wall, threads


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--hogs", type=int, default=1, help="busy processes beside the training")
    args = p.parse_args()
    cores = len(os.sched_getaffinity(0))
    settings = [("idle", 0, []), ("idle", 0, ["--threads", str(cores)]),
                (f"{args.hogs} hog", args.hogs, []), (f"{args.hogs} hog", args.hogs, ["--threads", str(cores)]),
                (f"{args.hogs} hog", args.hogs, ["--threads", "1"])]
    results = {i: [] for i in range(len(settings))}
    for r in range(args.rounds):
        for i, (name, hogs, extra) in enumerate(settings):
            procs = [hog() for _ in range(hogs)]
            time.sleep(0.5 if hogs else 0)  # the neighbour is already busy when training starts
            try:
                results[i].append(run(extra))
            finally:
                for proc in procs:
                    proc.kill()
                    proc.wait()
            print(name, extra, results[i][-1], flush=True)
    rows = []
    for i, (name, hogs, extra) in enumerate(settings):
        sps, wall, threads = zip(*results[i])
        rows.append({"neighbour": name, "threads": " ".join(extra) or f"fude's choice ({'/'.join(map(str, threads))})",
                     "samples_per_s": float(np.mean(sps)), "min": float(min(sps)), "max": float(max(sps)),
                     "wall_s": float(np.mean(wall))})
    for row in rows:
        print(row)
    save_results(f"contention-hogs{args.hogs}", rows, rounds=args.rounds, cores=cores)


if __name__ == "__main__":
    main()
