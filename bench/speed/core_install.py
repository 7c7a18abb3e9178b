"""The core install (reading only: `pip install fude`, no extras) in a fresh virtual environment:
its size on disk, that PyTorch and SciPy are absent, and that `fude predict-strokes --json
examples/strokes-あ.json` reads あ there, with that command's wall time.

    .venv/bin/python bench/speed/core_install.py [--python python3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import save_results  # noqa: E402


def size_mib(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink()) / 2**20


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--python", default="python3", help="the Python that makes the virtual environment")
    p.add_argument("--runs", type=int, default=5, help="timed runs of fude predict-strokes")
    args = p.parse_args()
    venv = Path(tempfile.mkdtemp()) / "core"
    try:
        subprocess.run([args.python, "-m", "venv", str(venv)], check=True)
        t0 = time.perf_counter()
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(REPO)], check=True,
                       stderr=subprocess.DEVNULL)
        install_s = time.perf_counter() - t0
        absent = {m: subprocess.run([str(venv / "bin" / "python"), "-c", f"import {m}"],
                                    capture_output=True).returncode != 0 for m in ("torch", "scipy", "sklearn")}
        site = next((venv / "lib").glob("python*/site-packages"))
        biggest = sorted(((size_mib(d), d.name) for d in site.iterdir() if d.is_dir()), reverse=True)[:6]
        walls, answer = [], None
        for _ in range(args.runs):
            t0 = time.perf_counter()
            out = subprocess.run([str(venv / "bin" / "fude"), "predict-strokes", "--json", "examples/strokes-あ.json"],
                                 capture_output=True, text=True, cwd=REPO, check=True).stdout
            walls.append(time.perf_counter() - t0)
            answer = json.loads(out)[0]["top"][0]["char"]
        total = size_mib(venv)
    finally:
        shutil.rmtree(venv.parent, ignore_errors=True)
    rows = [{"package": name, "mib": round(mib, 1)} for mib, name in biggest]
    print(f"core venv {total:.0f} MiB; absent: {absent}; reads {answer}; predict-strokes wall "
          f"median {sorted(walls)[len(walls) // 2]:.2f} s")
    save_results("core_install", rows, venv_mib=round(total, 1), torch_absent=absent["torch"],
                 scipy_absent=absent["scipy"], sklearn_absent=absent["sklearn"], reads=answer,
                 predict_strokes_median_s=round(sorted(walls)[len(walls) // 2], 3), install_s=round(install_s, 1))


if __name__ == "__main__":
    main()
