#!/usr/bin/env bash
# fude on a lent GPU machine, in one call of under 8 minutes (device tool; see its README):
#   the fast MNIST recipe (train + test in one command), `fude evaluate` throughput, one KMNIST
#   cross-validation fold of the shipped recipe and a short stroke-model training; where the host's
#   CPU has AMX, the fast recipe in bf16 on the CPU and its step profile; then one table.
# The machine has python3 with PyTorch (CUDA), NumPy, SciPy, scikit-learn, safetensors, Pillow, tqdm,
# onnxruntime; nothing can be fetched there. What fude needs beyond that travels as wheels in .whl/
# (svg.path, for KanjiVG strokes) and the data in .gpu-data/ (the mirror does not travel):
#   here:  bench/gpu.sh --prepare     (downloads the wheels, copies the data; both git-ignored)
#   there: run(command="bench/gpu.sh", carry=[".whl", ".gpu-data"], timeout_s=540)
set -uo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--prepare" ]; then
    grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
    grep -qx '/.gpu-data/' .git/info/exclude 2>/dev/null || echo '/.gpu-data/' >> .git/info/exclude
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux2014_x86_64 --platform any -d .whl "svg.path>=6"
    src=${FUDE_DATA_DIR:-../shared/data}
    mkdir -p .gpu-data/mnist .gpu-data/kmnist
    cp "$src"/mnist/*.gz .gpu-data/mnist/ && cp "$src"/kmnist/kmnist-dev-*.npz .gpu-data/kmnist/
    cp -r "$src"/kanjivg_hiragana .gpu-data/
    du -sh .whl .gpu-data
    exit 0
fi
PY=${PY:-python3}
if ls .whl/*.whl >/dev/null 2>&1; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        && export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD/src:${PYTHONPATH:-} FUDE_DATA_DIR=${FUDE_DATA_DIR:-$PWD/.gpu-data} PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp/fude-gpu}
mkdir -p "$OUT"
touch /tmp/fude-gpu-started  # the results files written after this are this run's (the tree holds older ones)
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0))"
step() { echo "=== $*"; timeout 300 "$@" || echo "FAILED ($?): $*"; }
# 1. raw MNIST files -> 99% test accuracy, train + test in one command, 3 seeds (bench/common.py FAST_RECIPE)
mapfile -t FAST < <($PY -c 'import sys; sys.path.insert(0, "bench"); from common import FAST_RECIPE; print(*FAST_RECIPE, sep="\n")')
TIMEFORMAT='wall %R s'
for seed in 0 1 2; do
    echo "=== fast recipe, seed $seed"
    time $PY -m fude train --dataset mnist "${FAST[@]}" --test-split test --quiet --json --seed $seed \
        --out /tmp/fast-$seed > "$OUT/fast-$seed.json" || echo "FAILED: fast recipe, seed $seed"
done
# 2. inference throughput, 3. one fold of the shipped KMNIST recipe, 4. a short stroke-model training
step $PY bench/speed/evaluate_speed.py
step $PY bench/accuracy/kmnist_cv.py --methods fude --max-folds 1
step $PY bench/experiments/stroke_models.py --per-char 100 --test-per-char 10 --epochs 3 --archs stroke-conv1d,fude-cnn-l
# 5. where the host's CPU has AMX: the fast recipe trained in bf16 on the CPU (its share of the
#    measured bf16 matmul peak) and the training step's profile
if grep -qw amx_bf16 /proc/cpuinfo; then
    CUDA_VISIBLE_DEVICES= step $PY bench/speed/mnist_speed.py --recipe fast --seeds 2
    CUDA_VISIBLE_DEVICES= step $PY bench/speed/step_profile.py --steps 20
else
    echo "=== no AMX on this CPU: the bf16 CPU check skipped"
fi
find bench/results -name '*.json' -newer /tmp/fude-gpu-started -exec cp {} "$OUT"/ \;
$PY - "$OUT" <<'PY'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
print("\n| what | figure |\n|---|---|")
for f in sorted(out.glob("fast-*.json")):
    try:
        r = json.loads(f.read_text())
        print(f"| fast recipe {f.stem}: training s, test accuracy | {r['seconds']:.2f}, {r['test']['accuracy']:.4f} |")
    except (ValueError, KeyError):
        print(f"| {f.stem} | failed |")
for name in ("evaluate_speed", "kmnist_cv-fude-first1", "stroke_models", "mnist_speed-fast", "step_profile"):
    f = out / f"{name}.json"
    if f.exists():
        for row in json.loads(f.read_text())["rows"]:
            print(f"| {name} | {json.dumps(row)} |")
PY
