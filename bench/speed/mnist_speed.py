"""From raw MNIST files to test accuracy with `fude train`, timed as a user would time it.

Runs the real CLI in a subprocess, `fude train ... --test-split test`: Python start-up, imports,
reading the gzipped IDX files, the md5 checks, training and scoring the finished model on the
official test set all count, in one command. Prints that wall time, the training seconds and
samples/s, achieved FLOP/s and its share of this machine's measured fp32 and bf16 matmul peaks.

    FUDE_DATA_DIR=../shared/data .venv/bin/python bench/speed/mnist_speed.py [--recipe fast|default]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import FAST_28_NETWORK, FAST_RECIPE, matmul_peak, run_child, save_results, table  # noqa: E402

ONE_PASS = ["--epochs", "1", "--batch-size", "256", "--warmup", "0.5", "--no-augment", "--val-split", "0"]
RECIPES = {
    # one pass, no augmentation, a 2-pixel border cropped, a space-to-depth first stage without batch
    # norm, narrow stages (16, 16, 48), light label smoothing, half the steps warming up: the quickest
    # route to 99%
    "fast": FAST_RECIPE,
    # all 28 x 28 pixels, widths 16, 16, 64, --lr 0.3, label smoothing 0.1: the fast recipe before crop (2026-11-30)
    "fast-28": [*ONE_PASS, "--lr", "0.3", "--model-config", json.dumps(FAST_28_NETWORK)],
    # that with a batch norm after the first conv: the fast recipe before first_bn (2026-11-30)
    "fast-bn": [*ONE_PASS, "--lr", "0.3", "--model-config", json.dumps({**FAST_28_NETWORK, "first_bn": True})],
    # the same with fude-cnn's standard widths (16, 32, 64): the fast recipe before the narrow middle stage
    "fast-wide": [*ONE_PASS, "--lr", "0.3", "--model-config", '{"space_to_depth": true}'],
    # the same pass with fude-cnn's standard first stage and schedule (the fast recipe until 2026-11-22)
    "fast-pool": ["--epochs", "1", "--batch-size", "256", "--lr", "0.2", "--no-augment", "--val-split", "0"],
    # the defaults of `fude train`: 8 epochs with augmentation
    "default": ["--val-split", "0"],
    # the same with the space-to-depth first stage: the quickest route here to 99.5%
    "default-s2d": ["--val-split", "0", "--model-config", '{"space_to_depth": true}'],
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recipe", choices=list(RECIPES), nargs="+", default=["fast"])
    p.add_argument("--seeds", type=int, default=1, help="repeat with seeds 0..N-1")
    args = p.parse_args()

    import fude

    test = fude.load_dataset("mnist", "test")
    rows = []
    for seed in range(args.seeds):  # the recipes alternated: this machine's speed drifts over minutes
        for recipe in args.recipe:
            with tempfile.TemporaryDirectory() as tmp:
                cmd = [sys.executable, "-m", "fude", "train", "--dataset", "mnist", "--quiet", "--json", "--seed",
                       str(seed), "--test-split", "test", "--out", tmp, *RECIPES[recipe]]
                stdout, wall, rss = run_child(cmd)
                acc = json.loads(stdout)["test"]["accuracy"]
                # the same figure from the saved model, outside the timed command
                rec = fude.load_model(tmp)
                again = float((rec.predict_proba(test.images).argmax(1) == test.labels).mean())
                if abs(again - acc) > 1e-9:
                    raise SystemExit(f"{recipe} seed {seed}: --test-split said {acc}, the saved model scores {again}")
                metrics = [json.loads(line) for line in (Path(tmp) / "metrics.jsonl").read_text().splitlines()]
                train_s = sum(m["seconds"] for m in metrics)
                samples = sum(m["samples_per_s"] * m["seconds"] for m in metrics)
                flops = sum(m["tflops"] * 1e12 * m["seconds"] for m in metrics) / train_s
            rows.append({"recipe": recipe, "seed": seed, "wall_s": wall, "train_s": train_s,
                         "samples_per_s": samples / train_s, "test_accuracy": acc, "GFLOP_per_s": flops / 1e9,
                         "peak_rss_MiB": rss, "_flops": flops})
    rows.sort(key=lambda r: args.recipe.index(r["recipe"]))
    from fude.runtime import cpu_has_fast_bf16

    fp32, bf16 = matmul_peak(torch.float32), matmul_peak(torch.bfloat16)
    for r in rows:
        f = r.pop("_flops")
        r["share_fp32_peak"] = f"{f / fp32:.0%}"
        if cpu_has_fast_bf16():  # elsewhere bf16 is emulated, its peak tiny and fude trains in fp32
            r["share_bf16_peak"] = f"{f / bf16:.0%}"
    print(f"matmul peak on {torch.get_num_threads()} threads: fp32 {fp32 / 1e9:.0f} GFLOP/s, "
          f"bf16 {bf16 / 1e9:.1f} GFLOP/s")
    print(table(rows))
    save_results(f"mnist_speed-{'+'.join(args.recipe)}", rows, seeds=args.seeds, fp32_peak_gflops=fp32 / 1e9,
                 bf16_peak_gflops=bf16 / 1e9, recipes={r: RECIPES[r] for r in args.recipe})


if __name__ == "__main__":
    main()
