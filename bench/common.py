"""Helpers shared by the benchmarks: matmul peak, peak memory, a table printer."""

from __future__ import annotations

import resource
import time

import torch


def matmul_peak(dtype: torch.dtype, seconds: float = 1.0) -> float:
    """Measured dense matmul throughput of this machine in FLOP/s for ``dtype`` (all threads).

    The size doubles from 128 until one product takes 20 ms, so a slow dtype (bf16 emulated on
    a CPU without AMX/AVX512-BF16) is measured without running for minutes."""
    n = 128
    while True:
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        t = time.perf_counter()
        a @ b
        if time.perf_counter() - t > 0.02 or n >= 4096:
            break
        n *= 2
    reps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        a @ b
        reps += 1
    return 2 * n ** 3 * reps / (time.perf_counter() - t0)


def peak_rss_mib(children: bool = False) -> float:
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / 1024


def table(rows: list[dict]) -> str:
    """A Markdown table of ``rows`` (keys of the first row as the header)."""
    keys = list(rows[0])
    out = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for r in rows:
        out.append("| " + " | ".join(_cell(r[k]) for k in keys) + " |")
    return "\n".join(out)


def _cell(v) -> str:
    if not isinstance(v, float):
        return str(v)
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.4f}" if abs(v) < 1 else f"{v:.4g}"  # accuracies keep their fourth decimal
