"""Score stroke recognizers on every script: Tomoe's one-writer templates (real drawings, turning
points only) and fresh synthetic drawings, per script, and time one drawing on one CPU thread.

- tomoe: ``<data>/tomoe/all.tdic`` (3,048 characters: 2,984 kanji, 47 hiragana, 6 katakana; one
  writer), read as drawn, script filter ``all``; characters a model does not read are left out of
  its score (counted in ``unknown``);
- synthetic: ``--per-char`` drawings of every character the model reads, from seed 1000 (training
  sets use other seeds), drawn by :mod:`fude.strokes.synth` from the KanjiVG templates; small kana
  are left out (drawn without a canvas they are their full-size forms);
- a twin drawn the same in another script (へ/ヘ, カ/力, ...: ``fude.scripts.TWINS``) counts as right;
- latency: ``Recognizer.predict_strokes`` on one drawing, ``torch.set_num_threads(1)``, p50 and p90
  over ``--latency`` Tomoe kanji (the same figure on each of a model's rows).

    FUDE_DATA_DIR=../shared/data .venv/bin/python bench/accuracy/ja_eval.py [--models ja,hiragana] [--per-char 1]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import save_results, table  # noqa: E402

import fude  # noqa: E402
from fude.datasets import default_data_dir  # noqa: E402
from fude.scripts import script, twins  # noqa: E402
from fude.strokes import load_tomoe  # noqa: E402
from fude.strokes.kanjivg import load_templates  # noqa: E402
from fude.scripts import SMALL_KANA  # noqa: E402
from fude.strokes.synth import SynthConfig, drawing  # noqa: E402

SCRIPTS = ("hiragana", "katakana", "kanji")


def score(rec, drawings: list[tuple[str, list, dict | None]]) -> dict:
    """top-1 and top-5 per script (twins count) over (label, strokes, canvas) triples."""
    known = set(rec.class_map.chars)
    out: dict = {}
    for sc in SCRIPTS:
        mine = [d for d in drawings if script(d[0]) == sc and d[0] in known]
        if not mine:
            continue
        h1 = h5 = 0
        for label, strokes, canvas in mine:
            top = [g["char"] for g in rec.predict_strokes(strokes, k=5, canvas=canvas)]
            ok = set(twins(label))
            h1 += top[0] in ok
            h5 += bool(ok & set(top))
        out[sc] = {"n": len(mine), "top1": h1 / len(mine), "top5": h5 / len(mine)}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="ja", help="comma-separated shipped models or run folders")
    p.add_argument("--per-char", type=int, default=1, help="synthetic drawings per character (0: none)")
    p.add_argument("--latency", type=int, default=200, help="drawings to time")
    p.add_argument("--data-dir")
    args = p.parse_args()
    torch.set_num_threads(1)
    data = default_data_dir(args.data_dir)
    tomoe = [(c.label, c.strokes, c.canvas) for c in load_tomoe(data)]
    templates = load_templates(data_dir=data)
    rows = []
    for name in args.models.split(","):
        rec = fude.load_model(name)
        known = set(rec.class_map.chars)
        on_tomoe = score(rec, tomoe)
        on_synth = {}
        if args.per_char:
            synth = []
            for i, c in enumerate(rec.class_map.chars):
                if c in templates and c not in SMALL_KANA:  # a small kana is its full-size form, smaller
                    for j in range(args.per_char):
                        strokes, _ = drawing(templates[c], 1000, i, j, SynthConfig())
                        synth.append((c, [s * 300 for s in strokes], None))
            on_synth = score(rec, synth)
        kanji = [d for d in tomoe if script(d[0]) == "kanji"][: args.latency] or tomoe[: args.latency]
        times = []
        for label, strokes, canvas in kanji:
            t = time.perf_counter()
            rec.predict_strokes(strokes, k=5, canvas=canvas)
            times.append((time.perf_counter() - t) * 1000)
        for sc in SCRIPTS:
            if sc not in on_tomoe and sc not in on_synth:
                continue
            t, y = on_tomoe.get(sc, {}), on_synth.get(sc, {})
            rows.append({"model": Path(name).name, "classes": len(known), "script": sc, "tomoe_n": t.get("n", 0),
                         "tomoe_top1": t.get("top1", None), "tomoe_top5": t.get("top5", None),
                         "synth_n": y.get("n", 0), "synth_top1": y.get("top1", None),
                         "synth_top5": y.get("top5", None),
                         "p50_ms": float(np.percentile(times, 50)), "p90_ms": float(np.percentile(times, 90))})
            print(rows[-1], flush=True)
    print(table(rows))
    save_results("ja_eval-" + "+".join(Path(m).name for m in args.models.split(",")), rows, per_char=args.per_char,
                 threads=1, tomoe_characters=len(tomoe))


if __name__ == "__main__":
    main()
