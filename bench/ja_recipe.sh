#!/usr/bin/env bash
# The training recipe of the shipped `ja` model (every kana and kanji KanjiVG draws: 6,600 classes)
# and its companion `ja-seq`, end to end: synthetic drawings from the KanjiVG templates (standard
# and variant forms; 30 of each kanji, 300 of each kana: kana are most of what people write, and the
# drawings they most confuse), then
#   - `ja`: a 32-pixel fude-cnn-l with a 384-wide neck, on the drawings as images;
#   - `ja-seq`: a stroke-conv1d on the same characters as 128-point sequences, half of them in a
#     random stroke order and a quarter of the strokes reversed;
# and `ja`'s config names `ja-seq` its companion (predict_strokes averages the two, weight 0.5).
# Run from the repository root with the data mirror:
#     FUDE_DATA_DIR=../shared/data bash bench/ja_recipe.sh [runs/ja]      (EPOCHS=N to change the 6 epochs)
# Writes runs/ja-data and runs/ja-seq-data (drawings; resumable), the model folders runs/ja and
# runs/ja-seq, and the seconds each step took to runs/ja/recipe_seconds.txt.
set -euo pipefail
OUT=${1:-runs/ja}
FUDE=${FUDE:-.venv/bin/fude}
PY=${PY:-.venv/bin/python}
mkdir -p "$OUT"
t0=$(date +%s)
$FUDE synth --script all --per-char 30 --kana-per-char 300 --size 32 --seed 0 --name ja --out "$OUT-data"
t1=$(date +%s)
$FUDE train --images "$OUT-data/ja-imgs.npz" --labels "$OUT-data/ja-labels.npz" --classmap "$OUT-data/ja_classmap.csv" \
    --arch fude-cnn-l --model-config '{"neck": 384}' --epochs "${EPOCHS:-6}" --val-split 0.05 --seed 0 --out "$OUT" --overwrite
t2=$(date +%s)
$FUDE synth --script all --per-char 30 --kana-per-char 300 --sequences 128 --reorder 0.5 --reverse 0.25 --seed 0 \
    --name jaseq --out "$OUT-seq-data"
t3=$(date +%s)
$FUDE train --sequences "$OUT-seq-data/jaseq-seqs.npz" --labels "$OUT-seq-data/jaseq-labels.npz" \
    --classmap "$OUT-seq-data/jaseq_classmap.csv" --arch stroke-conv1d --epochs "${EPOCHS:-6}" --val-split 0.05 --seed 0 \
    --out "$OUT-seq" --overwrite
t4=$(date +%s)
# the companion: a folder name relative to the model's own folder, or a shipped model's name
$PY - "$OUT" "$(basename "$OUT-seq")" <<'PYEOF'
import json, sys
from pathlib import Path
config = Path(sys.argv[1]) / "config.json"
c = json.loads(config.read_text(encoding="utf-8"))
c["companion"] = {"model": "../" + sys.argv[2], "weight": 0.5}
config.write_text(json.dumps(c, indent=1, ensure_ascii=False), encoding="utf-8")
PYEOF
echo "synth_s $((t1 - t0)) train_s $((t2 - t1)) synth_seq_s $((t3 - t2)) train_seq_s $((t4 - t3)) total_s $((t4 - t0))" \
    | tee "$OUT/recipe_seconds.txt"
