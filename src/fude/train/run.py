"""The run folder (``--out``) and its rules: what it holds, how a run starts, resumes or is replaced.

    run.json              the TrainConfig, data source, folds and command (written at the start)
    metrics.jsonl         one JSON object per finished epoch (losses, accuracies, lr, seconds,
                          samples/s, and the loss of every batch)
    checkpoint.safetensors   weights + optimizer state after the last epoch, with the epoch and step
                          counters in its metadata: one file, so one atomic unit
    best/                 the best epoch by the monitored metric, a model folder (with validation)
    model.safetensors, config.json           the finished model (what ``fude.load_model`` reads)
    fold-K/, cv.json      with cross-validation: one run folder per fold, and the result

Every file is written atomically (:func:`fude.files.atomic_write`), so a kill at any moment
leaves each file whole and ``--resume`` continues from the last finished epoch.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict
from pathlib import Path

import torch

from fude.files import atomic_write, atomic_write_json
from fude.train.config import TrainConfig
from fude.train.optim import NesterovSGD

FINISHED = ("model.safetensors", "config.json", "checkpoint.safetensors", "checkpoint.json", "cv.json")
CHECKPOINT = "checkpoint.safetensors"
CHECKSUM = "checksum"  # the checkpoint metadata's SHA-256 of its counters and tensors (see save_checkpoint)


class RunFolderError(ValueError):
    """A run folder that cannot be started, resumed or replaced as asked."""


def check_new_run(out: Path, overwrite: bool) -> None:
    """A new run may go into ``out`` only if it holds none, or ``overwrite`` says to replace it; and
    ``overwrite`` replaces only a run: a folder holding a model, a ``best/`` or a ``config.json`` but
    no run fude started (a shipped model's folder, say) is refused, not emptied.

    Raises:
        RunFolderError: ``out`` holds a run and ``overwrite`` is off, or ``overwrite`` is on and ``out``
            holds what :func:`start_run` would delete but no run.
    """
    if not overwrite and any((out / f).exists() for f in (CHECKPOINT, "checkpoint.json", "run.json")):
        raise RunFolderError(f"{out} already holds a run; continue it with --resume {out}, replace it with "
                             f"--overwrite, or choose another --out")
    doomed = [f for f in (*FINISHED, "best") if (out / f).exists()] if overwrite else []
    if doomed and not holds_run(out):
        raise RunFolderError(f"{out} holds files but no fude run (no readable run.json): --overwrite replaces only "
                             f"a run folder, and would delete {', '.join(doomed)} here; choose another --out, or "
                             f"move those files away")


def holds_run(out: Path) -> bool:
    """Whether ``out`` holds a run fude started: a ``run.json`` that reads as one (:func:`read_run`)."""
    try:
        read_run(out)
    except RunFolderError:
        return False
    return True


def start_run(out: Path, cfg: TrainConfig, data_args: dict, folds: int, command: str, overwrite: bool,
              threads: int = 0, recipe: dict | None = None) -> None:
    """Make ``out`` a new run: clear a replaced run's results as a whole (never half-mixed with the
    new one), then write ``run.json`` (``threads``: the count ``--threads`` fixed, 0 for none, which a
    resumed run keeps; ``recipe``: the recipe file's name and sha256, when one made the run)."""
    out.mkdir(parents=True, exist_ok=True)
    if overwrite:
        for name in FINISHED:
            (out / name).unlink(missing_ok=True)
        shutil.rmtree(out / "best", ignore_errors=True)
        for fold in out.glob("fold-*"):  # a replaced cross-validation's folds go too: never reused as finished
            if fold.is_dir():
                shutil.rmtree(fold, ignore_errors=True)
    atomic_write_json(out / "run.json", {"train": asdict(cfg), "data": data_args, "folds": folds, "command": command,
                                         "threads": threads, **({"recipe": recipe} if recipe else {})}, indent=1)


def fixed_threads(run: dict) -> int:
    """The thread count a run's ``--threads`` fixed (``run.json``'s ``threads``, or for a run an older
    fude started, the flag in its recorded command), 0 for none."""
    import shlex

    if isinstance(run.get("threads"), int) and not isinstance(run.get("threads"), bool):
        return max(0, run["threads"])
    try:
        words = shlex.split(str(run.get("command", "")))
    except ValueError:
        return 0
    for i, w in enumerate(words):
        value = w.split("=", 1)[1] if w.startswith("--threads=") else words[i + 1] if w == "--threads" and \
            i + 1 < len(words) else None
        if value is not None:
            return int(value) if value.isdigit() else 0
    return 0


def read_run(out: Path) -> dict:
    """A run folder's ``run.json``: ``{"train", "data", "folds", "command", "threads"}``.

    Raises:
        RunFolderError: missing or unreadable.
    """
    if not (out / "run.json").exists():
        raise RunFolderError(f"cannot resume {out}: it holds no run.json, so the run stopped before it started "
                             f"(or this is not a run folder); run the original fude train command again")
    try:
        run = json.loads((out / "run.json").read_text())
        missing = {"train", "data", "command"} - set(run if isinstance(run, dict) else ())
        if missing:
            raise ValueError(f"it lacks {', '.join(sorted(missing))}")
        return {"folds": 0, **run}
    except (OSError, ValueError) as e:
        raise RunFolderError(f"cannot resume {out}: no readable run.json ({e})") from e


def epochs_done(out: Path) -> int:
    """Finished epochs in the checkpoint of ``out`` (0 if there is none)."""
    try:
        return checkpoint_counters(out)[0]
    except (FileNotFoundError, ValueError):
        return 0


def checkpoint_counters(out: Path) -> tuple[int, int]:
    """(epochs done, optimizer steps done) of the checkpoint in ``out``, from its metadata (runs of
    fude before 2026-11-29 kept them beside it, in ``checkpoint.json``).

    Raises:
        FileNotFoundError: no checkpoint. ValueError: one without readable counters.
    """
    meta = checkpoint_metadata(out)
    try:
        if "epoch" not in meta:
            meta = json.loads((out / "checkpoint.json").read_text())
        return int(meta["epoch"]), int(meta["step"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"cannot resume from the checkpoint in {out}: its epoch counter is unreadable "
                         f"({str(e).splitlines()[0]}); start again with --overwrite") from e


def checkpoint_metadata(out: Path) -> dict[str, str]:
    """The metadata of the checkpoint in ``out``: ``epoch``, ``step`` and ``held_out`` (see
    :func:`save_checkpoint`).

    Raises:
        FileNotFoundError: no checkpoint. ValueError: an unreadable one.
    """
    from safetensors import SafetensorError, safe_open

    path = out / CHECKPOINT
    if not path.exists():
        raise FileNotFoundError(path)
    try:
        with safe_open(str(path), "pt") as f:
            return f.metadata() or {}
    except (OSError, SafetensorError) as e:
        raise ValueError(f"cannot resume from the checkpoint in {out}: it is damaged ({str(e).splitlines()[0]}); "
                         "start again with --overwrite") from e


def remove_leftovers(out: Path) -> list[Path]:
    """Delete the temporary files of writes a kill cut short (``.<name>.tmp<pid>``, see
    :func:`fude.files.atomic_write`) in ``out`` and ``out/best``; returns them."""
    gone = [p for folder in (out, out / "best") if folder.is_dir() for p in folder.glob(".*.tmp*") if p.is_file()]
    for p in gone:
        p.unlink(missing_ok=True)
    return gone


def read_metrics(out: Path) -> list[dict]:
    """The readable rows of a run folder's ``metrics.jsonl`` (one per finished epoch); [] if there
    is none. A damaged line is skipped (:func:`metrics_for_resume` checks that no finished epoch is
    lost)."""
    return _metrics(Path(out))[0]


def _metrics(out: Path) -> tuple[list[dict], list[int]]:
    path = out / "metrics.jsonl"
    if not path.exists():
        return [], []
    rows, bad = [], []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        try:
            row = json.loads(line)
            if not isinstance(row, dict) or not isinstance(row.get("epoch"), int):
                raise ValueError("not an epoch's row")
            rows.append(row)
        except ValueError:
            bad.append(number)
    return rows, bad


def metrics_for_resume(out: Path, epochs: int) -> tuple[list[dict], list[int]]:
    """The rows of epochs 1..``epochs`` (those the checkpoint holds), and the numbers of the lines
    that could not be read. A line cut by a kill mid-write belongs to an epoch after the checkpoint,
    so it costs nothing.

    Raises:
        RunFolderError: a finished epoch's row is missing or damaged: resuming would rewrite the
            history without it.
    """
    rows, bad = _metrics(out)
    by_epoch = {r["epoch"]: r for r in rows if r["epoch"] <= epochs}
    missing = [e for e in range(1, epochs + 1) if e not in by_epoch]
    if missing:
        raise RunFolderError(f"cannot resume {out}: metrics.jsonl has no readable row for epoch(s) "
                             f"{', '.join(map(str, missing))} of the {epochs} in the checkpoint"
                             + (f" (damaged line(s) {', '.join(map(str, bad))})" if bad else "")
                             + "; repair the file or start again with --overwrite")
    return [by_epoch[e] for e in range(1, epochs + 1)], bad


def write_metrics(out: Path, rows: list[dict]) -> None:
    """Replace ``metrics.jsonl`` with ``rows`` (on start and resume), atomically."""
    atomic_write(out / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in rows).encode())


def append_metrics(out: Path, row: dict) -> None:
    """Add one finished epoch's row to ``metrics.jsonl``."""
    with open(out / "metrics.jsonl", "a") as f:
        f.write(json.dumps(row) + "\n")


def save_checkpoint(folder: Path, model: torch.nn.Module, opt: NesterovSGD, epoch: int, step: int,
                    ema: torch.nn.Module | None = None, held_out: str = "") -> None:
    """Weights, momentum buffers (and the weights' moving average) as one safetensors file, written
    atomically, with the epoch and step counters in its metadata: the checkpoint is one unit, never
    weights of one epoch labelled with another. (Randomness needs no state: every epoch reseeds from
    the run's seed and its number.) ``held_out``: the fingerprint of the run's held-out images
    (``config.json``'s ``held_out``), which a resumed run must find again. The metadata's ``checksum``
    is the SHA-256 of the counters and the tensors' bytes, checked by :func:`load_checkpoint`."""
    from safetensors.torch import save

    state = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if ema is not None:
        state.update({f"ema.{k}": v.detach().cpu().contiguous() for k, v in ema.state_dict().items()})
    for i, p in enumerate(opt.params()):
        buf = opt.state.get(p, {}).get("momentum_buffer")
        if buf is not None:
            state[f"optim.{i}.momentum_buffer"] = buf.detach().cpu().contiguous()
    meta = {"epoch": str(epoch), "step": str(step), "held_out": held_out}
    # the checksum covers the counters and the tensors' bytes (the file after its header, which do
    # not move when the header gains it): a bit flipped on disk, in a weight or in a counter, is
    # found on --resume instead of trained from
    meta[CHECKSUM] = _checksum(meta, _tensor_bytes(save(state, metadata=meta)))
    atomic_write(folder / CHECKPOINT, save(state, metadata=meta))
    (folder / "checkpoint.json").unlink(missing_ok=True)  # an older fude's counters: the metadata rules now


def _checksum(meta: dict[str, str], tensors: bytes) -> str:
    """The SHA-256 (hex) of a checkpoint's counters (``epoch``, ``step``, ``held_out``, as one JSON
    line with sorted keys) followed by its tensors' bytes."""
    counters = json.dumps({k: meta.get(k, "") for k in ("epoch", "step", "held_out")}, sort_keys=True)
    return hashlib.sha256(counters.encode() + b"\n" + tensors).hexdigest()


def _tensor_bytes(data: bytes) -> bytes:
    """The tensor section of a safetensors file's bytes: what follows the 8-byte header length and
    the JSON header (https://github.com/huggingface/safetensors#format)."""
    if len(data) < 8:
        raise ValueError(f"{len(data)} bytes, shorter than a safetensors header")
    return data[8 + int.from_bytes(data[:8], "little"):]


def load_checkpoint(folder: Path, model: torch.nn.Module, opt: NesterovSGD,
                    ema: torch.nn.Module | None = None) -> tuple[int, int]:
    """Restore weights, optimizer state (and the weights' moving average); returns (epochs done, steps done).

    Raises:
        ValueError: the checkpoint is unreadable, its tensors do not match the sha256 written with
            them (a bit flipped on disk), or it does not fit the run's model (it is written
            atomically, so this means it was damaged or replaced by hand); one without the checksum
            (of its counters and tensors; a fude before 2026-12-08 wrote none) is refused too.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load

    epoch, step = checkpoint_counters(folder)
    try:
        data = (folder / CHECKPOINT).read_bytes()
        meta = checkpoint_metadata(folder)
        if CHECKSUM not in meta:
            raise ValueError("it carries no checksum over its counters and weights (an earlier fude wrote it, or "
                             "its header was edited), so a changed bit would go unseen; finish the run with the fude "
                             "that started it")
        if _checksum(meta, _tensor_bytes(data)) != meta[CHECKSUM]:
            raise ValueError("its content does not match the checksum written with it: bits changed on disk")
        if (str(epoch), str(step)) != (meta.get("epoch"), meta.get("step")):
            raise ValueError("its counters are written in two forms that disagree")
        state = load(data)
        model.load_state_dict({k[6:]: v for k, v in state.items() if k.startswith("model.")}, strict=True)
        if ema is not None:
            ema.load_state_dict({k[4:]: v for k, v in state.items() if k.startswith("ema.")}, strict=True)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, SafetensorError) as e:
        raise ValueError(f"cannot resume from the checkpoint in {folder}: it is damaged or does not fit this run "
                         f"({str(e).splitlines()[0]}); start again with --overwrite") from e
    dev = next(model.parameters()).device
    for i, p in enumerate(opt.params()):
        buf = state.get(f"optim.{i}.momentum_buffer")
        if buf is not None and buf.shape != p.shape:
            raise ValueError(f"cannot resume from the checkpoint in {folder}: momentum buffer {i} has shape "
                             f"{tuple(buf.shape)} but its parameter {tuple(p.shape)}; it is damaged or from "
                             f"another run: start again with --overwrite")
        if buf is not None:
            opt.state[p]["momentum_buffer"] = buf.to(dev)
    return epoch, step
