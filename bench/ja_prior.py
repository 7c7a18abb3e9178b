"""The priors of `ja`: how much to favour hiragana in a drawing that could be a katakana or a
kanji as well (り/リ, て/マ, き/モ), common kanji (JIS X 0208 level 1: ``fude.scripts.common_kanji``)
over the 3,448 others, and characters with at least as many strokes as drawn. Each hiragana factor
multiplies every hiragana's probability, each uncommon-kanji factor every other kanji's
(``Recognizer.script_prior``), each extra-stroke factor a character's once per stroke drawn beyond
the most its KanjiVG forms have (``Recognizer.extra_stroke_factor``), before ranking. Scored on
Tomoe's templates (real drawings, never trained on; its kanji are all but one level-1 kanji, so
they show only what the common-kanji prior gains) and on synthetic drawings (seed 2000, 30% of
them in a random stroke order and 10% of strokes reversed: 3 of each kana, 1 of each kanji, common
and uncommon apart) to see what katakana and uncommon kanji lose; twins count as right. One row
per combination of factors, top-1 per group; the drawings per group in the summary.

    FUDE_DATA_DIR=../shared/data .venv/bin/python bench/ja_prior.py [--factors 1 1.5] [--uncommon 1 0.5] \
        [--extra 1 0.5 0.25]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import save_results, table  # noqa: E402

import fude  # noqa: E402
from fude.datasets import default_data_dir  # noqa: E402
from fude.recognizer import extra_strokes, split_small_kana  # noqa: E402
from fude.scripts import SMALL_KANA, common_kanji, prior_factors, script, twins  # noqa: E402
from fude.strokes import check_strokes, read_tdic  # noqa: E402
from fude.strokes.kanjivg import load_templates, most_strokes  # noqa: E402
from fude.strokes.synth import SynthConfig, _drawing  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="ja")
    p.add_argument("--factors", type=float, nargs="+", default=[1, 1.5], help="hiragana factors")
    p.add_argument("--uncommon", type=float, nargs="+", default=[1, 0.5], help="uncommon-kanji factors")
    p.add_argument("--extra", type=float, nargs="+", default=[1, 0.5, 0.25], help="extra-stroke factors")
    p.add_argument("--data-dir")
    args = p.parse_args()
    torch.set_num_threads(1)
    rec = fude.load_model(args.model)
    chars = rec.class_map.chars
    priors = {(f, u): prior_factors(chars, {"hiragana": f, "uncommon-kanji": u})
              for f in args.factors for u in args.uncommon}
    most = most_strokes()
    most = np.array([most.get(c, 0) for c in chars])
    data = default_data_dir(args.data_dir)
    tomoe = [(c.label, c.strokes, c.canvas) for c in read_tdic(data / "tomoe" / "all.tdic") if c.label in chars]
    templates = load_templates(data / "kanjivg" / "kanji")
    synth = []
    for i, c in enumerate(chars):
        if script(c) in ("hiragana", "katakana", "kanji") and c in templates and c not in SMALL_KANA:
            for j in range(3 if script(c) != "kanji" else 1):
                strokes, _ = _drawing(templates[c], 2000, i, j, SynthConfig(reorder=0.3, reverse=0.1))
                synth.append((c, [s * 300 for s in strokes], None))
    hits: dict = {}
    for source, drawings in (("tomoe", tomoe), ("synth", synth)):
        for label, strokes, canvas in drawings:
            strokes = check_strokes(strokes)
            base = split_small_kana(rec.strokes_proba(strokes), rec.class_map, strokes, canvas, rec._small_kana_pairs())
            extra = extra_strokes(most, len(strokes))
            ok = set(twins(label))
            group = script(label) if script(label) != "kanji" else (
                "kanji" if source == "tomoe" else "common_kanji" if common_kanji(label) else "uncommon_kanji")
            for (f, u), prior in priors.items():
                for e in args.extra:
                    probs = base * prior * e ** extra
                    top = rec.top_k((probs / probs.sum())[None], 1)[0][0]["char"]
                    h = hits.setdefault((f, u, e), {}).setdefault(f"{source}_{group}", [0, 0])
                    h[0] += top in ok
                    h[1] += 1
    order = [f"tomoe_{g}" for g in ("hiragana", "katakana", "kanji")] + [
        f"synth_{g}" for g in ("hiragana", "katakana", "common_kanji", "uncommon_kanji")]
    rows = [{"hiragana": f, "uncommon_kanji": u, "extra_stroke": e,
             **{g: got[g][0] / got[g][1] for g in order if g in got}} for (f, u, e), got in sorted(hits.items())]
    counts = {g: n for g, (_, n) in next(iter(hits.values())).items()}  # drawings per group
    print(table(rows))
    save_results("ja_prior", rows, model=args.model, threads=1, **{f"n_{g}": counts[g] for g in order if g in counts})


if __name__ == "__main__":
    main()
