"""Helpers shared by the benchmarks: matmul peak, peak memory, a table printer, and the results file
every benchmark writes (``bench/results/<name>.json``: its figures with the command, fude and torch
versions, the machine and the date), which the README quotes."""

from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

import torch

from fude.train import RECIPES

ROOT = Path(__file__).resolve().parents[1]  # the repository
RESULTS = Path(__file__).parent / "results"


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


# the fast MNIST recipe's network (`fude train --recipe fast`, fude.train.RECIPES) and the one before
# its crop (fast-28), as fude-cnn configs, for the benchmarks that train or time them
FAST_NETWORK = RECIPES["fast"]["model_config"]
FAST_28_NETWORK = {"space_to_depth": True, "widths": [16, 16, 64], "first_bn": False}
# the fast recipe spelt out as `fude train`'s options past the data source, as the results files
# record it (tests/test_cli.py checks it is `--recipe fast`)
FAST_RECIPE = ["--epochs", "1", "--batch-size", "256", "--warmup", "0.5", "--no-augment", "--val-split", "0",
               "--lr", "0.4", "--label-smoothing", "0.02", "--model-config", json.dumps(FAST_NETWORK)]


def run_child(cmd: list[str]) -> tuple[str, float, float]:
    """Run ``cmd``; its stdout, wall seconds (start to exit) and its own peak RSS in MiB (from
    ``wait4``: this process, not the largest of all children so far). Exits when it fails."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    out = p.stdout.read()
    p.stdout.close()
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait for it again
    if p.returncode:
        raise SystemExit(f"{' '.join(cmd)} exited {p.returncode}")
    return out, wall, usage.ru_maxrss / 1024


def table(rows: list[dict]) -> str:
    """A Markdown table of ``rows`` (keys of the first row as the header)."""
    keys = list(rows[0])
    out = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for r in rows:
        out.append("| " + " | ".join(_cell(r[k]) for k in keys) + " |")
    return "\n".join(out)


def _cell(v) -> str:
    if v is None:
        return "–"
    if not isinstance(v, float):
        return str(v)
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.4f}" if abs(v) < 1 else f"{v:.4g}"  # accuracies keep their fourth decimal


def machine() -> dict:
    """What the figures were measured on: CPU model, cores this process may use, bf16 support, GPU."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        info = ""
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")),
                 platform.processor())
    from fude.runtime import cpu_has_fast_bf16

    return {"cpu": model, "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "fast_bf16": cpu_has_fast_bf16(), "threads": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)}


def git_commit() -> str | None:
    """The checked-out commit of this repository, with ``+changes`` when the working tree differs
    from it (the figures then belong to the commit that records those changes); None outside git."""
    import subprocess

    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no", "--", "src"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+changes" if dirty else "")


def save_results(name: str, rows: list[dict] | None = None, **summary) -> Path:
    """Write ``bench/results/<name>.json``: the command that ran, fude's and torch's versions, the
    git commit measured (:func:`git_commit`), the machine, the date, ``rows`` (one dict per measured row) and ``summary`` (single figures);
    returns the path. A later run of the same benchmark and options replaces the file."""
    import fude

    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    script = Path(sys.argv[0]).resolve()
    script = script.relative_to(ROOT) if script.is_relative_to(ROOT) else Path("bench") / script.name
    doc = {"benchmark": name, "command": "python " + shlex.join([script.as_posix(), *sys.argv[1:]]),
           "fude_version": fude.__version__, "git_commit": git_commit(), "torch_version": torch.__version__,
           "machine": machine(),
           "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), **summary, "rows": rows or []}
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False, default=str) + "\n")
    print(f"results written to {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    return path
