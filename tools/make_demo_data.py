"""Build the small KMNIST sample shipped in the package (``kmnist-sample``) and the example images.

The sample is a stratified draw from the KMNIST dev images of the data mirror: 120 training and
30 test images per class, in the official npz layout. Run from the repository root:

    FUDE_DATA_DIR=../shared/data python tools/make_demo_data.py
"""

import json
from pathlib import Path

import numpy as np
from PIL import Image

import fude

RES = Path(__file__).resolve().parents[1] / "src" / "fude" / "resources"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
TRAIN_PER_CLASS, TEST_PER_CLASS = 120, 30

dev = fude.load_dataset("kmnist", split="dev")
rng = np.random.default_rng(0)
train_idx, test_idx = [], []
for c in range(len(dev.class_map)):
    idx = rng.permutation(np.flatnonzero(dev.labels == c))
    train_idx += list(idx[:TRAIN_PER_CLASS])
    test_idx += list(idx[TRAIN_PER_CLASS: TRAIN_PER_CLASS + TEST_PER_CLASS])
for split, idx in (("train", np.sort(train_idx)), ("test", np.sort(test_idx))):
    np.savez_compressed(RES / f"kmnist-sample-{split}-imgs.npz", dev.images[idx])
    np.savez_compressed(RES / f"kmnist-sample-{split}-labels.npz", dev.labels[idx].astype(np.uint8))

# example files for `fude predict`: dark ink on light paper, 10x larger than the dataset images
EXAMPLES.mkdir(exist_ok=True)
for c in (0, 7):  # お and や from the sample's test split
    i = test_idx[c * TEST_PER_CLASS]
    img = Image.fromarray(255 - dev.images[i]).resize((280, 280), Image.BICUBIC)
    img.save(EXAMPLES / f"kmnist-{dev.class_map.char(c)}.png")
mnist = fude.load_dataset("mnist", split="test")
Image.fromarray(255 - mnist.images[0]).resize((200, 200), Image.BICUBIC).save(EXAMPLES / f"mnist-{mnist.labels[0]}.png")
print("wrote", sorted(p.name for p in RES.glob("kmnist-sample-*")), sorted(p.name for p in EXAMPLES.iterdir()))

# example drawings for `fude predict-strokes`: synthetic handwriting from KanjiVG (a seed no
# training set uses), on a 300x300 canvas, one in fude's JSON and one in the drawing app's layout
from fude.datasets import stroke_source  # noqa: E402
from fude.strokes.kanjivg import load_kanjivg  # noqa: E402
from fude.strokes import Character, write_json  # noqa: E402
from fude.strokes.synth import vary  # noqa: E402

kanjivg = load_kanjivg(str(stroke_source("kanjivg-hiragana")))
for n, c in enumerate("あね"):
    drawn = vary(kanjivg[c], np.random.default_rng(2026 + n))
    write_json(EXAMPLES / f"strokes-{c}.json", Character([s * 240 + 30 for s in drawn], c, {"width": 300, "height": 300}))
app = {str(k + 1): np.column_stack([s[:, 0] * 1.6 - 0.8, 0.8 - s[:, 1] * 1.6]).round(4).tolist()
       for k, s in enumerate(vary(kanjivg["き"], np.random.default_rng(2030)))}
(EXAMPLES / "strokes-き-app-layout.json").write_text(json.dumps(app))
print("wrote", sorted(p.name for p in EXAMPLES.glob("strokes-*")))
