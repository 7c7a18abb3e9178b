"""Tune `ja`'s reading settings on one half of each validation source and report on the other.

Validation sources (none is ever trained on):
- ``tomoe``: Tomoe's templates (one neat writer, each stroke kept as its turning points);
- ``casual``: synthetic drawings in a casual hand, stronger than the training recipe's (every
  casual variation of ``fude.strokes.synth.SynthConfig`` on: strokes joined, merged and split, dots
  simplified, components squeezed, slanted, rounded corners, sparse points; seed 5000, which no
  training set uses), of the kanji taught in school (KANJIDIC2 grades 1-6) and every kana, 3 each;
- ``finger``: synthetic hiragana and katakana drawn as with a finger on glass (wide, wobbly,
  jittery), 3 each;
- ``font``: a handwriting font held out of training (default: Aoyagi Sōseki, Natsume Sōseki's
  hand; `fonts-aoyagi-soseki`), its glyphs thinned to a pen's width; read by the image network
  alone (a font has no strokes), with the priors.
- ``crowd``: real casual pictures drawn on a web canvas by many people (Mediotaku,
  `fude.datasets.load_pictures`), read as `fude predict` reads a picture: the image network alone,
  small kana by the share of the picture the ink spans, with the priors. Split by submission (its
  own ``tune`` and ``report`` halves: other writers), not by character.

Each other source is split by character (CRC-32 of the character, even: ``tune``, odd: ``report``),
fixed for every run. The grid of settings (companion weight per script, frequency prior, hiragana and
uncommon-kanji factors, extra-stroke factor and slack) is scored on the tune halves (the mean top-1
over the kanji groups, the finger-drawn kana, the other kana pooled and the crowd's pictures); the chosen settings, the
model's own settings and an ablation (one change at a time from no settings at all) are then
reported on both halves: the report half's figures are the ones to quote. Twins count as right.

    FUDE_DATA_DIR=../shared/data .venv/bin/python bench/accuracy/ja_tune.py --model runs/ja [--companion runs/ja-seq] \
        [--write]    # --write: save the chosen settings into the model folder (fude configure)
"""

from __future__ import annotations

import argparse
import itertools
import sys
import zlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import save_results, table  # noqa: E402

import fude  # noqa: E402
from fude.datasets import default_data_dir  # noqa: E402
from fude.datasets.fonts import font_images, font_name  # noqa: E402
from fude.recognizer import RecognizerConfig, StrokeCount, extra_strokes, rescorers, save_recognizer_config, \
    split_small_kana  # noqa: E402
from fude.scripts import SMALL_KANA, kanjidic, script, twins  # noqa: E402
from fude.strokes import check_strokes, load_tomoe  # noqa: E402
from fude.strokes.kanjivg import load_templates  # noqa: E402
from fude.strokes.synth import SynthConfig, drawing  # noqa: E402

CASUAL = SynthConfig(join=0.4, split=0.15, merge=0.5, dots=0.5, squeeze=0.3, slant=12, cursive=0.3, quick=0.3,
                     part_scale=0.25, part_shift=0.05, hook=0.6)
FINGER = SynthConfig(finger=1.0, join=0.2, quick=0.2)
HELD_OUT_FONT = "/usr/share/fonts/truetype/aoyagi-soseki/aoyagi-soseki.ttf"


def half(char: str) -> str:
    """Which half of every validation source a character is in: ``tune`` or ``report``."""
    return "tune" if zlib.crc32(char.encode()) % 2 == 0 else "report"


def group_of(source: str, label: str) -> str:
    return f"{source}_{'kanji' if script(label) == 'kanji' else 'kana'}"


def drawings(data: Path, chars: tuple[str, ...]) -> list[tuple[str, str, list, dict | None]]:
    """(group, label, strokes, canvas) of the stroke sources."""
    known = set(chars)
    out = [(group_of("tomoe", c.label), c.label, c.strokes, c.canvas)
           for c in load_tomoe(data) if c.label in known]
    dic = kanjidic()
    school = [c for c in chars if script(c) == "kanji" and (dic.get(c) or [None, None])[1] in range(1, 7)]
    kana = [c for c in chars if script(c) in ("hiragana", "katakana") and c not in SMALL_KANA]
    templates = load_templates(data_dir=data, chars="".join(school + kana))
    index = {c: i for i, c in enumerate(chars)}
    canvas = {"width": 300, "height": 300}
    for source, cfg, which in (("casual", CASUAL, school + kana), ("finger", FINGER, kana)):
        for c in which:
            for j in range(3):
                strokes, _ = drawing(templates[c], 5000, index[c], j, cfg)
                out.append((group_of(source, c), c, [s * 240 + 30 for s in strokes], canvas))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="ja", help="image model (shipped name or folder)")
    p.add_argument("--companion", help="sequence model to pair it with (default: the model's own companion)")
    p.add_argument("--font", default=HELD_OUT_FONT, help="the held-out handwriting font ('' : none)")
    p.add_argument("--write", action="store_true", help="save the chosen settings into --model's config.json")
    p.add_argument("--name", default="ja_tune")
    p.add_argument("--grid", choices=["full", "small"], default="full", help="the settings tried (small: around the "
                   "shipped ones)")
    p.add_argument("--cache", help="npz file keeping the networks' probabilities: read when it exists, else written")
    p.add_argument("--no-crowd", dest="crowd", action="store_false", help="leave out Mediotaku's real pictures")
    p.add_argument("--data-dir")
    args = p.parse_args()
    torch.set_num_threads(2)
    data = default_data_dir(args.data_dir)
    rec = fude.load_model(args.model)
    image = fude.Recognizer(rec.net, rec.class_map, RecognizerConfig(box=rec.box))
    seq = fude.load_model(args.companion) if args.companion else rec.companion
    chars = rec.class_map.chars
    if args.cache and Path(args.cache).exists():
        with np.load(args.cache) as z:
            p_img, p_seq = list(z["a"]), [None if not has else b for b, has in zip(z["b"], z["has_b"])]
            n_strokes, meta = list(z["n"]), [tuple(m) for m in z["meta"]]
    else:
        sets = drawings(data, chars)
        print(f"{len(sets)} drawings", flush=True)
        p_img, p_seq, n_strokes, meta = [], [], [], []
        for g, label, strokes, canvas in sets:
            strokes = check_strokes(strokes)
            a = split_small_kana(image.strokes_proba(strokes), rec.class_map, strokes, canvas)
            b = split_small_kana(seq.strokes_proba(strokes), rec.class_map, strokes, canvas) if seq else a
            p_img.append(a)
            p_seq.append(b)
            n_strokes.append(len(strokes))
            meta.append((g, label))
        if args.font:
            x, y = font_images([args.font], list(chars), per_font=1, size=rec.input_size, box=rec.box)
            keep = [i for i, c in enumerate(y) if chars[c] not in SMALL_KANA]
            probs = image.predict_proba(x[keep])
            for pr, c in zip(probs, y[keep]):
                p_img.append(pr)
                p_seq.append(None)  # the companion cannot read a font: the image network alone
                n_strokes.append(0)  # no stroke count: no stroke weighing
                meta.append((group_of("font", chars[c]), chars[c]))
        if args.crowd:
            from fude.datasets import load_pictures
            from fude.datasets.preprocess import load_image, read_picture

            for split in ("tune", "report"):
                pics = load_pictures("mediotaku", split, data)
                read = [read_picture(load_image(f), box=rec.box, frame=rec.input_size, pen=rec.settings.picture_pen)
                        for f in pics.files]
                probs = image.predict_proba(np.stack([x for x, _ in read]))
                for pr, (_, share), c in zip(probs, read, pics.labels):
                    pr = image.reader.image_proba(pr, share)  # small kana by the picture's ink share; no priors yet
                    p_img.append(pr)
                    p_seq.append(None)
                    n_strokes.append(0)
                    meta.append((f"crowd-{split}", c))
        print(f"{len(meta)} scored", flush=True)
        if args.cache:
            np.savez(args.cache, a=np.stack(p_img), b=np.stack([b if b is not None else a for a, b in zip(p_img, p_seq)]),
                     has_b=np.array([b is not None for b in p_seq]), n=np.array(n_strokes), meta=np.array(meta))
    scripts = np.array([script(c) for c in chars])
    labels = np.array([label_of for _, label_of in meta])
    groups = np.array(["crowd" if g.startswith("crowd-") else g for g, _ in meta])
    halves = np.array([g[len("crowd-"):] if g.startswith("crowd-") else half(c) for (g, _), c in zip(meta, labels)])
    right = np.zeros((len(meta), len(chars)), bool)  # the truth and its twins
    index = {c: i for i, c in enumerate(chars)}
    for r, c in enumerate(labels):
        right[r, [index[t] for t in twins(c) if t in index]] = True
    A = np.stack(p_img).astype(np.float32)
    B = np.stack([b if b is not None else a for a, b in zip(p_img, p_seq)]).astype(np.float32)  # a font: A alone
    strokes_drawn = np.array(n_strokes)  # 0 for a font's glyph: no stroke weighing

    halves_cache: dict = {}

    def rows_of(which: str, slack: float):
        """The arrays of one half, worked out once: image and companion probabilities (as a, b - a),
        truth, groups, and the drawings' extra strokes over each class's allowance for ``slack``."""
        key = (which, slack)
        if key not in halves_cache:
            rows = halves == which
            allowed = StrokeCount(chars, 0.5, slack).allowed  # the rescorer's own allowance per class
            extra = extra_strokes(allowed, strokes_drawn[rows][:, None]).clip(0, 60).astype(np.int8)
            halves_cache[key] = (A[rows], B[rows] - A[rows], right[rows], groups[rows], extra)
        return halves_cache[key]

    def evaluate(cfg: RecognizerConfig, which: str) -> dict:
        """top-1 and top-5 per group on one half (a twin of the truth counts as right)."""
        a, d, ok, g_rows, extra = rows_of(which, cfg.stroke_slack)
        probs = a + mix_of(cfg) * d if seq is not None else a.copy()
        w = np.ones(len(chars), np.float32)
        for part in rescorers(chars, cfg):
            if hasattr(part, "weights"):
                w = w * part.weights.astype(np.float32)
        probs *= w
        if cfg.extra_stroke_factor != 1.0:
            probs *= (cfg.extra_stroke_factor ** np.arange(61, dtype=np.float32))[extra]
        top5 = np.argpartition(-probs, 5, axis=1)[:, :5]
        hit1 = ok[np.arange(len(probs)), probs.argmax(1)]
        hit5 = np.take_along_axis(ok, top5, 1).any(1)
        out = {}
        for g in sorted(set(g_rows)):
            m = g_rows == g
            out[g] = (float(hit1[m].mean()), float(hit5[m].mean()), int(m.sum()))
        return out

    def mix_of(cfg: RecognizerConfig) -> np.ndarray:
        return np.array(cfg.companion_weights(list(scripts)), np.float32)

    def objective(res: dict) -> float:
        """The mean top-1 over the kanji groups, the finger-drawn kana and the other kana pooled (the
        neat writer's 47 kana alone would swing the choice by a drawing or two)."""
        pooled = [v for g, v in res.items() if g.endswith("_kana") and g != "finger_kana"]
        kana = sum(t1 * n for t1, _, n in pooled) / max(sum(n for _, _, n in pooled), 1)
        parts = [v[0] for g, v in res.items() if g.endswith("_kanji") or g in ("finger_kana", "crowd")] + [kana]
        return float(np.mean(parts))

    # the settings this grid does not try stay the model's (the picture pen the crowd was read with)
    base = RecognizerConfig(box=rec.box, companion=rec.settings.companion, small_kana_side=rec.settings.small_kana_side,
                            picture_pen=rec.settings.picture_pen)
    grid = []
    small = args.grid == "small"  # around the shipped settings only: a quick check of a retrained model
    for wk, wh, f, u, hira, (e, s) in itertools.product(
            (0.5,) if small else (0.3, 0.5, 0.7), (0.5,) if small else (0.1, 0.3, 0.5),
            (0.3, 0.6) if small else (0, 0.3, 0.6, 1.0), (1.0,) if small else (1.0, 0.5),
            (1.0,) if small else (1.0, 1.3, 1.6),
            ((0.5, 0.0),) if small else ((1.0, 0.0), (0.5, 0.0), (0.5, 0.25), (0.5, 0.5))):
        prior = {k: v for k, v in (("hiragana", hira), ("uncommon-kanji", u)) if v != 1}
        grid.append(replace(base, companion_weight={"kanji": wk, "hiragana": wh, "katakana": wh, "default": wk},
                            frequency_prior=f, script_prior=prior, extra_stroke_factor=e, stroke_slack=s))
    scored = []
    for cfg in grid:
        scored.append((objective(evaluate(cfg, "tune")), cfg))
    scored.sort(key=lambda t: -t[0])
    best = scored[0][1]
    print("best on the tune halves:", scored[0][0], best, flush=True)
    steps = [("no settings (companion 0.5)", base),
             ("model's own settings", replace(rec.settings, box=rec.box)),
             ("+ companion weight per script", replace(base, companion_weight=best.companion_weight)),
             ("+ frequency prior", replace(base, companion_weight=best.companion_weight,
                                           frequency_prior=best.frequency_prior)),
             ("+ script prior (hiragana, uncommon kanji)", replace(
                 base, companion_weight=best.companion_weight, frequency_prior=best.frequency_prior,
                 script_prior=best.script_prior)),
             ("+ stroke-count weighing (chosen)", best)]
    rows = []
    for name, cfg in steps:
        for which in ("tune", "report"):
            res = evaluate(cfg, which)
            row = {"settings": name, "half": which, "mean_top1": round(objective(res), 4)}
            for g, (t1, t5, n) in res.items():
                row[f"{g}_top1"] = round(t1, 4)
                if g.endswith("kanji"):
                    row[f"{g}_top5"] = round(t5, 4)
            rows.append(row)
            print(row, flush=True)
    counts = {g: n for g, (_, _, n) in evaluate(best, "report").items()}
    print(table(rows))
    save_results(args.name, rows, model=args.model, companion=args.companion or rec.settings.companion,
                 chosen=best.to_dict(), report_counts=counts, font=font_name(args.font) if args.font else None)
    if args.write:
        chosen = replace(best, companion=rec.settings.companion if not args.companion else best.companion)
        print("written to", save_recognizer_config(resolve(args.model), chosen))


def resolve(name: str) -> Path:
    from fude.models.store import resolve_model_dir

    return resolve_model_dir(name)


if __name__ == "__main__":
    main()
