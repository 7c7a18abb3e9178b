"""Run a named suite of benchmarks, each writing ``bench/results/<name>.json``, then write their
figures into the README and docs/ (``bench/readme.py``).

The benchmarks live in folders by purpose, and each folder is a suite:

    speed/        training and reading speed, start-up, the core install
    serving/      the server under load, the drawing page's latency
    robustness/   kill-and-resume, schema fuzzing
    accuracy/     the shipped models on real and generated drawings, cross-validation
    experiments/  questions answered once (architectures, fine-tuning, class weighting, ...)

``all`` runs every suite, in that order (timings first, on an otherwise idle machine: figures
drift with load; about 3 hours on a 2-core CPU).

    FUDE_DATA_DIR=../shared/data .venv/bin/python bench/run.py speed [serving ...] [--list]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent

# suite -> the runs of its scripts (script name in the suite's folder, then its arguments)
SUITES: dict[str, list[list[str]]] = {
    "speed": [
        ["mnist_speed", "--recipe", "fast", "fast-28", "fast-bn", "fast-wide", "fast-pool", "--seeds", "5"],
        ["step_profile"],
        ["mnist_speed", "--recipe", "default", "default-s2d", "--seeds", "2"],
        ["evaluate_speed"],
        ["auto_precision"],
        ["strokes_latency", "--model", "hiragana"],
        ["strokes_latency", "--model", "hiragana-seq"],
        ["strokes_latency", "--model", "ja", "--n", "300"],
        ["strokes_latency", "--model", "ja", "--n", "300", "--backend", "torch"],
        ["costly_drawing"],
        ["writer_speed"],
        ["cold_start", "--runs", "5"],
        ["core_install"],
        ["contention", "--rounds", "3"],
        ["scale", "--rounds", "2", "--malloc", "both"],
        ["ddp"],
    ],
    "serving": [
        ["serve_load", "--clients", "1,8,32", "--workers", "1,2", "--seconds", "20", "--name", "serve_load-sweep"],
        ["serve_load", "--clients", "32", "--seconds", "60", "--interval-ms", "500", "--name", "serve_load-paced"],
        ["page_latency", "--rounds", "20"],
        ["page_latency", "--model", "ja", "--rounds", "5"],
        ["page_latency", "--model", "ja", "--rounds", "5", "--screen", "phone"],
    ],
    "robustness": [
        ["kill_resume", "--rounds", "10", "--kills", "4"],
        ["schema_fuzz", "--seconds", "600"],
        ["storm", "--seconds", "20"],
    ],
    "accuracy": [
        ["real_drawings", "bench/data/tomoe-hiragana", "--misses"],
        ["kmnist_cv", "--methods", "fude", "keras-cnn", "knn"],
        ["ja_tune", "--model", "ja"],
        ["mediotaku", "--model", "ja", "--misses"],
        ["writer_replay", "--grid", "--plot", "docs/writer-replay.png"],
        ["ja_eval", "--models", "ja,ja-seq", "--per-char", "1"],
        ["line_reading", "--lines", "150"],
    ],
    "experiments": [
        ["arch"],
        ["compile_speed"],
        ["ja_arch"],
        ["finetune"],
        ["imbalanced"],
        ["stroke_models"],
        ["stroke_models", "--archs", "stroke-conv1d,fude-cnn-l", "--reorder", "0.5", "--reverse", "0.25"],
    ],
}
ORDER = list(SUITES)


def commands(suite: str, python: str, st: str) -> list[list[str]]:
    """The command lines of ``suite`` (``all``: every suite in :data:`ORDER`)."""
    out = []
    for name in ORDER if suite == "all" else [suite]:
        for script, *args in SUITES[name]:
            extra = ["--st", st] if script == "schema_fuzz" else []
            out.append([python, f"bench/{name}/{script}.py", *args, *extra])
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("suites", nargs="+", choices=[*ORDER, "all"], help="the suites to run, in order")
    p.add_argument("--python", default=sys.executable, help="the Python that runs the benchmarks (fude's venv)")
    p.add_argument("--st", default="st", help="the Schemathesis command, for robustness/schema_fuzz.py "
                   "(a separate venv: python3 -m venv /tmp/st && /tmp/st/bin/pip install schemathesis)")
    p.add_argument("--list", action="store_true", help="print the commands, run nothing")
    p.add_argument("--no-readme", action="store_true", help="do not rewrite the docs' figures afterwards")
    args = p.parse_args()
    todo = [c for s in args.suites for c in commands(s, args.python, args.st)]
    if args.list:
        print("\n".join(" ".join(c) for c in todo))
        return 0
    failed = []
    for cmd in todo:
        if "schema_fuzz" in cmd[1] and not shutil.which(args.st):
            print(f"=== skipped {cmd[1]}: no Schemathesis command {args.st!r} (--st)", flush=True)
            failed.append(" ".join(cmd[1:]))
            continue
        print(f"=== {' '.join(cmd[1:])}", flush=True)
        t0 = time.perf_counter()
        if subprocess.run(cmd, cwd=ROOT).returncode != 0:
            failed.append(" ".join(cmd[1:]))
        print(f"=== {time.perf_counter() - t0:.0f} s", flush=True)
    if not args.no_readme:
        subprocess.run([args.python, str(BENCH / "readme.py")], cwd=ROOT)
    if failed:
        print("not done:\n  " + "\n  ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
