"""Device, precision and thread choices, made once per run and recorded in its config."""

from __future__ import annotations

import math
import os
import time
from functools import lru_cache
from pathlib import Path

import torch

from fude.cores import CoreSample, free_cores, sample, usable_cores


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


def set_threads(threads: int = 0, processes: int = 1, since: CoreSample | None = None) -> int:
    """Use ``threads`` intra-op threads; 0: the cores free right now (:func:`fude.cores.free_cores`,
    measured from ``since`` when given: the ``fude`` command's reading at start-up, so that the
    import of PyTorch is the time measured over and nothing waits for it), shared out among
    ``processes`` processes on this machine, at least 1 each. Returns the count.

    Why not simply one per core: PyTorch's OpenMP threads wait for each other at every operation,
    spinning; when another program keeps a core busy, the thread on that core is descheduled and the
    others spin for it, and training runs many times slower than on one thread alone
    (``bench/speed/contention.py``). Sized from the free cores, fude loses about the neighbour's share.

    Raises:
        ValueError: a negative count.
    """
    if threads < 0:
        raise ValueError(f"--threads must be 0 (one per free core) or a positive count, got {threads}")
    n = threads or max(1, round(free_cores(since=since)) // processes)
    torch.set_num_threads(n)
    return n


class AdaptiveThreads:
    """Keeps PyTorch's thread pool sized to the cores other programs leave free while a run goes
    on: a neighbour that starts after training began would otherwise stall every OpenMP barrier
    (:func:`set_threads` says why), and one that ends would leave a core unused.

    :meth:`check`, called between training steps, reads at most every ``interval`` seconds how busy
    the process's cores were since the last reading (``/proc/stat``), less this process's own CPU time
    (``time.process_time``), and sets ``torch.set_num_threads`` to the cores left, at least 1. A
    neighbour counts as holding a core from a quarter of one: on a shared core the spinning OpenMP
    thread takes most of the time, so the neighbour shows as ~half a core, not a whole one. For one
    process per machine only (under torchrun the other ranks would count as neighbours), and only
    when the user did not fix ``--threads``. Where ``/proc/stat`` cannot be read it does nothing.
    """

    def __init__(self, interval: float = 2.0):
        self.interval = interval
        self.cores = usable_cores()
        self._tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self._last = sample(self.cores)

    def others_busy(self) -> float | None:
        """Cores' worth of CPU time other programs used since the last reading (None: unreadable)."""
        now = sample(self.cores)
        last, self._last = self._last, now
        if now is None or last is None or now.monotonic <= last.monotonic:
            return None
        busy = (now.busy_ticks() - last.busy_ticks()) / self._tick
        return max(0.0, (busy - (now.process_time - last.process_time)) / (now.monotonic - last.monotonic))

    def check(self) -> int | None:
        """Re-size the pool if ``interval`` seconds have passed and the free cores changed; returns
        the new thread count, or None when nothing changed."""
        if self._last is None or time.monotonic() - self._last.monotonic < self.interval:
            return None
        others = self.others_busy()
        if others is None:
            return None
        n = max(1, len(self.cores) - max(0, math.ceil(others - 0.25)))
        if n == torch.get_num_threads():
            return None
        torch.set_num_threads(n)
        return n


MMAP_THRESHOLD = 64 << 20  # bytes: blocks below this come from the heap, not fresh mmap'ed pages
TRIM_THRESHOLD = 256 << 20  # bytes of free heap top kept for the next step instead of returned


@lru_cache(maxsize=1)
def tune_malloc() -> bool:
    """Keep training's large, short-lived tensors in the heap (glibc only; once per process).

    A training step allocates and frees the same activation and gradient buffers, tens of MiB each.
    glibc serves blocks above its mmap threshold (adaptive, at most 32 MiB) with fresh mmap'ed pages
    and returns them at free, so every step page-faults its buffers in again — millions of minor
    faults per epoch, and on a large data set per-image cost that drifts up run to run. Raising the
    threshold to 64 MiB and the trim threshold to 256 MiB (``mallopt``, the settings of
    ``MALLOC_MMAP_THRESHOLD_``/``MALLOC_TRIM_THRESHOLD_``) keeps them mapped; the process holds up to
    256 MiB more of freed memory. Left alone where the user set either variable, or without glibc.

    Returns:
        True if fude set them.
    """
    import ctypes
    import ctypes.util

    if "MALLOC_MMAP_THRESHOLD_" in os.environ or "MALLOC_TRIM_THRESHOLD_" in os.environ:
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False  # not glibc (musl, macOS, Windows)
    m_trim_threshold, m_mmap_threshold = -1, -3  # malloc.h
    return bool(mallopt(m_mmap_threshold, MMAP_THRESHOLD)) and bool(mallopt(m_trim_threshold, TRIM_THRESHOLD))
