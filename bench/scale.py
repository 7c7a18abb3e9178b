"""Does training cost the same per image at Kuzushiji-49's size as at MNIST's? One epoch of the fast
recipe's network (fude-cnn with space-to-depth, batch 256, no augmentation) on the 60,000 MNIST
training images tiled 1, 2 and 4 times (240,000 images: Kuzushiji-49 has 232,365), each in a fresh
process; samples/s of the epoch and the process's peak RSS against the bytes of the images.

    FUDE_DATA_DIR=../shared/data .venv/bin/python bench/scale.py [--tiles 1 2 4] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import save_results  # noqa: E402

CHILD = """
import json, resource, sys, tempfile
import numpy as np
import fude
from fude.train import TrainConfig, train
tiles, val = int(sys.argv[1]), float(sys.argv[2])
d = fude.load_dataset("mnist", "train")
data = fude.Dataset(np.tile(d.images, (tiles, 1, 1)), np.tile(d.labels, tiles), d.class_map, d.source)
del d
cfg = TrainConfig(epochs=1, lr=0.3, warmup=0.5, val_split=val, model_config={"space_to_depth": True},
                  augment={"rotate": 0, "scale": 0, "shift": 0, "shear": 0, "erase": 0, "erase_side": 0, "elastic": 0})
with tempfile.TemporaryDirectory() as tmp:
    result = train(cfg, data, tmp, progress=False)
print(json.dumps({"samples_per_s": result["samples_per_s"], "data_mib": data.images.nbytes / 2**20,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tiles", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--val-split", type=float, default=0.0)
    args = p.parse_args()
    runs = {t: [] for t in args.tiles}
    for _ in range(args.rounds):  # alternated: these machines drift
        for t in args.tiles:
            out = subprocess.run([sys.executable, "-c", CHILD, str(t), str(args.val_split)], check=True,
                                 capture_output=True, text=True).stdout
            runs[t].append(json.loads(out.splitlines()[-1]))
            print(t, runs[t][-1], flush=True)
    base = np.mean([r["samples_per_s"] for r in runs[args.tiles[0]]])
    rows = [{"images": 60_000 * t, "samples_per_s": float(np.mean([r["samples_per_s"] for r in runs[t]])),
             "min": min(r["samples_per_s"] for r in runs[t]), "max": max(r["samples_per_s"] for r in runs[t]),
             "vs_first": float(np.mean([r["samples_per_s"] for r in runs[t]]) / base),
             "data_MiB": runs[t][0]["data_mib"], "peak_rss_MiB": max(r["peak_rss_mib"] for r in runs[t]),
             "rss_over_data_MiB": max(r["peak_rss_mib"] for r in runs[t]) - runs[t][0]["data_mib"]} for t in args.tiles]
    for r in rows:
        print(r)
    save_results(f"scale-val{args.val_split:g}", rows, rounds=args.rounds)


if __name__ == "__main__":
    main()
