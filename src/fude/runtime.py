"""Device, precision and thread choices, made once per run and recorded in its config."""

from __future__ import annotations

import os
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
    """Use ``threads`` intra-op threads (0: the available cores shared out among ``processes``
    processes on this machine, at least 1 each). Returns the count.

    Raises:
        ValueError: a negative count.
    """
    if threads < 0:
        raise ValueError(f"--threads must be 0 (one per core) or a positive count, got {threads}")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    n = threads or max(1, cores // processes)
    torch.set_num_threads(n)
    return n
