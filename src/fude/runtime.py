"""Device, precision and thread choices, made once per run and recorded in its config."""

from __future__ import annotations

import os
import time
from functools import lru_cache
from pathlib import Path

import torch


@lru_cache(maxsize=1)
def cpu_has_fast_bf16() -> bool:
    """True if the CPU has bf16 matrix instructions (AMX or AVX512-BF16).

    Without them oneDNN emulates bf16 and autocast is far *slower* than fp32, by orders of
    magnitude for a matmul (``bench/common.py``'s ``matmul_peak`` measures both).
    """
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def resolve_device(device: str = "auto") -> torch.device:
    """``"auto"`` -> CUDA if available, else CPU; otherwise the named device.

    Raises:
        ValueError: a CUDA device is asked for on a machine without one.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but this machine has no CUDA GPU; use --device cpu or auto")
    return dev


def resolve_precision(precision: str, device: torch.device) -> str:
    """``"auto"`` -> ``"bf16"`` where the hardware runs it fast (CUDA with bf16, CPUs with AMX or
    AVX512-BF16), else ``"fp32"``. Raises ValueError for anything but auto/fp32/bf16."""
    if precision not in ("auto", "fp32", "bf16"):
        raise ValueError(f"precision must be auto, fp32 or bf16, got {precision!r}")
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_has_fast_bf16() else "fp32"


def autocast(device: torch.device, precision: str):
    """The autocast context for ``precision`` on ``device`` (disabled for fp32)."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def set_threads(threads: int = 0, processes: int = 1) -> int:
    """Use ``threads`` intra-op threads; 0: the cores free right now (:func:`free_cores`), shared
    out among ``processes`` processes on this machine, at least 1 each. Returns the count.

    Why not simply one per core: PyTorch's OpenMP threads wait for each other at every operation,
    spinning; when another program keeps a core busy, the thread on that core is descheduled and the
    others spin for it, and training runs many times slower than on one thread alone
    (``bench/contention.py``). Sized from the free cores, fude loses about the neighbour's share.

    Raises:
        ValueError: a negative count.
    """
    if threads < 0:
        raise ValueError(f"--threads must be 0 (one per free core) or a positive count, got {threads}")
    n = threads or max(1, round(free_cores()) // processes)
    torch.set_num_threads(n)
    return n


def free_cores(seconds: float = 0.05) -> float:
    """How many of the cores this process may use are idle, measured over ``seconds`` (``/proc/stat``:
    idle and I/O-wait time against all time, per core); the count of usable cores where that cannot
    be read."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))

    def sample() -> dict[int, tuple[int, int]]:
        out = {}
        for line in Path("/proc/stat").read_text().splitlines():
            name, *values = line.split()
            if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cores:
                ticks = [int(v) for v in values[:8]]
                out[int(name[3:])] = (ticks[3] + ticks[4], sum(ticks))  # idle + iowait, all
        return out

    try:
        before = sample()
        time.sleep(seconds)
        after = sample()
    except (OSError, ValueError, IndexError):
        return float(len(cores))
    idle = 0.0
    for c in cores:
        if c not in before or c not in after:
            return float(len(cores))
        d_idle, d_all = after[c][0] - before[c][0], after[c][1] - before[c][1]
        idle += d_idle / d_all if d_all > 0 else 1.0
    return idle
