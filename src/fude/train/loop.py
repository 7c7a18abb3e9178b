"""The training loop: data held as tensors on the device, batch augmentation, label smoothing, a
one-cycle learning rate, bf16 autocast where the hardware runs it fast, and an atomic checkpoint
every epoch so ``--resume`` continues an interrupted run exactly.

:func:`train` reads as its steps: :func:`setup` -> for each epoch :func:`train_epoch`,
:func:`validate`, :func:`record_epoch` -> :func:`finish`. The loop knows nothing of a particular
network: it takes any :class:`~fude.models.CharClassifier`, images or stroke sequences.

Recipe sources: one-cycle schedule, Smith & Topin, arXiv:1708.07120; label smoothing, Szegedy et
al., arXiv:1512.00567; fast small-data CNN training in the spirit of Keller Jordan's airbench;
early stopping as in Prechelt, "Early Stopping — But When?", 1998.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import fude
from fude.datasets import Dataset, SequenceDataset
from fude.datasets.augment import AugmentConfig
from fude.datasets.stats import border_ink, pixel_moments
from fude.models import CharClassifier, forward_batched, load_weights, save_model
from fude.runtime import AdaptiveThreads, autocast, resolve_device, resolve_precision, tune_malloc
import fude.train.distributed as distributed
from fude.train.config import MONITORS, TrainConfig
from fude.train.networks import build_model
from fude.train.data import model_batch, to_tensors
from fude.models.flops import flops_per_image
from fude.train.optim import NesterovSGD, lr_at, make_optimizer
from fude.train.run import (CHECKPOINT, RunFolderError, append_metrics, checkpoint_metadata, load_checkpoint,
                            metrics_for_resume, remove_leftovers, save_checkpoint, write_metrics)
from fude.train.sampling import balanced_order, class_weights, stratified_split

logger = logging.getLogger(__name__)
CROP_WARN_SHARE = 0.01  # share of the ink a model's crop may drop before training warns
CROP_CHECK_STRIDE = 8  # the crop check reads every 8th training image


@dataclass
class Run:
    """What one training run holds while it trains (built by :func:`setup`)."""

    cfg: TrainConfig
    out: Path
    data: Dataset | SequenceDataset
    world: distributed.World
    device: torch.device
    precision: str
    x_all: torch.Tensor  # every stored input on the device, held once: uint8 (N, 1, S, S) or float32 (N, T, 7)
    train_idx: torch.Tensor | None  # the training images among them (None: all of them)
    y_tr: torch.Tensor  # int64 (N_train,): the training labels
    x_va: torch.Tensor  # the held-out inputs (a copy: a tenth of the data by default)
    y_va: torch.Tensor
    model: CharClassifier
    net: torch.nn.Module  # what the steps call: the model, or its DistributedDataParallel wrapper
    opt: NesterovSGD
    ema: torch.nn.Module | None  # the moving average of the weights, or None
    batch: int  # images per step over all processes
    steps_per_epoch: int
    flops: int  # training FLOPs per image
    weight: torch.Tensor | None  # class weights of the loss
    saved_config: dict  # what config.json records besides the network and class map
    history: list[dict] = field(default_factory=list)
    step: int = 0
    start_epoch: int = 0
    seconds: float = 0.0  # wall time of the epochs trained in this process
    threads: AdaptiveThreads | None = None  # re-sizes the thread pool as neighbours come and go, or None

    @property
    def result_model(self) -> CharClassifier:
        """The network that is validated and saved: the moving average when there is one."""
        return self.ema.module if self.ema is not None else self.model

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.cfg.epochs

    @property
    def n_train(self) -> int:
        return len(self.y_tr)

    def train_inputs(self, idx: torch.Tensor) -> torch.Tensor:
        """The stored inputs of training images ``idx`` (positions among the training images);
        ``index_select``, which copies whole rows, several times quicker on a CPU than the general
        indexing of ``x_all[idx]`` (README "Benchmarks")."""
        return self.x_all.index_select(0, self.train_idx[idx] if self.train_idx is not None else idx)

    def log(self, message: str) -> None:
        if self.world.main:  # rank 0 speaks for all
            logger.info(message)


def train(cfg: TrainConfig, data: Dataset | SequenceDataset, out: str | Path, resume: bool = False,
          progress: bool = True, extra_config: dict | None = None, adapt_threads: bool = False,
          overwrite: bool = False) -> dict:
    """Train a model on ``data`` and write the run folder ``out`` (see :mod:`fude.train.run`).

    Args:
        cfg: hyperparameters.
        data: training data (a stratified ``cfg.val_split`` of it is held out for validation):
            images for the image models, stroke sequences for the ``stroke-*`` models.
        out: the run folder; with ``resume=True`` it must hold a checkpoint of this run. Without
            it, a folder that holds a run's checkpoint or finished model is refused unless
            ``overwrite`` (as ``fude train`` refuses it without ``--overwrite``).
        progress: show a progress bar (tqdm, on stderr) with loss, accuracy and samples/s.
        extra_config: more fields for ``config.json`` (command, data source, ...).
        adapt_threads: on a CPU run in one process, follow the free cores while training
            (:class:`fude.runtime.AdaptiveThreads`; each epoch's row records its final thread count).
            Off by default: a run whose thread count changes is not bit-identical to one whose does not.

    Messages go to the ``fude`` logger (``logging``). The run folder gets ``metrics.jsonl``,
    ``checkpoint.*`` every epoch, ``best/`` (with a validation split) and at the end the model:
    the last epoch's weights, or with ``cfg.early_stopping`` the best epoch's (the one-cycle
    schedule still spans ``cfg.epochs``, so stopping early also stops before the rate reaches 0).

    Returns:
        the final model's epoch metrics plus ``seconds`` (wall time of the epochs), ``samples_per_s``,
        ``best_epoch`` (with validation) and, with early stopping, ``stopped_early`` and ``last_epoch``.

    Raises:
        ValueError: labels missing, data the architecture cannot read, or a damaged checkpoint.
        RunFolderError: ``out`` holds a run, and neither ``resume`` nor ``overwrite`` is set.
    """
    out = Path(out)
    if not resume and not overwrite and any((out / f).exists() for f in (CHECKPOINT, "model.safetensors")):
        raise RunFolderError(f"{out} already holds a run; continue it with resume=True, replace it with "
                             "overwrite=True, or choose another folder")
    run = setup(cfg, data, out, resume, extra_config)
    if adapt_threads and run.device.type == "cpu" and not run.world.active:
        run.threads = AdaptiveThreads()
    for epoch in range(run.start_epoch + 1, cfg.epochs + 1):
        if patience_spent(run):
            break
        row = train_epoch(run, epoch, progress)
        if len(run.x_va):  # rank 0's model and verdict, so that every process stops at the same epoch
            val = validate(run) if run.world.main else None
            row.update({f"val_{k}": v for k, v in distributed.from_main(val, run.world).items()})
            row["batch_loss"] = row.pop("batch_loss")  # the long list last in metrics.jsonl
        record_epoch(run, row)
    return finish(run)


# --------------------------------------------------------------------------- setup

def setup(cfg: TrainConfig, data: Dataset | SequenceDataset, out: Path, resume: bool = False,
          extra_config: dict | None = None) -> Run:
    """Devices and processes, the data on the device split into training and validation, the
    network, optimizer and moving average, and with ``resume`` the checkpoint's state."""
    if data.labels is None:
        raise ValueError("training needs labelled data; the dataset has no labels")
    if len(data) < 2:
        raise ValueError(f"training needs at least 2 labelled images (batch norm compares images); got {len(data)}")
    out.mkdir(parents=True, exist_ok=True)
    world = distributed.init(resolve_device(cfg.device))  # one process unless started by torchrun
    device = distributed.local_device(resolve_device(cfg.device), world)
    precision = resolve_precision(cfg.precision, device)

    train_idx, val_idx = stratified_split(data.labels, cfg.val_split, cfg.seed)
    x_all, y_all = to_tensors(data, device)  # on the CPU, the data's own memory: no copy
    tr = torch.from_numpy(train_idx).to(device) if len(val_idx) else None  # batches index through it
    va = torch.from_numpy(val_idx).to(device)
    y_tr, x_va, y_va = (y_all[tr] if tr is not None else y_all), x_all[va], y_all[va]
    mean, std, box = 0.0, 1.0, None
    if data.kind == "image":  # the training images' statistics, from all images' less the held-out ones'
        stats = data.image_stats(torch.get_num_threads())  # ready when the fude command read the data ahead
        moments = stats.moments - pixel_moments(x_va) if len(val_idx) else stats.moments
        mean, std = moments.mean_std()
        box = int(np.median(stats.sides[train_idx]))

    torch.manual_seed(cfg.seed)
    model = build_model(cfg, data, mean, std).to(device)
    mean, std = float(model.config.mean), float(model.config.std)  # a fine-tuned network keeps its own
    if world.main and data.kind == "image" and (crop := getattr(model.config, "crop", 0)):
        lost = border_ink(data.images[::CROP_CHECK_STRIDE], crop)  # a warning, not a figure: every 8th image
        if lost > CROP_WARN_SHARE:
            logger.warning(f"the network's crop of {crop} pixels drops {lost:.1%} of the training images' ink: crop "
                           "suits images with empty borders, such as MNIST's (0.2% at 2 pixels), not characters "
                           "that fill the frame (Kuzushiji-MNIST: 10%)")
    model = model.to(memory_format=torch.channels_last)
    opt = make_optimizer(model, cfg)
    ema = None  # the moving average of the weights (Polyak & Juditsky 1992), batch-norm statistics included
    if cfg.ema:
        from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

        ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema), use_buffers=True)
    batch = min(cfg.batch_size, len(y_tr))
    if batch // world.size < 2:
        raise ValueError(f"batch {batch} split over {world.size} processes leaves fewer than 2 images per process; "
                         f"batch norm needs at least 2: use a batch of at least {2 * world.size}")
    net = model
    if world.active:  # gradients are averaged over the processes after every backward pass
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    weight = (torch.from_numpy(class_weights(data.labels[train_idx], len(data.class_map))).to(device)
              if cfg.class_weights == "balanced" else None)
    preprocess = {"box": box} if data.kind == "image" else {"length": int(x_all.shape[1])}
    saved_config = {"data": data.source, **(extra_config or {}), "fude_version": fude.__version__, "train": asdict(cfg),
                    "preprocess": preprocess, "normalisation": {"mean": mean, "std": std},
                    "held_out": held_out_fingerprint(val_idx),
                    "device": str(device), "precision": precision, "processes": world.size}
    run = Run(cfg, out, data, world, device, precision, x_all, tr, y_tr, x_va, y_va, model, net, opt, ema, batch,
              len(y_tr) // batch,  # drop the last partial batch: batch norm wants full batches
              flops_per_image(model, device), weight, saved_config)
    restore(run, resume)
    if device.type == "cpu":  # after the one-off buffers of the data's statistics, which glibc hands back
        tune_malloc()  # the steps' buffers stay mapped: no page faults at every step
    run.log(describe(run))
    return run


def restore(run: Run, resume: bool) -> None:
    """With ``resume``, the checkpoint's weights, optimizer state and history (temporary files of
    writes a kill cut short are removed first); then (rank 0) ``metrics.jsonl`` rewritten to the
    epochs that will be kept.

    Raises:
        ValueError: a damaged checkpoint, or a history that lost a finished epoch.
    """
    if resume and run.world.main:
        for path in remove_leftovers(run.out):
            run.log(f"removed {path.name}, left by a write that was cut short")
    if resume and not (run.out / CHECKPOINT).exists():  # stopped before the first epoch ended
        run.log(f"{run.out} has no finished epoch to resume from; starting it from the beginning")
    elif resume:
        meta = checkpoint_metadata(run.out)
        if meta.get("held_out", "") != run.saved_config["held_out"]["sha256"]:
            raise ValueError(f"cannot resume {run.out}: its checkpoint was trained beside other held-out images than "
                             "this run would hold out now (the data changed, or an earlier fude, which drew them "
                             "differently, started the run), so validation would score images the network learnt; "
                             "start again with --overwrite, or finish the run with the fude that started it")
        run.start_epoch, run.step = load_checkpoint(run.out, run.model, run.opt, run.ema)
        run.history, bad = metrics_for_resume(run.out, run.start_epoch)
        if bad:
            run.log(f"metrics.jsonl: skipped unreadable line(s) {', '.join(map(str, bad))}, after the checkpoint's "
                    f"epoch {run.start_epoch}")
        if run.start_epoch >= run.cfg.epochs:
            run.log(f"{run.out} has already finished all {run.cfg.epochs} epochs: nothing to train (start a longer "
                    "run with --out, or replace this one with --overwrite)")
        else:
            run.log(f"resuming {run.out} after epoch {run.start_epoch}/{run.cfg.epochs}")
    if run.world.main:
        write_metrics(run.out, run.history)


def held_out_fingerprint(val_idx: np.ndarray) -> dict:
    """Which images a run holds out: their count and the first 16 hex digits of the SHA-256 of
    their indices (int64); an empty ``sha256`` when none are."""
    digest = hashlib.sha256(np.asarray(val_idx, dtype=np.int64).tobytes()).hexdigest()[:16] if len(val_idx) else ""
    return {"images": int(len(val_idx)), "sha256": digest}


def describe(run: Run) -> str:
    """The one-line summary of a run that the log starts with."""
    cfg, world = run.cfg, run.world
    return (f"training {cfg.arch} on {run.n_train:,} {'images' if run.data.kind == 'image' else 'sequences'} "
            f"({len(run.x_va):,} held out), {len(run.data.class_map)} classes, "
            f"{cfg.epochs} epoch{'s' if cfg.epochs != 1 else ''}, batch {run.batch}, {run.device} {run.precision}, "
            + (f"{world.size} processes ({run.batch // world.size} images each per step), " if world.active else "")
            + f"{run.flops / 1e6:.1f} MFLOP per training image"
            + (f", fine-tuning {cfg.init_from} with {cfg.freeze} block(s) frozen" if cfg.init_from else "")
            + (", balanced class weights" if run.weight is not None else "")
            + (", class-balanced sampler" if cfg.sampler == "balanced" else "")
            + (f", moving average of the weights (decay {cfg.ema})" if run.ema is not None else "")
            + (f", early stopping on {cfg.monitor} (patience {cfg.early_stopping})" if cfg.early_stopping else ""))


# --------------------------------------------------------------------------- one epoch

def train_step(net: torch.nn.Module, opt: NesterovSGD, x: torch.Tensor, y: torch.Tensor, lr: float,
               device: torch.device, precision: str, weight: torch.Tensor | None = None,
               label_smoothing: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimizer step on a batch the network reads (``x`` from :func:`model_batch`, ``y`` int64
    ``(B,)``): forward under the autocast of ``precision``, cross-entropy (class ``weight``, label
    smoothing) in fp32, backward, SGD at ``lr``. Returns the loss (a 0-d tensor) and the logits
    ``(B, K)`` float32, both detached."""
    opt.set_lr(lr)
    with autocast(device, precision):
        logits = net(x).float()
    loss = F.cross_entropy(logits, y, weight=weight, label_smoothing=label_smoothing)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss.detach(), logits.detach()


def epoch_order(run: Run, epoch: int, generator: torch.Generator) -> torch.Tensor:
    """The order the training images are visited in this epoch: a permutation, or with the
    balanced sampler a draw with replacement (on the CPU, so every device draws the same)."""
    n = run.n_train
    if run.cfg.sampler == "balanced":
        return balanced_order(run.y_tr.cpu(), n, generator).to(run.device)
    return torch.randperm(n, generator=generator).to(run.device)


def train_epoch(run: Run, epoch: int, progress: bool = True) -> dict:
    """One pass over the training data; returns the epoch's row of ``metrics.jsonl`` (without
    validation)."""
    from tqdm import tqdm

    cfg, world, batch = run.cfg, run.world, run.batch
    progress = progress and world.main
    # every epoch's randomness derives from (seed, epoch) alone, so a resumed run repeats it
    epoch_seed = cfg.seed * 1_000_003 + epoch
    torch.manual_seed(epoch_seed)
    aug_gen = torch.Generator(device=run.device).manual_seed(epoch_seed + 7919 * world.rank)  # each process its own
    order = epoch_order(run, epoch, torch.Generator().manual_seed(epoch_seed))
    aug_cfg = AugmentConfig(**cfg.augment)
    run.model.train()
    for block in run.model.blocks[:cfg.freeze]:
        block.eval()  # frozen blocks keep their batch-norm statistics too
    t0 = time.perf_counter()
    loss_sum, correct = torch.zeros((), device=run.device), torch.zeros((), device=run.device)
    batch_losses: list[torch.Tensor] = []
    # a bar only on a terminal: redirected to a log, the per-epoch lines say it all
    bar = tqdm(range(run.steps_per_epoch), desc=f"epoch {epoch}/{cfg.epochs}",
               disable=not progress or not sys.stderr.isatty(),
               leave=False, file=sys.stderr, mininterval=0.5)
    for i in bar:
        idx = order[i * batch: (i + 1) * batch][world.rank::world.size]  # this process's share of the batch
        y = run.y_tr[idx]
        loss, logits = train_step(run.net, run.opt, model_batch(run.train_inputs(idx), aug_cfg, aug_gen), y,
                                  lr_at(run.step, run.total_steps, cfg.lr, cfg.warmup), run.device, run.precision,
                                  run.weight, cfg.label_smoothing)
        if run.ema is not None:
            run.ema.update_parameters(run.model)
        run.step += 1
        loss_sum += loss * len(y)
        correct += (logits.argmax(1) == y).sum()
        batch_losses.append(loss)
        if run.threads is not None and (n := run.threads.check()):
            bar.clear()  # the message on a line of its own, not after the bar
            logger.info(f"{n} thread(s) now: the cores other programs leave free changed")
            bar.refresh()
        if progress and i % 20 == 19:
            seen = (i + 1) * len(idx)
            bar.set_postfix(loss=f"{loss_sum.item() / seen:.3f}", acc=f"{correct.item() / seen:.4f}",
                            img_s=f"{seen / (time.perf_counter() - t0):,.0f}")
    seen = run.steps_per_epoch * batch  # over all processes
    loss_sum, correct = distributed.sum_all(torch.stack([loss_sum, correct]), world).tolist()
    seconds = time.perf_counter() - t0
    run.seconds += seconds
    return {"epoch": epoch, "train_loss": loss_sum / seen, "train_accuracy": correct / seen,
            "lr": lr_at(run.step - 1, run.total_steps, cfg.lr, cfg.warmup), "seconds": seconds,
            "samples_per_s": seen / seconds, "tflops": run.flops * seen / seconds / 1e12,
            "threads": torch.get_num_threads(),
            "batch_loss": [round(v, 5) for v in torch.stack(batch_losses).tolist()]}  # rank 0's share


# inputs per forward pass of validation: as `fude evaluate`'s default; 2048 held ~50 MiB more at the
# peak on a CPU for no speed (bench/speed/scale.py --val-split 0.1)
VAL_BATCH = 512


@torch.inference_mode()
def validate(run: Run, batch_size: int = VAL_BATCH) -> dict:
    """Mean cross-entropy (``loss``), ``accuracy`` and ``balanced_accuracy`` of the run's model on
    its held-out data (:func:`evaluate_tensors`)."""
    return evaluate_tensors(run.result_model, run.x_va, run.y_va, run.device, run.precision, batch_size)


@torch.inference_mode()
def evaluate_tensors(model: CharClassifier, x: torch.Tensor, y: torch.Tensor, device: torch.device,
                     precision: str, batch_size: int = VAL_BATCH) -> dict:
    """Mean cross-entropy (``loss``), ``accuracy`` and ``balanced_accuracy`` (mean recall over the
    classes present; :func:`fude.evaluate.scores`) of ``model`` on stored inputs ``x`` (uint8
    ``(N, 1, S, S)`` or float32 sequences ``(N, T, 7)``) and int64 labels ``y`` ``(N,)``."""
    from fude.evaluate import scores

    if not len(x):
        return {"loss": 0.0, "accuracy": 0.0, "balanced_accuracy": 0.0}
    model.eval()
    logits = forward_batched(model, x, batch_size, device, precision, prepare=model_batch)
    loss = F.cross_entropy(logits, y.to(device), reduction="sum").item() / len(x)
    return {"loss": loss, **scores(y.cpu().numpy(), logits.argmax(1).cpu().numpy())}


# --------------------------------------------------------------------------- after each epoch, and at the end

def best_epoch(history: list[dict], monitor: str) -> dict | None:
    """The history row with the best ``monitor`` value (the earliest of equals)."""
    rows = [r for r in history if monitor in r]
    if not rows:
        return None
    sign = 1 if MONITORS[monitor] == "max" else -1
    return max(rows, key=lambda r: (sign * r[monitor], -r["epoch"]))


def patience_spent(run: Run) -> bool:
    """Early stopping: ``cfg.early_stopping`` epochs have passed since the best one."""
    best = best_epoch(run.history, run.cfg.monitor)
    return bool(run.cfg.early_stopping and best and run.history[-1]["epoch"] - best["epoch"] >= run.cfg.early_stopping)


def record_epoch(run: Run, row: dict) -> None:
    """Keep a finished epoch: its row in the history and ``metrics.jsonl``, ``best/`` when it is the
    best so far, the checkpoint, and a line in the log (files by rank 0 only)."""
    run.history.append(row)
    if not run.world.main:
        return
    append_metrics(run.out, row)
    epoch = row["epoch"]
    if len(run.x_va) and best_epoch(run.history, run.cfg.monitor)["epoch"] == epoch:
        # the best epoch so far, as a loadable model folder; written before the checkpoint, so a
        # kill between the two repeats this epoch on resume rather than losing its weights
        save_model(run.result_model, run.out / "best", run.data.class_map,
                   {**run.saved_config, "result": {k: v for k, v in row.items() if k != "batch_loss"}})
    save_checkpoint(run.out, run.model, run.opt, epoch, run.step, run.ema, run.saved_config["held_out"]["sha256"])
    val = f" val_loss {row['val_loss']:.4f} val_acc {row['val_accuracy']:.4f}" if len(run.x_va) else ""
    run.log(f"epoch {epoch}/{run.cfg.epochs} loss {row['train_loss']:.4f} acc {row['train_accuracy']:.4f}{val} "
            f"| {row['seconds']:.1f} s, {row['samples_per_s']:,.0f} samples/s, {row['tflops'] * 1000:.1f} GFLOP/s")


def finish(run: Run) -> dict:
    """The run's model (with early stopping, the best epoch's weights restored) saved in the run
    folder with its result; returns that result."""
    cfg = run.cfg
    model = run.result_model.eval()
    last, best = run.history[-1], best_epoch(run.history, cfg.monitor)
    final = {k: v for k, v in last.items() if k != "batch_loss"}
    if cfg.early_stopping:  # restore the best epoch's weights: they are the run's model
        if run.world.main:
            best_sha256 = json.loads((run.out / "best" / "config.json").read_text())["weights_sha256"]
            load_weights(model, run.out / "best" / "model.safetensors", best_sha256["model.safetensors"])
        final = {k: v for k, v in best.items() if k != "batch_loss"}
        final["stopped_early"] = last["epoch"] < cfg.epochs
        final["last_epoch"] = last["epoch"]
        if final["stopped_early"]:
            run.log(f"early stopping after epoch {last['epoch']}: {cfg.monitor} did not improve for "
                    f"{cfg.early_stopping} epochs; restored the best epoch, {best['epoch']} "
                    f"({cfg.monitor} {best[cfg.monitor]:.4f})")
    if best is not None:
        final["best_epoch"] = best["epoch"]
    final["seconds"] = run.seconds
    if run.world.main:
        save_model(model, run.out, run.data.class_map, {**run.saved_config, "result": final})
    distributed.barrier(run.world)  # the other processes return once the model is on disk
    return final
