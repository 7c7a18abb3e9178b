#!/usr/bin/env bash
# Every benchmark the README and docs/ quote, one after another, each writing bench/results/<name>.json;
# then bench/readme.py writes their figures into the README and docs/.
# Run on an otherwise idle machine (timings drift with load): about 2.5 hours on a 2-core CPU.
#   FUDE_DATA_DIR=../shared/data bench/run_all.sh [python]
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${1:-.venv/bin/python}
export FUDE_DATA_DIR=${FUDE_DATA_DIR:-$(cd .. && pwd)/shared/data}
run() { echo "=== $*"; "$PY" "$@" || echo "FAILED: $*"; }
# speed: timings first, while nothing else runs
run bench/mnist_speed.py --recipe fast fast-28 fast-bn fast-wide fast-pool --seeds 5
run bench/step_profile.py
run bench/mnist_speed.py --recipe default default-s2d --seeds 2
run bench/evaluate_speed.py
run bench/auto_precision.py
run bench/strokes_latency.py --model hiragana
run bench/strokes_latency.py --model hiragana-seq
run bench/contention.py --rounds 3
run bench/scale.py --rounds 2 --malloc both
run bench/arch.py
run bench/compile_speed.py
run bench/serve_load.py --seconds 60 --interval-ms 500
run bench/serve_load.py --seconds 60 --interval-ms 500 --workers 2
run bench/serve_load.py --seconds 30
run bench/page_latency.py --rounds 20
run bench/ddp.py
# robustness
run bench/kill_resume.py --rounds 8 --kills 4
# accuracy
run bench/real_drawings.py bench/data/tomoe-hiragana --misses
run bench/finetune.py
run bench/imbalanced.py
run bench/stroke_models.py
run bench/stroke_models.py --archs stroke-conv1d,fude-cnn-l --reorder 0.5 --reverse 0.25
run bench/kmnist_cv.py --methods fude keras-cnn knn
run bench/ja_tune.py --model ja
run bench/ja_eval.py --models ja,ja-seq --per-char 1
run bench/readme.py
