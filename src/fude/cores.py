"""How busy this machine's cores are, from ``/proc/stat``, without PyTorch: the ``fude`` command
takes its first reading before it imports PyTorch and sizes its thread pool over that import
(:func:`fude.runtime.set_threads`), instead of waiting a moment for a reading of its own."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import NamedTuple


class CoreSample(NamedTuple):
    """One reading: when (``time.monotonic``, seconds), the cores' ``{core: (idle + I/O-wait
    ticks, all ticks)}`` since boot, and this process's CPU seconds (``time.process_time``)."""

    monotonic: float
    ticks: dict[int, tuple[int, int]]
    process_time: float

    def busy_ticks(self) -> int:
        """The cores' busy ticks since boot (all time less idle and I/O wait), summed."""
        return sum(every - idle for idle, every in self.ticks.values())


def usable_cores() -> list[int]:
    """The cores this process may run on."""
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))


def core_ticks(cores: list[int]) -> dict[int, tuple[int, int]]:
    """{core: (idle + I/O-wait ticks, all ticks)} since boot for ``cores``, from ``/proc/stat``.

    Raises:
        OSError, ValueError, IndexError: no readable ``/proc/stat``.
    """
    out = {}
    for line in Path("/proc/stat").read_text().splitlines():
        name, *values = line.split()
        if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cores:
            ticks = [int(v) for v in values[:8]]
            out[int(name[3:])] = (ticks[3] + ticks[4], sum(ticks))  # idle + iowait, all
    return out


def sample(cores: list[int] | None = None) -> CoreSample | None:
    """A reading of ``cores`` (default: the usable cores) now (None where ``/proc/stat`` cannot be
    read)."""
    try:
        ticks = core_ticks(usable_cores() if cores is None else cores)
    except (OSError, ValueError, IndexError):
        return None
    return CoreSample(time.monotonic(), ticks, time.process_time())


def free_cores(seconds: float = 0.05, since: CoreSample | None = None) -> float:
    """How many of the cores this process may use are not taken by other programs, measured over
    at least ``seconds``: from ``since`` (a :func:`sample` taken earlier, e.g. at start-up) to now,
    after sleeping whatever of ``seconds`` has not yet passed since it; without ``since``, over the
    next ``seconds``. Per core, idle and I/O-wait time against all time (``/proc/stat``), plus this
    process's own CPU time (``time.process_time``): its threads' work does not make a core
    unavailable to it. The count of usable cores where that cannot be read."""
    cores = usable_cores()
    start = since if since is not None else sample()
    if start is None or sorted(start.ticks) != cores:
        return float(len(cores))
    time.sleep(max(0.0, seconds - (time.monotonic() - start.monotonic)))
    end = sample()
    if end is None or sorted(end.ticks) != cores:
        return float(len(cores))
    idle = 0.0
    for c in cores:
        d_idle, d_all = end.ticks[c][0] - start.ticks[c][0], end.ticks[c][1] - start.ticks[c][1]
        idle += d_idle / d_all if d_all > 0 else 1.0
    elapsed = end.monotonic - start.monotonic
    own = (end.process_time - start.process_time) / elapsed if elapsed > 0 else 0.0
    return min(float(len(cores)), idle + own)
