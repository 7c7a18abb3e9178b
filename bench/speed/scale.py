"""Does training cost the same per image at Kuzushiji-49's size as at MNIST's? One epoch of the fast
recipe (`fude train --recipe fast`: batch 256, no augmentation) on the 60,000 MNIST training
images tiled 1, 2 and 4 times (240,000 images: Kuzushiji-49 has 232,365), each in a fresh process;
samples/s of the epoch, minor page faults, and the process's peak RSS against the bytes of the
images. ``--malloc both`` alternates fude's malloc thresholds with glibc's own.

    FUDE_DATA_DIR=../shared/data .venv/bin/python bench/speed/scale.py [--tiles 1 2 4] [--rounds 2] [--malloc both]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import save_results  # noqa: E402

CHILD = """
import json, resource, sys, tempfile
import numpy as np
import fude
from fude.train import TrainConfig, train
tiles, val, malloc = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
if malloc == "glibc":  # glibc's own thresholds: what fude does without fude.runtime.tune_malloc
    import fude.train.loop
    fude.train.loop.tune_malloc = lambda: False
d = fude.load_dataset("mnist", "train")
data = fude.Dataset(np.tile(d.images, (tiles, 1, 1)), np.tile(d.labels, tiles), d.class_map, d.source)
del d
cfg = TrainConfig.from_recipe("fast", val_split=val)
with tempfile.TemporaryDirectory() as tmp:
    result = train(cfg, data, tmp, progress=False)
print(json.dumps({"samples_per_s": result["samples_per_s"], "data_mib": data.images.nbytes / 2**20,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "minor_faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt}))
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tiles", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--val-split", type=float, default=0.0)
    p.add_argument("--malloc", choices=["fude", "glibc", "both"], default="fude", help="fude's malloc thresholds "
                   "(fude.runtime.tune_malloc), glibc's own, or both alternated")
    args = p.parse_args()
    mallocs = ["fude", "glibc"] if args.malloc == "both" else [args.malloc]
    runs = {(m, t): [] for m in mallocs for t in args.tiles}
    for _ in range(args.rounds):  # alternated: these machines drift
        for t in args.tiles:
            for m in mallocs:
                cmd = [sys.executable, "-c", CHILD, str(t), str(args.val_split), m]
                out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
                runs[m, t].append(json.loads(out.splitlines()[-1]))
                print(m, t, runs[m, t][-1], flush=True)
    rows = []
    for m in mallocs:
        base = np.mean([r["samples_per_s"] for r in runs[m, args.tiles[0]]])
        for t in args.tiles:
            rs = runs[m, t]
            sps = [r["samples_per_s"] for r in rs]
            rows.append({"malloc": m, "images": 60_000 * t, "samples_per_s": float(np.mean(sps)), "min": min(sps),
                         "max": max(sps), "vs_first": float(np.mean(sps) / base),
                         "minor_faults": int(np.mean([r["minor_faults"] for r in rs])),
                         "data_MiB": rs[0]["data_mib"], "peak_rss_MiB": max(r["peak_rss_mib"] for r in rs),
                         "rss_over_data_MiB": max(r["peak_rss_mib"] for r in rs) - rs[0]["data_mib"]})
    for r in rows:
        print(r)
    suffix = "" if args.malloc == "fude" else f"-{args.malloc}"
    save_results(f"scale-val{args.val_split:g}{suffix}", rows, rounds=args.rounds, recipe="fast")


if __name__ == "__main__":
    main()
