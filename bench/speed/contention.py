"""Training speed beside a busy neighbour: the fast MNIST recipe (`fude train`, real CLI) alone and
with a CPU hog (a Python busy loop in its own process) on the same cores, alternating, with fude's
own thread choice and with the thread count fixed.

    .venv/bin/python bench/speed/contention.py [--rounds 3] [--hogs 1]

Settings: the neighbour busy before training starts, arriving --at seconds into the run, or leaving
then. Reported: samples/s of the training epoch (from the run's metrics.jsonl), wall time, and the
thread counts fude used (at start-up, then each re-sizing it logged); each row a mean over --rounds
runs (alternated with the other settings, since these machines drift).
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import FAST_RECIPE, save_results  # noqa: E402

FAST = ["--dataset", "mnist", *FAST_RECIPE, "--quiet"]


def hog() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def run(extra: list[str], hogs: int, arrive: float | None, leave: float | None) -> tuple[float, float, str]:
    """One training run; ``hogs`` busy processes from ``arrive`` seconds after its start (None: from
    before it starts) until ``leave`` seconds after (None: until it ends). Returns (samples/s of the
    epoch, wall seconds, the thread counts it used: at start-up, then as the run re-sized its pool)."""
    procs = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            if arrive is None:
                procs = [hog() for _ in range(hogs)]
                time.sleep(0.5)  # the neighbour is already busy when training starts
            t0 = time.perf_counter()
            train = subprocess.Popen([sys.executable, "-m", "fude", "train", *FAST, *extra, "--out", tmp],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})
            events = sorted([(arrive, "arrive")] * (arrive is not None) + [(leave, "leave")] * (leave is not None))
            for at, what in events:
                while train.poll() is None and time.perf_counter() - t0 < at:
                    time.sleep(0.05)
                if what == "arrive":
                    procs = [hog() for _ in range(hogs)]
                else:
                    for proc in procs:
                        proc.kill()
            log = train.communicate()[0]
            wall = time.perf_counter() - t0
            if train.returncode:
                raise RuntimeError(f"fude train failed:\n{log}")
        finally:
            for proc in procs:
                proc.kill()
                proc.wait()
        row = json.loads((Path(tmp) / "metrics.jsonl").read_text().splitlines()[-1])
        threads = [str(json.loads((Path(tmp) / "config.json").read_text())["threads"])]
        threads += [line.split(" thread")[0].split()[-1] for line in log.splitlines() if "thread(s) now" in line]
    return row["samples_per_s"], wall, ">".join(threads)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--hogs", type=int, default=1, help="busy processes beside the training")
    p.add_argument("--at", type=float, default=2.5, help="seconds into the run when the neighbour arrives or "
                   "leaves, in the settings where it comes or goes mid-run (default: 2.5, within the epoch)")
    args = p.parse_args()
    cores = len(os.sched_getaffinity(0))
    h, all_, one = f"{args.hogs} hog", ["--threads", str(cores)], ["--threads", "1"]
    # (neighbour, hogs, arrive, leave, extra options)
    settings = [("idle", 0, None, None, []), ("idle", 0, None, None, all_),
                (h, args.hogs, None, None, []), (h, args.hogs, None, None, all_), (h, args.hogs, None, None, one),
                (f"{h} arrives at {args.at:g} s", args.hogs, args.at, None, []),
                (f"{h} arrives at {args.at:g} s", args.hogs, args.at, None, all_),
                (f"{h} leaves at {args.at:g} s", args.hogs, None, args.at, []),
                (f"{h} leaves at {args.at:g} s", args.hogs, None, args.at, one)]
    results = {i: [] for i in range(len(settings))}
    for r in range(args.rounds):
        for i, (name, hogs, arrive, leave, extra) in enumerate(settings):
            results[i].append(run(extra, hogs, arrive, leave))
            print(name, extra, results[i][-1], flush=True)
    rows = []
    for i, (name, hogs, arrive, leave, extra) in enumerate(settings):
        sps, wall, threads = zip(*results[i])
        rows.append({"neighbour": name, "threads": " ".join(extra) or f"fude's choice ({', '.join(threads)})",
                     "samples_per_s": float(np.mean(sps)), "min": float(min(sps)), "max": float(max(sps)),
                     "wall_s": float(np.mean(wall))})
    for row in rows:
        print(row)
    save_results(f"contention-hogs{args.hogs}", rows, rounds=args.rounds, cores=cores, recipe=FAST)


if __name__ == "__main__":
    main()
