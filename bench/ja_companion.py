"""How much weight `ja`'s companion should get: the picture network (`ja` without its companion)
and the path network (`ja-seq`) read Tomoe's templates (one writer, real drawings, never trained
on), and their probabilities are mixed with the companion at each weight; top-1 and top-5 per
script, a twin of the truth counting as right. Chose the weight recorded in `ja`'s config.

    FUDE_DATA_DIR=../shared/data .venv/bin/python bench/ja_companion.py [--weights 0 0.2 0.3 0.4 0.5 0.6 1]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import save_results, table  # noqa: E402

import fude  # noqa: E402
from fude.datasets import default_data_dir  # noqa: E402
from fude.recognizer import split_small_kana  # noqa: E402
from fude.scripts import script, twins  # noqa: E402
from fude.strokes import check_strokes, read_tdic  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--image-model", default="ja")
    p.add_argument("--companion", default="ja-seq")
    p.add_argument("--weights", type=float, nargs="+", default=[0, 0.2, 0.3, 0.4, 0.5, 0.6, 1])
    p.add_argument("--data-dir")
    args = p.parse_args()
    torch.set_num_threads(1)
    image, path = fude.load_model(args.image_model), fude.load_model(args.companion)
    image.companion = path.companion = None  # each network alone
    tomoe = read_tdic(default_data_dir(args.data_dir) / "tomoe" / "all.tdic")
    hits: dict = {}
    for c in tomoe:
        if c.label not in image.class_map.chars:
            continue
        strokes = check_strokes(c.strokes)
        a, b = image.strokes_proba(strokes), path.strokes_proba(strokes)
        group = "kanji" if script(c.label) == "kanji" else "kana"
        ok = set(twins(c.label))
        for w in args.weights:
            probs = split_small_kana((1 - w) * a + w * b, image.class_map, strokes, c.canvas, image._small_kana_pairs())
            top = [g["char"] for g in image.top_k(probs[None], 5)[0]]
            h = hits.setdefault((w, group), [0, 0, 0])
            h[0] += top[0] in ok
            h[1] += bool(ok & set(top))
            h[2] += 1
    rows = [{"companion_weight": w, "script": g, "n": n, "top1": h1 / n, "top5": h5 / n}
            for (w, g), (h1, h5, n) in sorted(hits.items())]
    print(table(rows))
    save_results("ja_companion", rows, image_model=args.image_model, companion=args.companion, threads=1)


if __name__ == "__main__":
    main()
