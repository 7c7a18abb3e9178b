"""Kill training at random moments, again and again, resume each time, and compare the end with a run
never stopped: how many runs end bit-identical.

Each round trains the shipped KMNIST sample (fude-cnn, 6 epochs, batch 64, one thread) with a seed
of its own: once whole, then cut by ``--kills`` signals (SIGKILL or SIGTERM, at a random moment of a
random epoch, the first one sometimes before any epoch ends), each followed by ``fude train
--resume --threads 1``, until the run finishes; the moments are drawn over the uninterrupted run's
wall time, so the signals land whatever the machine's speed. A round counts as bit-identical when every weight of the final
model equals the uninterrupted run's.

    .venv/bin/python bench/robustness/kill_resume.py [--rounds 8] [--kills 4]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import save_results  # noqa: E402

ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}
TINY = ["--dataset", "kmnist-sample", "--epochs", "6", "--batch-size", "64", "--threads", "1", "--quiet"]


def fude(*args) -> list[str]:
    return [sys.executable, "-m", "fude", *map(str, args)]


def weights(run: Path) -> dict:
    from safetensors.numpy import load_file

    return load_file(run / "model.safetensors")


def main() -> None:
    from fude.train.run import epochs_done

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--kills", type=int, default=4, help="signals per round")
    args = p.parse_args()
    rng = np.random.default_rng(0)
    rows = []
    for r in range(args.rounds):
        with tempfile.TemporaryDirectory() as tmp:
            seed = ["--seed", str(100 + r)]
            t0 = time.perf_counter()
            subprocess.run(fude("train", *TINY, *seed, "--out", Path(tmp) / "whole"), check=True, capture_output=True,
                           env=ENV)
            whole_s = time.perf_counter() - t0  # the uninterrupted run, start-up included: kills land within it
            run, command, kills, resumes = Path(tmp) / "cut", fude("train", *TINY, *seed, "--out", Path(tmp) / "cut"), 0, 0
            while True:
                proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV)
                if kills < args.kills:
                    time.sleep(rng.uniform(0.1, whole_s))  # anywhere from start-up to the last epoch
                    if proc.poll() is None:
                        proc.send_signal(signal.SIGKILL if rng.random() < 0.5 else signal.SIGTERM)
                        kills += 1
                _, err = proc.communicate(timeout=300)
                if proc.returncode == 0:
                    break
                # 130: SIGTERM as fude handles it; -15: SIGTERM before fude set its handler; -9: SIGKILL
                assert proc.returncode in (130, -signal.SIGTERM, -signal.SIGKILL), (proc.returncode, err)
                # stopped before run.json was written: nothing to resume, so the user starts it again
                command = fude("train", "--resume", run, "--threads", "1", "--quiet") if (run / "run.json").exists() \
                    else fude("train", *TINY, *seed, "--out", run)
                resumes += 1
            a, b = weights(Path(tmp) / "whole"), weights(run)
            same = a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
            rows.append({"round": r, "kills": kills, "resumes": resumes, "epochs_in_checkpoint": epochs_done(run),
                         "bit_identical": same})
            print(rows[-1], flush=True)
    kills = sum(row["kills"] for row in rows)
    same = sum(row["bit_identical"] for row in rows)
    print(f"{kills} kills over {len(rows)} rounds; {same} of {len(rows)} rounds ended bit-identical")
    save_results("kill_resume", rows, kills=kills, rounds=len(rows), bit_identical_rounds=same)


if __name__ == "__main__":
    main()
