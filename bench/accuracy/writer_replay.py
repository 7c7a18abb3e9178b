"""A writer's memory measured as it is used (`rec.writer()`, fude.recognizer.writer): a writer's
drawings replayed in a fixed random order, each read, then learnt with its true label; first choice
over the later half of the drawings, against the same drawings read without memory, and how
accuracy grows with the number of drawings learnt (a figure, `--plot`).

Writers (no human collection: fude's generator and Tomoe):
- ``casual-N``: a synthetic writer with one fixed casual style: each character's own way of
  writing it, drawn once from KanjiVG's template in a strong casual hand (seed N, the casual set of
  `bench/accuracy/ja_tune.py`), then written 5 times with a neat hand's natural variation of that
  shape; 120 school kanji and 40 kana, 800 drawings. Seeds 0-2 tune, 100-102 report.
- ``tomoe-tune``, ``tomoe-report``: Tomoe's neat writer, 300 characters once each (two disjoint
  draws): nothing to learn but other characters, so the memory must not make it worse.

The settings (``--grid``) maximise the casual tuning writers' later half less three times any drop
on ``tomoe-tune``; the report writers are the ones to quote.

    FUDE_DATA_DIR=../shared/data .venv/bin/python bench/accuracy/writer_replay.py [--grid] [--plot docs/writer-replay.png]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import save_results, table  # noqa: E402

import fude  # noqa: E402
from fude.recognizer.reading import StrokeReader, rank  # noqa: E402
from fude.recognizer.writer import Writer, WriterSettings  # noqa: E402
from fude.scripts import kanjidic, script, twins  # noqa: E402
from fude.strokes import check_strokes, load_tomoe  # noqa: E402
from fude.strokes.kanjivg import load_templates  # noqa: E402
from fude.strokes.synth import SynthConfig, drawing  # noqa: E402

CASUAL = SynthConfig(join=0.4, split=0.15, merge=0.5, dots=0.5, squeeze=0.3, slant=12, cursive=0.3, quick=0.3,
                     part_scale=0.25, part_shift=0.05, hook=0.6)  # bench/accuracy/ja_tune.py's casual hand
INSTANCES = 5


def casual_writer(seed: int, rec, data_dir) -> list[tuple[str, list[np.ndarray]]]:
    """A synthetic writer's drawings, in replay order: ``(character, strokes)``."""
    rng = np.random.default_rng(seed)
    classes = set(rec.class_map.chars)
    school = sorted(c for c, v in kanjidic().items() if c in classes and 1 <= (v[1] or 0) <= 6)
    kana = sorted(c for c in classes if script(c) in ("hiragana", "katakana") and c not in "ゐゑヰヱゔヴヵヶヷヸヹヺ")
    chars = list(rng.choice(school, 120, replace=False)) + list(rng.choice(kana, 40, replace=False))
    templates = load_templates(data_dir=data_dir, chars="".join(chars))
    out = []
    for c in chars:
        base, _ = drawing(templates[c], seed, ord(c), 0, CASUAL)  # this writer's way of writing c
        out += [(c, drawing(base, seed + 7, ord(c), j)[0]) for j in range(INSTANCES)]  # written again, naturally varied
    order = rng.permutation(len(out))
    return [out[i] for i in order]


def tomoe_writer(rec, data_dir, part: int, n: int = 300) -> list[tuple[str, list[np.ndarray]]]:
    """``n`` of Tomoe's characters in random order, ``part`` 0 or 1 of two disjoint draws."""
    classes = set(rec.class_map.chars)
    chars = [c for c in load_tomoe(data_dir) if c.label in classes]
    pick = np.random.default_rng(0).permutation(len(chars))[part * n: (part + 1) * n]
    return [(chars[i].label, chars[i].strokes) for i in pick]


def replay(rec, drawings, settings: WriterSettings | None) -> np.ndarray:
    """bool ``(N,)``: each drawing's first choice right (twins count), read with the memory of every
    drawing before it (``settings`` None: no memory)."""
    checked = [check_strokes(s) for _, s in drawings]
    probs, feats = rec.read_many(checked, features=True)
    index = {c: i for i, c in enumerate(rec.class_map.chars)}
    reader = StrokeReader(rec, rec.settings)
    memory = Writer(rec, settings=settings or WriterSettings())
    right = np.zeros(len(drawings), bool)
    for t, ((c, _), strokes) in enumerate(zip(drawings, checked)):
        p = probs[t: t + 1] if settings is None else memory.blend(probs[t: t + 1], feats[t: t + 1])
        top = rank(reader.proba(strokes, None, None, scored=p[0])[None], rec.class_map, 1, None, reader.twins)[0][0]
        right[t] = top["char"] in twins(c)
        if settings is not None:
            memory.add(feats[t: t + 1], np.array([index[c]]))
    return right


def later_half(right: np.ndarray) -> float:
    return round(100 * float(right[len(right) // 2:].mean()), 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="ja")
    ap.add_argument("--grid", action="store_true", help="choose the settings on the tuning writers")
    ap.add_argument("--plot", help="write the learning curve of the report writers to this PNG")
    ap.add_argument("--data-dir")
    args = ap.parse_args()
    rec = fude.load_model(args.model, backend="onnxruntime")
    writers = {f"casual-{s}": casual_writer(s, rec, args.data_dir) for s in (0, 1, 2, 100, 101, 102)}
    writers["tomoe-tune"], writers["tomoe-report"] = (tomoe_writer(rec, args.data_dir, part) for part in (0, 1))
    tune = [w for w in writers if w in ("casual-0", "casual-1", "casual-2", "tomoe-tune")]
    chosen = WriterSettings()
    if args.grid:
        grid = [WriterSettings(n, t, w) for n in (2, 4, 8) for t in (0.05, 0.08, 0.1) for w in (1.5, 3.0, 6.0)]
        neat = later_half(replay(rec, writers["tomoe-tune"], None))

        def objective(s: WriterSettings) -> float:
            drop = min(0.0, later_half(replay(rec, writers["tomoe-tune"], s)) - neat)
            return float(np.mean([later_half(replay(rec, writers[w], s)) for w in tune if w.startswith("casual")])) + 3 * drop

        scores = [(objective(s), s) for s in grid]
        for score, s in sorted(scores, key=lambda x: -x[0])[:5]:
            print(f"tune {score:.1f}  {s}")
        chosen = max(scores, key=lambda x: x[0])[1]
    rows, curves = [], {}
    for name, drawings in writers.items():
        without, with_memory = replay(rec, drawings, None), replay(rec, drawings, chosen)
        curves[name] = (without, with_memory)
        rows.append({"writer": name, "half": "tune" if name in tune else "report", "drawings": len(drawings),
                     "without_memory_later_half": later_half(without), "with_memory_later_half": later_half(with_memory),
                     "without_memory_all": round(100 * float(without.mean()), 1),
                     "with_memory_all": round(100 * float(with_memory.mean()), 1)})
    print(table(rows))
    if args.plot:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=120)
        for name, (without, with_memory) in curves.items():
            if name.startswith("casual-1") and name != "casual-1":
                x = np.arange(1, len(with_memory) + 1)
                window = 100
                smooth = lambda r: np.convolve(r.astype(float), np.ones(window) / window, mode="valid")  # noqa: E731
                line, = ax.plot(x[window - 1:], 100 * smooth(with_memory), label=f"{name}, with memory")
                ax.plot(x[window - 1:], 100 * smooth(without), "--", color=line.get_color(), alpha=0.6,
                        label=f"{name}, without")
        ax.set_xlabel("drawings read so far (each learnt after it is read)")
        ax.set_ylabel(f"first choice right, % (last {window})")
        ax.set_title("A writer's memory: synthetic casual writers (report seeds)")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(args.plot)
        print(f"figure written to {args.plot}")
    save_results("writer_replay", rows, model=args.model, settings=str(chosen))


if __name__ == "__main__":
    main()
