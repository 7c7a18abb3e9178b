"""Training: data held as tensors on the device, batch augmentation, label smoothing, a one-cycle
learning-rate schedule, bf16 autocast where the hardware runs it fast, and an atomic checkpoint
every epoch so ``--resume`` continues an interrupted run exactly.

The loop knows nothing of a particular model: it takes any :class:`~fude.models.CharClassifier`.

Run folder (``--out``)::

    run.json              the TrainConfig, command, fude version (written at the start)
    metrics.jsonl         one JSON object per epoch (losses, accuracies, lr, seconds, samples/s,
                          and the loss of every batch)
    checkpoint.safetensors, checkpoint.json   weights + optimizer state after the last epoch
    model.safetensors, config.json           the finished model (what ``fude.load_model`` reads)

Recipe sources: one-cycle schedule, Smith & Topin, arXiv:1708.07120; label smoothing, Szegedy et
al., arXiv:1512.00567; fast small-data CNN training in the spirit of Keller Jordan's airbench.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import fude
from fude import distributed
from fude.augment import AugmentConfig, augment
from fude.datasets import Dataset, SequenceDataset
from fude.models import MODELS, CharClassifier, atomic_write, create_model, load_model, load_weights, save_model
from fude.preprocess import ink_box
from fude.runtime import autocast, resolve_device, resolve_precision


MONITORS = {"val_accuracy": "max", "val_balanced_accuracy": "max", "val_loss": "min"}  # what early stopping watches


@dataclass
class TrainConfig:
    """Hyperparameters of one training run; saved as ``run.json`` in the run folder."""

    arch: str = "fude-cnn"  # model registry name
    model: dict = field(default_factory=dict)  # extra model config fields, e.g. {"widths": [32, 64, 128]}
    epochs: int = 8
    batch_size: int = 256  # images per optimizer step
    lr: float = 0.2  # peak learning rate of SGD (Nesterov), per batch of batch_size
    momentum: float = 0.9
    weight_decay: float = 5e-4  # on conv and linear weights only, not on norms or biases
    warmup: float = 0.15  # share of all steps spent rising linearly to the peak lr
    label_smoothing: float = 0.1
    augment: dict = field(default_factory=lambda: asdict(AugmentConfig()))
    val_split: float = 0.1  # share of the data held out (stratified) for validation; 0: none
    seed: int = 0
    device: str = "auto"  # auto, cpu, cuda, cuda:1, ...
    precision: str = "auto"  # auto, fp32, bf16
    early_stopping: int = 0  # patience: stop after this many epochs without a better `monitor`; 0: off
    monitor: str = "val_accuracy"  # val_accuracy, val_balanced_accuracy or val_loss
    class_weights: str = "none"  # none, or balanced: n / (classes * count) per class, as scikit-learn
    sampler: str = "shuffle"  # shuffle (each image once per epoch) or balanced (classes drawn equally often)
    init_from: str = ""  # fine-tuning: start from this shipped model or run folder, with a new head
    freeze: int = 0  # fine-tuning: keep the first `freeze` blocks of the network fixed
    ema: float = 0.0  # decay per step of an exponential moving average of the weights, the run's model; 0: off

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 2:
            raise ValueError(f"batch_size must be at least 2 (batch norm needs 2 images), got {self.batch_size}")
        if not 0 <= self.val_split < 1:
            raise ValueError(f"val_split must be in [0, 1), got {self.val_split}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if not 0 <= self.warmup < 1:
            raise ValueError(f"warmup must be in [0, 1), got {self.warmup}")
        if self.early_stopping < 0:
            raise ValueError(f"early_stopping (patience in epochs) must be 0 (off) or more, got {self.early_stopping}")
        if self.monitor not in MONITORS:
            raise ValueError(f"monitor must be one of {sorted(MONITORS)}, got {self.monitor!r}")
        if self.early_stopping and self.val_split == 0:
            raise ValueError("early stopping watches the validation set: give a val_split above 0 (e.g. 0.1)")
        if self.class_weights not in ("none", "balanced"):
            raise ValueError(f"class_weights must be 'none' or 'balanced', got {self.class_weights!r}")
        if self.sampler not in ("shuffle", "balanced"):
            raise ValueError(f"sampler must be 'shuffle' or 'balanced', got {self.sampler!r}")
        if self.freeze < 0 or (self.freeze and not self.init_from):
            raise ValueError(f"freeze must be 0, or a block count with init_from (fine-tuning); got {self.freeze}")
        if not 0 <= self.ema < 1:
            raise ValueError(f"ema (the moving average's decay per step) must be in [0, 1), 0 for off; got {self.ema}")
        unknown = set(self.augment) - {f.name for f in fields(AugmentConfig)}
        if unknown:
            raise ValueError(f"unknown augment field(s) {sorted(unknown)}")

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """Inverse of ``asdict``; raises ValueError naming any unknown field."""
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown training config field(s) {sorted(unknown)}")
        return cls(**d)


ARCH_LR = {"stroke-conv1d": 0.05}  # 0.2 made it diverge on 540 drawings in batches of 64 (0.05: 98% val)


def default_lr(arch: str) -> float:
    """The peak learning rate fude's recipe uses for ``arch``: 0.2, or what that network needs."""
    return ARCH_LR.get(arch, TrainConfig.lr)


def class_weights(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Balanced class weights ``n / (classes * count)`` (scikit-learn's ``compute_class_weight
    ("balanced")``, King & Zeng 2001) over the classes present in ``labels``; a class with no images
    gets weight 0. Returns ``(num_classes,)`` float32."""
    from sklearn.utils.class_weight import compute_class_weight

    present = np.unique(labels)
    w = np.zeros(num_classes, np.float32)
    w[present] = compute_class_weight("balanced", classes=present, y=labels)
    return w


def balanced_order(labels: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` indices into ``labels`` drawn with replacement so that every class present is drawn
    equally often on average (probability of an image ∝ 1 / its class count)."""
    counts = torch.bincount(labels)
    p = (1.0 / counts.double())[labels]
    return torch.multinomial(p, n, replacement=True, generator=generator)


def _best_epoch(history: list[dict], monitor: str) -> dict | None:
    """The history row with the best ``monitor`` value (the earliest of equals)."""
    rows = [r for r in history if monitor in r]
    if not rows:
        return None
    sign = 1 if MONITORS[monitor] == "max" else -1
    return max(rows, key=lambda r: (sign * r[monitor], -r["epoch"]))


def start_from(name_or_dir: str, num_classes: int, freeze: int = 0) -> CharClassifier:
    """Fine-tuning: a trained model's network with a new, freshly initialised head for
    ``num_classes`` classes and its first ``freeze`` blocks frozen (``requires_grad=False``).
    Transfer learning as in Yosinski et al., "How transferable are features in deep neural
    networks?", NeurIPS 2014.

    Raises:
        ModelError: no such model. ValueError: ``freeze`` above the network's block count.
    """
    net = load_model(name_or_dir).net
    if freeze > len(net.blocks):
        raise ValueError(f"cannot freeze {freeze} blocks: {name_or_dir} has {len(net.blocks)}")
    net.reset_classifier(num_classes)
    for block in net.blocks[:freeze]:
        for p in block.parameters():
            p.requires_grad = False
    return net.to(memory_format=torch.contiguous_format)


def pixel_mean_std(images: np.ndarray | torch.Tensor) -> tuple[float, float]:
    """Mean and standard deviation of the pixels of uint8 ``images`` (a numpy array or a tensor
    on any device, any shape) scaled to [0, 1], exact, from a 256-bin histogram
    (``torch.bincount``): 0.06 s for 60,000 MNIST images on 2 cores, against 0.15 s for numpy's
    ``bincount`` and 0.7 s for ``.mean()`` and ``.std()``, which make float64 copies of all 47
    million pixels."""
    counts = torch.bincount(torch.as_tensor(images).reshape(-1), minlength=256).cpu().double().numpy()
    values = np.arange(256) / 255
    n = counts.sum()
    mean = float(counts @ values / n)
    return mean, float(np.sqrt(max(0.0, counts @ (values - mean) ** 2 / n)))


def lr_at(step: int, total: int, peak: float, warmup: float) -> float:
    """One-cycle schedule: linear rise from 0.1*peak to peak over ``warmup`` of the steps, then
    linear decay to 0 at ``total``."""
    rise = max(1, round(warmup * total))
    if step < rise:
        return peak * (0.1 + 0.9 * step / rise)
    return peak * max(0.0, (total - step) / max(1, total - rise))


def stratified_split(labels: np.ndarray, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, validation) with ``share`` of each class in validation (scikit-learn)."""
    idx = np.arange(len(labels))
    if share == 0:  # no hold-out: and no scikit-learn import (a second of start-up)
        return idx, idx[:0]
    from sklearn.model_selection import train_test_split

    tr, va = train_test_split(idx, test_size=share, stratify=labels, random_state=seed)
    return np.sort(tr), np.sort(va)


class NesterovSGD:
    """SGD with Nesterov momentum (Sutskever et al., "On the importance of initialization and
    momentum in deep learning", ICML 2013) and weight decay per parameter group: the groups and
    momentum buffers laid out as in ``torch.optim.SGD`` (``param_groups``,
    ``state[param]["momentum_buffer"]``), stepped by PyTorch's functional ``torch.optim.sgd.sgd``,
    so each step is ``torch.optim.SGD(..., nesterov=True).step()`` bit for bit (a test checks).

    Not ``torch.optim.SGD`` itself: building any ``torch.optim`` optimizer, and its first step,
    imports ``torch._dynamo``, about 1.8 s of start-up on a 2-core CPU: a third of the 6 s budget
    for 99% on MNIST.
    """

    def __init__(self, groups: list[dict], lr: float, momentum: float) -> None:
        self.param_groups = [{"lr": lr, "momentum": momentum, "dampening": 0.0, "nesterov": True, "maximize": False,
                              "foreach": None, "fused": None, **g} for g in groups]
        self.state: dict[torch.Tensor, dict] = {p: {} for g in self.param_groups for p in g["params"]}

    def zero_grad(self) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        from torch.optim.sgd import sgd

        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            buffers = [self.state[p].get("momentum_buffer") for p in params]
            sgd(params, [p.grad for p in params], buffers, weight_decay=group["weight_decay"],
                momentum=group["momentum"], lr=group["lr"], dampening=group["dampening"],
                nesterov=group["nesterov"], maximize=group["maximize"], foreach=group["foreach"],
                fused=group["fused"])
            for p, buf in zip(params, buffers):
                self.state[p]["momentum_buffer"] = buf


def make_optimizer(model: CharClassifier, cfg: TrainConfig) -> NesterovSGD:
    """SGD with Nesterov momentum over the trained parameters; weight decay on the weights of
    convolutions and linear layers only (not on biases and batch-norm scales)."""
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    rest = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
    return NesterovSGD([{"params": decay, "weight_decay": cfg.weight_decay}, {"params": rest, "weight_decay": 0.0}],
                       lr=cfg.lr, momentum=cfg.momentum)


def save_checkpoint(folder: Path, model: CharClassifier, opt: NesterovSGD, epoch: int, step: int,
                    ema: torch.nn.Module | None = None) -> None:
    """Weights, momentum buffers (and the weights' moving average) as safetensors, then the epoch
    counter as JSON; both atomic. The JSON is written last, so it never points at a checkpoint that
    is not there yet."""
    from safetensors.torch import save

    state = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if ema is not None:
        state.update({f"ema.{k}": v.detach().cpu().contiguous() for k, v in ema.state_dict().items()})
    params = [p for group in opt.param_groups for p in group["params"]]
    for i, p in enumerate(params):
        buf = opt.state.get(p, {}).get("momentum_buffer")
        if buf is not None:
            state[f"optim.{i}.momentum_buffer"] = buf.detach().cpu().contiguous()
    atomic_write(folder / "checkpoint.safetensors", save(state))
    atomic_write(folder / "checkpoint.json", json.dumps({"epoch": epoch, "step": step}).encode())


def load_checkpoint(folder: Path, model: CharClassifier, opt: NesterovSGD,
                    ema: torch.nn.Module | None = None) -> tuple[int, int]:
    """Restore weights, optimizer state (and the weights' moving average); returns (epochs done, steps done).

    Raises:
        ValueError: the checkpoint files are unreadable or do not fit the run's model (both are
            written atomically, so this means they were damaged or replaced by hand).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        meta = json.loads((folder / "checkpoint.json").read_text())
        epoch, step = int(meta["epoch"]), int(meta["step"])
        state = load_file(folder / "checkpoint.safetensors")
        model.load_state_dict({k[6:]: v for k, v in state.items() if k.startswith("model.")}, strict=True)
        if ema is not None:
            ema.load_state_dict({k[4:]: v for k, v in state.items() if k.startswith("ema.")}, strict=True)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, SafetensorError) as e:
        raise ValueError(f"cannot resume from the checkpoint in {folder}: it is damaged or does not fit this run "
                         f"({str(e).splitlines()[0]}); start again with --overwrite") from e
    dev = next(model.parameters()).device
    params = [p for group in opt.param_groups for p in group["params"]]
    for i, p in enumerate(params):
        buf = state.get(f"optim.{i}.momentum_buffer")
        if buf is not None and buf.shape != p.shape:
            raise ValueError(f"cannot resume from the checkpoint in {folder}: momentum buffer {i} has shape "
                             f"{tuple(buf.shape)} but its parameter {tuple(p.shape)}; it is damaged or from "
                             f"another run: start again with --overwrite")
        if buf is not None:
            opt.state[p]["momentum_buffer"] = buf.to(dev)
    return epoch, step


def model_batch(x: torch.Tensor, aug_cfg: AugmentConfig | None = None, gen: torch.Generator | None = None
                ) -> torch.Tensor:
    """Stored inputs -> what the model reads. uint8 images ``(B, 1, 28, 28)`` become float32 in
    [0, 1], augmented (:func:`fude.augment.augment`) when ``aug_cfg`` is given, channels-last;
    float32 stroke sequences ``(B, T, 7)`` pass as they are (their variety comes from the
    synthetic drawings, :mod:`fude.synth`)."""
    if x.dtype != torch.uint8:
        return x
    x = x.float().div_(255)
    if aug_cfg is not None:
        x = augment(x, aug_cfg, gen)
    return x.contiguous(memory_format=torch.channels_last)


@torch.inference_mode()
def evaluate_tensors(model: CharClassifier, x: torch.Tensor, y: torch.Tensor, device: torch.device,
                     precision: str, batch_size: int = 2048) -> dict:
    """Mean cross-entropy (``loss``), ``accuracy`` and ``balanced_accuracy`` (mean recall over the
    classes present) of ``model`` on uint8 ``x`` ``(N, 1, 28, 28)`` (or float32 sequences ``(N, T, 7)``)
    and int64 labels ``y`` ``(N,)``."""
    model.eval()
    loss, preds = torch.zeros((), device=device), []
    for i in range(0, len(x), batch_size):
        xb = model_batch(x[i: i + batch_size])
        with autocast(device, precision):
            logits = model(xb).float()
        loss += F.cross_entropy(logits, y[i: i + batch_size], reduction="sum")
        preds.append(logits.argmax(1))
    if not len(x):
        return {"loss": 0.0, "accuracy": 0.0, "balanced_accuracy": 0.0}
    hit = (torch.cat(preds) == y).double()
    counts = torch.bincount(y).double()
    recall = torch.bincount(y, weights=hit)[counts > 0] / counts[counts > 0]
    return {"loss": loss.item() / len(x), "accuracy": hit.mean().item(), "balanced_accuracy": recall.mean().item()}


def flops_per_image(model: CharClassifier, device: torch.device) -> int:
    """Training FLOPs per image (forward + backward) of the model's matrix products.

    Convolutions and linear layers are counted from their shapes as ``torch.utils.flop_counter``
    counts them (a multiply-add is 2 FLOPs; a test checks the two agree): the forward pass
    2 x (output elements) x (inputs per output element), the same again for the weight gradient
    when the weight is trained, and again for the input gradient when the layer's input needs one
    (not the first layer's). Models with recurrent layers (``stroke-gru``, ``stroke-lstm``) are
    counted by ``FlopCounterMode`` itself; the CNNs skip it because its first use imports
    ``torch._dynamo``, about 1.8 s of a few-second training run on a 2-core CPU.
    """
    import copy

    probe = copy.deepcopy(model)  # a copy: the probe pass must not touch the real batch-norm statistics
    x = model.example_input(2).to(device)
    if any(isinstance(m, torch.nn.RNNBase) for m in probe.modules()):
        from torch.utils.flop_counter import FlopCounterMode

        with FlopCounterMode(display=False) as counter:
            probe(x).sum().backward()
        return counter.get_total_flops() // 2
    total = 0

    def count(layer: torch.nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        fan_in = (layer.in_features if isinstance(layer, torch.nn.Linear)
                  else layer.in_channels // layer.groups * math.prod(layer.kernel_size))
        forward = 2 * output.numel() * fan_in
        total += forward * (1 + layer.weight.requires_grad + inputs[0].requires_grad)

    hooks = [m.register_forward_hook(count) for m in probe.modules()
             if isinstance(m, (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d))]
    with torch.enable_grad():
        probe(x)
    for h in hooks:
        h.remove()
    return total // 2


def train(cfg: TrainConfig, data: Dataset | SequenceDataset, out: str | Path, resume: bool = False,
          progress: bool = True, extra_config: dict | None = None, log=print) -> dict:
    """Train a model on ``data`` and write the run folder ``out``.

    Args:
        cfg: hyperparameters.
        data: training data (a stratified ``cfg.val_split`` of it is held out for validation):
            images for the image models, stroke sequences for the ``stroke-*`` models.
        out: the run folder; with ``resume=True`` it must hold a checkpoint of this run.
        progress: show a progress bar (tqdm) with loss, accuracy and samples/s.
        extra_config: more fields for ``config.json`` (command, data source, ...).
        log: where one-line messages go.

    The run folder gets ``metrics.jsonl`` (one row per epoch), ``checkpoint.safetensors/.json``
    (the last epoch: what ``resume`` continues from), ``best/`` (the best epoch by ``cfg.monitor``, a
    model folder; only with a validation split) and, at the end, ``model.safetensors`` +
    ``config.json``: the last epoch's weights, or with ``cfg.early_stopping`` the best epoch's
    (early stopping as in Prechelt, "Early Stopping — But When?", 1998; the one-cycle schedule
    still spans ``cfg.epochs``, so stopping early also means stopping before the learning rate
    reaches 0).

    Returns:
        the final model's epoch metrics plus ``seconds`` (wall time of the epochs), ``samples_per_s``,
        ``best_epoch`` (with validation) and, with early stopping, ``stopped_early`` and ``last_epoch``.

    Raises:
        ValueError: labels missing, or a resume with nothing to resume.
    """
    from tqdm import tqdm

    if data.labels is None:
        raise ValueError("training needs labelled data; the dataset has no labels")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    device = resolve_device(cfg.device)
    world = distributed.init(device)  # one process unless started by torchrun
    device = distributed.local_device(device, world)
    if not world.main:  # rank 0 speaks and writes for all
        log, progress = (lambda *_: None), False
    precision = resolve_precision(cfg.precision, device)
    aug_cfg = AugmentConfig(**cfg.augment)

    train_idx, val_idx = stratified_split(data.labels, cfg.val_split, cfg.seed)
    images = isinstance(data, Dataset)
    # (N, 1, 28, 28) uint8 images or (N, T, 7) float32 sequences; stays on the device
    x_all = torch.from_numpy(data.images[:, None] if images else data.sequences).to(device)
    y_all = torch.from_numpy(data.labels).to(device)
    x_tr, y_tr = x_all[torch.from_numpy(train_idx).to(device)], y_all[torch.from_numpy(train_idx).to(device)]
    x_va, y_va = x_all[torch.from_numpy(val_idx).to(device)], y_all[torch.from_numpy(val_idx).to(device)]
    mean, std = pixel_mean_std(x_tr) if images else (0.0, 1.0)

    torch.manual_seed(cfg.seed)
    if cfg.init_from:
        model = start_from(cfg.init_from, len(data.class_map), cfg.freeze).to(device)
        mean, std = float(model.config.mean), float(model.config.std)  # the features were learnt on these
    else:
        shape = {} if images or MODELS.get(cfg.arch, (CharClassifier,))[0].input_kind == "image" else \
            {"length": x_all.shape[1]}  # a sequence model reads sequences as long as the data's
        model = create_model(cfg.arch, num_classes=len(data.class_map), mean=mean, std=std,
                             **{**cfg.model, **shape}).to(device)
    if model.input_kind != ("image" if images else "sequence"):
        raise ValueError(f"{cfg.arch} reads {model.input_kind}s but the data are "
                         + ("stroke sequences: use a stroke-* architecture (stroke-conv1d, stroke-gru, stroke-lstm)"
                            if not images else "images: give stroke sequences (--sequences), or an image "
                            "architecture (fude-cnn, fude-cnn-l, keras-cnn)"))
    model = model.to(memory_format=torch.channels_last)
    opt = make_optimizer(model, cfg)
    ema = None  # the moving average of the weights (Polyak & Juditsky 1992), batch-norm statistics included
    if cfg.ema:
        from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

        ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema), use_buffers=True)
    result_model = ema.module if ema is not None else model  # the one validated and saved
    n = len(x_tr)
    batch = min(cfg.batch_size, n)
    steps_per_epoch = n // batch  # drop the last partial batch: batch norm wants full batches
    if batch // world.size < 2:
        raise ValueError(f"batch {batch} split over {world.size} processes leaves fewer than 2 images per process; "
                         f"batch norm needs at least 2: use a batch of at least {2 * world.size}")
    net = model
    if world.active:  # gradients are averaged over the processes after every backward pass
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    total_steps = steps_per_epoch * cfg.epochs
    flops = flops_per_image(model, device)
    y_tr_cpu = torch.from_numpy(data.labels[train_idx])
    weight = (torch.from_numpy(class_weights(data.labels[train_idx], len(data.class_map))).to(device)
              if cfg.class_weights == "balanced" else None)

    start_epoch, step = 0, 0
    history: list[dict] = []
    if resume and not (out / "checkpoint.json").exists():  # stopped before the first epoch ended
        log(f"{out} has no finished epoch to resume from; starting it from the beginning")
    elif resume:
        start_epoch, step = load_checkpoint(out, model, opt, ema)
        history = [r for r in read_metrics(out) if r["epoch"] <= start_epoch]
        log(f"resuming {out} after epoch {start_epoch}/{cfg.epochs}")
    if world.main:
        atomic_write(out / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in history).encode())

    preprocess = {"box": ink_box(x_tr[:, 0])} if images else {"length": int(x_all.shape[1])}
    config_extra = {"data": data.source, **(extra_config or {}), "fude_version": fude.__version__, "train": asdict(cfg),
                    "preprocess": preprocess, "normalisation": {"mean": mean, "std": std},
                    "device": str(device), "precision": precision, "processes": world.size}
    log(f"training {cfg.arch} on {n:,} {'images' if images else 'sequences'} ({len(val_idx):,} held out), "
        f"{len(data.class_map)} classes, "
        f"{cfg.epochs} epoch{'s' if cfg.epochs != 1 else ''}, batch {batch}, {device} {precision}, "
        + (f"{world.size} processes ({batch // world.size} images each per step), " if world.active else "")
        + f"{flops / 1e6:.1f} MFLOP per training image"
        + (f", fine-tuning {cfg.init_from} with {cfg.freeze} block(s) frozen" if cfg.init_from else "")
        + (", balanced class weights" if weight is not None else "")
        + (", class-balanced sampler" if cfg.sampler == "balanced" else "")
        + (f", moving average of the weights (decay {cfg.ema})" if ema is not None else "")
        + (f", early stopping on {cfg.monitor} (patience {cfg.early_stopping})" if cfg.early_stopping else ""))

    def patience_spent() -> bool:
        best = _best_epoch(history, cfg.monitor)
        return bool(cfg.early_stopping and best and history[-1]["epoch"] - best["epoch"] >= cfg.early_stopping)

    aug_gen = torch.Generator(device=device)
    t_run = 0.0
    for epoch in range(start_epoch + 1, cfg.epochs + 1):
        if patience_spent():
            break
        # every epoch's randomness derives from (seed, epoch) alone, so a resumed run repeats it
        epoch_seed = cfg.seed * 1_000_003 + epoch
        torch.manual_seed(epoch_seed)
        aug_gen.manual_seed(epoch_seed + 7919 * world.rank)  # each process augments its own images its own way
        order_gen = torch.Generator().manual_seed(epoch_seed)
        order = (balanced_order(y_tr_cpu, n, order_gen) if cfg.sampler == "balanced"
                 else torch.randperm(n, generator=order_gen)).to(device)
        model.train()
        for block in model.blocks[:cfg.freeze]:
            block.eval()  # frozen blocks keep their batch-norm statistics too
        t0 = time.perf_counter()
        loss_sum, correct = torch.zeros((), device=device), torch.zeros((), device=device)
        batch_losses: list[torch.Tensor] = []
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch}/{cfg.epochs}", disable=not progress,
                   leave=False, file=sys.stderr, mininterval=0.5)
        for i in bar:
            idx = order[i * batch: (i + 1) * batch][world.rank::world.size]  # this process's share of the batch
            x = model_batch(x_tr[idx], aug_cfg, aug_gen)
            y = y_tr[idx]
            for group in opt.param_groups:
                group["lr"] = lr_at(step, total_steps, cfg.lr, cfg.warmup)
            with autocast(device, precision):
                logits = net(x).float()
            loss = F.cross_entropy(logits, y, weight=weight, label_smoothing=cfg.label_smoothing)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if ema is not None:
                ema.update_parameters(model)
            step += 1
            loss_sum += loss.detach() * len(y)
            correct += (logits.detach().argmax(1) == y).sum()
            batch_losses.append(loss.detach())
            if progress and i % 20 == 19:
                seen = (i + 1) * len(idx)
                bar.set_postfix(loss=f"{loss_sum.item() / seen:.3f}", acc=f"{correct.item() / seen:.4f}",
                                img_s=f"{seen / (time.perf_counter() - t0):,.0f}")
        seen = steps_per_epoch * batch  # over all processes
        loss_sum, correct = distributed.sum_all(torch.stack([loss_sum, correct]), world).tolist()
        seconds = time.perf_counter() - t0
        t_run += seconds
        row = {"epoch": epoch, "train_loss": loss_sum / seen, "train_accuracy": correct / seen,
               "lr": lr_at(step - 1, total_steps, cfg.lr, cfg.warmup), "seconds": seconds,
               "samples_per_s": seen / seconds, "tflops": flops * seen / seconds / 1e12}
        if len(val_idx):  # rank 0's model and verdict, so that every process stops at the same epoch
            val = evaluate_tensors(result_model, x_va, y_va, device, precision) if world.main else None
            row.update({f"val_{k}": v for k, v in distributed.from_main(val, world).items()})
        row["batch_loss"] = [round(v, 5) for v in torch.stack(batch_losses).tolist()]  # rank 0's share
        history.append(row)
        if not world.main:
            continue
        with open(out / "metrics.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
        if len(val_idx) and _best_epoch(history, cfg.monitor)["epoch"] == epoch:
            # the best epoch so far, as a loadable model folder; written before the checkpoint, so a
            # kill between the two repeats this epoch on resume rather than losing its weights
            save_model(result_model, out / "best", data.class_map,
                       {**config_extra, "result": {k: v for k, v in row.items() if k != "batch_loss"}})
        save_checkpoint(out, model, opt, epoch, step, ema)
        val = f" val_loss {row['val_loss']:.4f} val_acc {row['val_accuracy']:.4f}" if len(val_idx) else ""
        log(f"epoch {epoch}/{cfg.epochs} loss {row['train_loss']:.4f} acc {row['train_accuracy']:.4f}{val} "
            f"| {seconds:.1f} s, {row['samples_per_s']:,.0f} samples/s, {row['tflops'] * 1000:.1f} GFLOP/s")

    model = result_model.eval()
    last, best = history[-1], _best_epoch(history, cfg.monitor)
    final = {k: v for k, v in last.items() if k != "batch_loss"}
    if cfg.early_stopping:  # restore the best epoch's weights: they are the run's model
        if world.main:
            load_weights(model, out / "best" / "model.safetensors")
        final = {k: v for k, v in best.items() if k != "batch_loss"}
        final["stopped_early"] = last["epoch"] < cfg.epochs
        final["last_epoch"] = last["epoch"]
        if final["stopped_early"]:
            log(f"early stopping after epoch {last['epoch']}: {cfg.monitor} did not improve for "
                f"{cfg.early_stopping} epochs; restored the best epoch, {best['epoch']} "
                f"({cfg.monitor} {best[cfg.monitor]:.4f})")
    if best is not None:
        final["best_epoch"] = best["epoch"]
    final["seconds"] = t_run
    if world.main:
        save_model(model, out, data.class_map, {**config_extra, "result": final})
    distributed.barrier(world)  # the other processes return once the model is on disk
    return final


def read_metrics(out: Path) -> list[dict]:
    """The rows of a run folder's ``metrics.jsonl`` (one per finished epoch); [] if there is none."""
    path = out / "metrics.jsonl"
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            break  # a line cut by a kill mid-write: everything after it is lost anyway
    return rows


def cv_folds(labels: np.ndarray, k: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified ``k``-fold split (scikit-learn ``StratifiedKFold``, shuffled with ``seed``):
    ``[(train indices, test indices), ...]``; the test folds are disjoint and cover every image.

    Raises:
        ValueError: k < 2, or a class with fewer than k images.
    """
    from sklearn.model_selection import StratifiedKFold

    if k < 2:
        raise ValueError(f"folds must be at least 2, got {k}")
    counts = np.bincount(labels)
    if counts[counts > 0].min() < k:
        raise ValueError(f"{k}-fold cross-validation needs at least {k} images of every class; the smallest class "
                         f"has {counts[counts > 0].min()}")
    return list(StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(np.zeros(len(labels)), labels))


def cross_validate(cfg: TrainConfig, data: Dataset | SequenceDataset, folds: int, out: str | Path, progress: bool = True,
                   extra_config: dict | None = None, log=print) -> dict:
    """Stratified ``folds``-fold cross-validation: train on each fold's complement (with no
    further hold-out) and measure accuracy on the fold. Writes ``out/fold-K/`` per fold and
    ``out/cv.json``; after an interruption, finished folds are kept and a started one resumes.
    Returns ``{"folds": [...], "mean", "std"}`` of accuracy."""
    out = Path(out)
    fold_cfg = TrainConfig.from_dict({**asdict(cfg), "val_split": 0.0, "early_stopping": 0})
    accs = []
    for k, (tr, te) in enumerate(cv_folds(data.labels, folds, cfg.seed), start=1):
        log(f"fold {k}/{folds}: train {len(tr):,}, test {len(te):,}")
        fold_dir = out / f"fold-{k}"
        if (fold_dir / "model.safetensors").exists():  # finished before an interruption: keep it
            log(f"fold {k}/{folds}: already trained")
        else:
            train(fold_cfg, data.subset(tr), fold_dir, resume=(fold_dir / "checkpoint.json").exists(),
                  progress=progress, extra_config=extra_config, log=log)
        rec = load_model(fold_dir)
        acc = float((rec.predict_proba(data.inputs[te]).argmax(1) == data.labels[te]).mean())
        accs.append(acc)
        log(f"fold {k}/{folds}: test accuracy {acc:.4f}")
    result = {"folds": accs, "mean": float(np.mean(accs)), "std": float(np.std(accs)), "k": folds,
              "config": asdict(cfg)}
    atomic_write(out / "cv.json", json.dumps(result, indent=1).encode())
    log(f"{folds}-fold accuracy {result['mean']:.4f} ± {result['std']:.4f}")
    return result

