"""Where a training step of the fast MNIST recipe spends its time: PyTorch's profiler over fude's
own ``train_step`` (forward, cross-entropy, backward, Nesterov SGD) on real MNIST batches of 256,
the operators' self CPU time summed into kinds (convolution, batch norm, max-pool, ReLU, the linear
head, zero fills, copies and casts, optimizer, the rest), per network. ``fast`` = the recipe's network:
a 2-pixel border cropped, stage widths 16, 16, 48, no batch norm after the first conv; ``fast-28`` =
widths 16, 16, 64 reading all 28 x 28 pixels (the recipe before ``crop``); ``fast-bn`` = that with
the first batch norm (the recipe before ``first_bn``); ``fast-wide`` = that with widths
16, 32, 64 (the recipe before the narrow middle stage). All with ``space_to_depth``, fp32 or bf16 as
``fude train`` would choose on this machine, channels-last as training runs.

    FUDE_DATA_DIR=../shared/data .venv/bin/python bench/speed/step_profile.py [--steps 40]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import FAST_28_NETWORK, FAST_NETWORK, save_results, table  # noqa: E402

import fude  # noqa: E402
from fude.models import create_model  # noqa: E402
from fude.runtime import resolve_precision  # noqa: E402
from fude.train import TrainConfig  # noqa: E402
from fude.train.data import model_batch, pixel_mean_std  # noqa: E402
from fude.train.loop import train_step  # noqa: E402
from fude.train.optim import make_optimizer  # noqa: E402

NETWORKS = {"fast": FAST_NETWORK, "fast-28": FAST_28_NETWORK, "fast-bn": {**FAST_28_NETWORK, "first_bn": True},
            "fast-wide": {**FAST_28_NETWORK, "first_bn": True, "widths": [16, 32, 64]}}  # name: fude-cnn config
# operator name fragments -> kind (first match wins; self time, so nested calls are not counted twice)
KINDS = (("convolution", ("conv",)), ("batch norm", ("batch_norm",)), ("max-pool", ("max_pool",)),
         ("ReLU", ("relu", "threshold_backward", "clamp_min")), ("linear", ("aten::mm", "addmm")),
         ("zero fills", ("fill_", "zero_")), ("copies and casts", ("copy_", "_to_copy", "clone", "contiguous")),
         ("optimizer", ("_foreach", "add_", "mul_", "lerp")))


def kind(name: str) -> str:
    return next((k for k, frags in KINDS if any(f in name for f in frags)), "other")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=40, help="profiled steps (after 10 unprofiled ones)")
    args = p.parse_args()
    data = fude.load_dataset("mnist", "train")
    x_all = torch.from_numpy(data.images[:, None])
    y_all = torch.from_numpy(data.labels)
    mean, std = pixel_mean_std(data.images)
    device = torch.device("cpu")
    precision = resolve_precision("auto", device)
    rows = []
    for name, config in NETWORKS.items():
        torch.manual_seed(0)
        cfg = TrainConfig(lr=0.3, model_config=config)
        model = create_model("fude-cnn", num_classes=10, mean=mean, std=std, **config)
        model = model.to(memory_format=torch.channels_last).train()
        opt = make_optimizer(model, cfg)

        def step(i: int) -> None:
            idx = torch.arange(i * 256, (i + 1) * 256) % len(y_all)
            train_step(model, opt, model_batch(x_all[idx]), y_all[idx], 0.1, device, precision, None, 0.1)

        for i in range(10):
            step(i)
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            for i in range(args.steps):
                step(10 + i)
        totals: dict[str, float] = {}
        for e in prof.key_averages():
            totals[kind(e.key)] = totals.get(kind(e.key), 0.0) + e.self_cpu_time_total
        whole = sum(totals.values())
        row = {"network": name, "widths": "-".join(map(str, config["widths"])), "crop": config.get("crop", 0),
               "first_bn": config["first_bn"], "precision": precision,
               "ms_per_step": whole / args.steps / 1000}
        row.update({k: f"{totals.get(k, 0.0) / whole:.0%}" for k, _ in KINDS})
        row["other"] = f"{totals.get('other', 0.0) / whole:.0%}"
        rows.append(row)
    print(table(rows))
    save_results("step_profile", rows, steps=args.steps, batch=256, threads=torch.get_num_threads())


if __name__ == "__main__":
    main()
