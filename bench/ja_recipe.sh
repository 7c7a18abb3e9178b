#!/usr/bin/env bash
# The training recipe of the shipped `ja` model (every kana and kanji KanjiVG draws: 6,600 classes),
# end to end: synthetic drawings from the KanjiVG templates (standard and variant forms; 30 of each
# kanji, 300 of each kana: kana are most of what people write, and the drawings they most confuse), then a
# 32-pixel fude-cnn-l with a 384-wide neck. Run from the repository root with the data mirror:
#     FUDE_DATA_DIR=../shared/data bash bench/ja_recipe.sh [runs/ja]      (EPOCHS=N to change the 6 epochs)
# Writes runs/ja-data (drawings; resumable) and the model folder (default runs/ja), and the
# seconds each step took to <out>/recipe_seconds.txt.
set -euo pipefail
OUT=${1:-runs/ja}
FUDE=${FUDE:-.venv/bin/fude}
mkdir -p "$OUT"
t0=$(date +%s)
$FUDE synth --script all --per-char 30 --kana-per-char 300 --size 32 --seed 0 --name ja --out "$OUT-data"
t1=$(date +%s)
$FUDE train --images "$OUT-data/ja-imgs.npz" --labels "$OUT-data/ja-labels.npz" --classmap "$OUT-data/ja_classmap.csv" \
    --arch fude-cnn-l --model-config '{"neck": 384}' --epochs "${EPOCHS:-6}" --val-split 0.05 --seed 0 --out "$OUT" --overwrite
t2=$(date +%s)
echo "synth_s $((t1 - t0)) train_s $((t2 - t1)) total_s $((t2 - t0))" | tee "$OUT/recipe_seconds.txt"
