"""One process against `torchrun --nproc-per-node 2`: the same recipe on MNIST must reach the same
test accuracy within seed noise. Each configuration runs the real CLI for several seeds.

    FUDE_DATA_DIR=../shared/data .venv/bin/python bench/speed/ddp.py [--epochs 2] [--seeds 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import save_results, table  # noqa: E402


def run(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--seeds", type=int, default=3)
    args = p.parse_args()
    py = sys.executable
    rows = []
    for name, launcher in (("1 process, 2 threads", [py, "-m", "fude"]),
                           ("torchrun, 2 processes x 1 thread", [py, "-m", "torch.distributed.run", "--standalone",
                                                                  "--nproc-per-node", "2", "-m", "fude"])):
        accs, walls = [], []
        for seed in range(args.seeds):
            with tempfile.TemporaryDirectory() as tmp:
                walls.append(run([*launcher, "train", "--dataset", "mnist", "--epochs", str(args.epochs), "--val-split",
                                  "0", "--seed", str(seed), "--quiet", "--out", tmp]))
                out = subprocess.run([py, "-m", "fude", "evaluate", "--model", tmp, "--dataset", "mnist", "--json",
                                      "--out", tmp + "/eval"], check=True, capture_output=True, text=True).stdout
                accs.append(json.loads(out)["accuracy"])
            print(f"{name} seed {seed}: accuracy {accs[-1]:.4f}, {walls[-1]:.1f} s wall", flush=True)
        rows.append({"training": name, "test_accuracy": f"{np.mean(accs):.4f} ± {np.std(accs):.4f}",
                     "per_seed": " ".join(f"{a:.4f}" for a in accs), "wall_s": float(np.mean(walls))})
    print(table(rows))
    save_results("ddp", rows, epochs=args.epochs, seeds=args.seeds)


if __name__ == "__main__":
    main()
