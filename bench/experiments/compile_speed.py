"""Does `torch.compile` pay on this machine? Training and inference throughput of fude's models,
eager against compiled (TorchInductor), with the time the compilation itself takes.

Training: fude's own step (``fude.train.train_step``: batch augmentation, channels-last, autocast at
--precision, SGD Nesterov) on MNIST training images, batch 256; throughput over --steps steps after the warm-up steps that
compile. Inference: the 10,000 MNIST test images in batches of 512, twice after a warm-up pass.

    FUDE_DATA_DIR=../shared/data .venv/bin/python bench/experiments/compile_speed.py [--archs fude-cnn,fude-cnn-l]
"""

import argparse
import sys
import time
from pathlib import Path

import torch

import fude
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import save_results, table  # noqa: E402
from fude.datasets.augment import AugmentConfig
from fude.models import create_model
from fude.runtime import autocast, resolve_precision
from fude.train import TrainConfig, make_optimizer, model_batch, pixel_mean_std, train_step

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("--archs", default="fude-cnn,fude-cnn-l")
p.add_argument("--steps", type=int, default=60, help="timed training steps")
p.add_argument("--warmup", type=int, default=5, help="untimed training steps first (they compile)")
p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
args = p.parse_args()
device = torch.device("cpu")
precision = resolve_precision(args.precision, device)
train = fude.load_dataset("mnist", split="train")
test = fude.load_dataset("mnist", split="test")
x_train = torch.from_numpy(train.images[:, None])
y_train = torch.from_numpy(train.labels)
x_test = torch.from_numpy(test.images[:, None])
MEAN, STD = pixel_mean_std(x_train)  # the normalisation fude train would give the network


def train_run(arch: str, compiled: bool) -> dict:
    torch.manual_seed(0)
    model = create_model(arch, mean=MEAN, std=STD).to(memory_format=torch.channels_last).train()
    net = torch.compile(model) if compiled else model
    cfg = TrainConfig()
    opt = make_optimizer(model, cfg)
    aug, gen = AugmentConfig(), torch.Generator().manual_seed(0)

    def step(i: int) -> None:
        idx = torch.randint(len(x_train), (256,), generator=gen)
        train_step(net, opt, model_batch(x_train[idx], aug, gen), y_train[idx], cfg.lr, device, precision,
                   label_smoothing=cfg.label_smoothing)

    t0 = time.perf_counter()
    for i in range(args.warmup):
        step(i)
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    for i in range(args.steps):
        step(i)
    return {"warmup_s": warm, "train_img_s": 256 * args.steps / (time.perf_counter() - t0)}


@torch.inference_mode()
def infer_run(arch: str, compiled: bool) -> dict:
    torch.manual_seed(0)
    model = create_model(arch, mean=MEAN, std=STD).to(memory_format=torch.channels_last).eval()
    net = torch.compile(model) if compiled else model

    def one_pass() -> None:
        for i in range(0, len(x_test), 512):
            with autocast(device, precision):
                net(model_batch(x_test[i: i + 512]))

    t0 = time.perf_counter()
    one_pass()
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    one_pass()
    one_pass()
    return {"infer_warmup_s": warm, "infer_img_s": 2 * len(x_test) / (time.perf_counter() - t0)}


rows = []
for arch in args.archs.split(","):
    for compiled in (False, True):
        torch._dynamo.reset()
        row = {"model": arch, "mode": "compile" if compiled else "eager", **train_run(arch, compiled),
               **infer_run(arch, compiled)}
        rows.append(row)
        print(row, flush=True)
print(f"\n{precision}, {torch.get_num_threads()} threads, torch {torch.__version__}\n")
print(table(rows))
save_results(f"compile_speed-{precision}", rows, precision=precision)
