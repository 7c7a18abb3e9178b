#!/usr/bin/env bash
# The training recipe of the shipped `ja` model (every kana and kanji KanjiVG draws: 6,600 classes)
# and its companion `ja-seq`, end to end, nothing set by hand:
#   1. drawings generated from the KanjiVG templates (standard and variant forms; 40 of each kanji,
#      300 of each kana), neat and casual mixed: each casual variation of fude.strokes.synth.SynthConfig
#      on with a small chance (strokes joined, merged and split, dots simplified, components
#      squeezed, slanted, running-script corners, sparse points, finger drawing);
#   2. glyphs of five handwriting fonts (Klee, Seto, Kiloji, Kouzan gyōsho and brush), thinned to a
#      pen's width, 2 of each character per font (Aoyagi Sōseki is held out to validate);
#   3. `ja`: a 32-pixel fude-cnn-l with a 384-wide neck on 1 and 2 as images;
#   4. `ja-seq`: a stroke-conv1d on the drawings of 1 as 128-point sequences, half of them in a
#      random stroke order and a quarter of the strokes reversed;
#   5. `fude configure` writes the reading settings into `ja`'s config.json: the companion, its weight
#      per script, the frequency prior, the hiragana factor and the stroke-count weighing, the values
#      bench/accuracy/ja_tune.py chose on the tuning halves of its validation sources (bench/results/ja_tune.json);
#   6. `fude export --in-model` writes each network as model.onnx beside its weights (checked against
#      PyTorch, its sha256 recorded): what reading without PyTorch runs.
# The shipped folders are these runs as tools/ship_model.py makes them (the ONNX file only):
#     python tools/ship_model.py runs/ja-seq ja-seq && python tools/ship_model.py runs/ja ja --companion ja-seq
# Run from the repository root with the data mirror and Debian's fonts (apt-get install fonts-klee
# fonts-seto fonts-kiloji fonts-kouzan-mouhitsu):
#     FUDE_DATA_DIR=../shared/data bash bench/ja_recipe.sh [runs/ja]
# (EPOCHS=N to change `ja`'s 12 epochs, SEQ_EPOCHS=N `ja-seq`'s 12)
# Writes runs/ja-data and runs/ja-seq-data (drawings; resumable), the model folders runs/ja and
# runs/ja-seq, and the seconds each step took to runs/ja/recipe_seconds.txt.
set -euo pipefail
OUT=${1:-runs/ja}
FUDE=${FUDE:-.venv/bin/fude}
FONTS=${FONTS:-/usr/share/fonts/truetype}
CASUAL=(--set join=0.25 --set split=0.1 --set merge=0.2 --set dots=0.3 --set squeeze=0.2 --set slant=10
        --set cursive=0.2 --set quick=0.15 --set finger=0.15 --set part_scale=0.2 --set part_shift=0.04)
mkdir -p "$OUT"
t0=$(date +%s)
$FUDE synth --script all --per-char 40 --kana-per-char 300 --size 32 --seed 0 --name ja --out "$OUT-data" "${CASUAL[@]}" \
    --font "$FONTS/klee/KleeOne-Regular.ttf" --font "$FONTS/seto/setofont.ttf" --font "$FONTS/kiloji/kiloji.ttf" \
    --font "$FONTS/kouzan-mouhitsu/kouzan-mouhitsu-gyosho.ttf" --font "$FONTS/kouzan-mouhitsu/kouzan-mouhitsu.ttf" \
    --per-font 2
t1=$(date +%s)
$FUDE train --images "$OUT-data/ja-imgs.npz" --labels "$OUT-data/ja-labels.npz" --classmap "$OUT-data/ja_classmap.csv" \
    --arch fude-cnn-l --model-config '{"neck": 384}' --epochs "${EPOCHS:-12}" --val-split 0.03 --seed 0 --out "$OUT" --overwrite
t2=$(date +%s)
$FUDE synth --script all --per-char 40 --kana-per-char 300 --sequences 128 --reorder 0.5 --reverse 0.25 --seed 0 \
    --name jaseq --out "$OUT-seq-data" "${CASUAL[@]}"
t3=$(date +%s)
$FUDE train --sequences "$OUT-seq-data/jaseq-seqs.npz" --labels "$OUT-seq-data/jaseq-labels.npz" \
    --classmap "$OUT-seq-data/jaseq_classmap.csv" --arch stroke-conv1d --epochs "${SEQ_EPOCHS:-12}" --val-split 0.03 --seed 0 \
    --out "$OUT-seq" --overwrite
t4=$(date +%s)
# the reading settings, as bench/accuracy/ja_tune.py chose them on the tuning halves (the companion: a folder
# name relative to the model's own folder, or a shipped model's name)
$FUDE configure "$OUT" --companion "../$(basename "$OUT-seq")" --companion-weight 0.7 --companion-weight hiragana=0.5 \
    --companion-weight katakana=0.5 --frequency-prior 0 --script-prior none --script-prior hiragana=1.5 \
    --script-prior uncommon-kanji=0.5 --extra-stroke-factor 0.5 --stroke-slack 0
$FUDE export --model "$OUT-seq" --in-model
$FUDE export --model "$OUT" --in-model
echo "synth_s $((t1 - t0)) train_s $((t2 - t1)) synth_seq_s $((t3 - t2)) train_seq_s $((t4 - t3)) total_s $((t4 - t0))" \
    | tee "$OUT/recipe_seconds.txt"
