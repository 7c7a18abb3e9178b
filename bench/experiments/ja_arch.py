"""Training throughput at the `ja` class count (6,600): the 32-pixel CNN against a sequence model long
enough for kanji, measured one after the other in one process (same batch, same threads).

Random inputs of the right shapes: this measures the cost of a training step (forward, backward,
SGD update), not accuracy.

    .venv/bin/python bench/experiments/ja_arch.py [--threads 2] [--steps 8]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import save_results, table  # noqa: E402

from fude.models import create_model  # noqa: E402

CANDIDATES = [("fude-cnn-l", {"image_size": 32, "neck": 384}, (1, 32, 32)),
              ("fude-cnn-l", {"image_size": 48, "neck": 384}, (1, 48, 48)),
              ("stroke-conv1d", {"hidden": 128, "length": 128}, (128, 7))]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=8, help="timed steps per model (after 3 warm-up steps)")
    p.add_argument("--batch-size", type=int, default=256)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for arch, config, shape in CANDIDATES:
        torch.manual_seed(0)
        model = create_model(arch, num_classes=6600, **config)
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        x, y = torch.rand(args.batch_size, *shape), torch.randint(0, 6600, (args.batch_size,))
        for i in range(3 + args.steps):
            if i == 3:
                t0 = time.perf_counter()
            loss = torch.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        seconds = time.perf_counter() - t0
        rows.append({"arch": arch, "config": ", ".join(f"{k}={v}" for k, v in config.items()),
                     "params_m": sum(q.numel() for q in model.parameters()) / 1e6,
                     "samples_per_s": args.batch_size * args.steps / seconds})
        print(rows[-1], flush=True)
    print(table(rows))
    save_results("ja_arch", rows, threads=args.threads, batch_size=args.batch_size, classes=6600)


if __name__ == "__main__":
    main()
