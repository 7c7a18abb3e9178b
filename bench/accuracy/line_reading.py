"""Reading words written in a row (`fude.recognizer.line`): lines of 2-6 characters built from
single-character drawings placed left to right (`fude.strokes.synth.line_drawing`), read by `ja`
(in onnxruntime, one thread, as the reading commands run it). Three sources:

- ``neat``: the generator's ordinary variation, characters set 0.08-0.3 line heights apart;
- ``casual``: every casual variation on (strokes joined, merged, split, dashed dots, slant, rounded
  corners, sparse points), set tight: -0.05-0.12 line heights apart (overlapping at times);
- ``tomoe``: Tomoe's templates (one neat writer's strokes) as drawn, 0.08-0.3 apart.

Texts are random but shaped like Japanese: kanji compounds, kanji with kana endings, hiragana and
katakana words with small kana (ゃ, っ, ...) and ー (kana letters only: no lone sound marks ゛゜,
iteration marks or middle dots). The segmentation settings
(`fude.recognizer.line.LineSettings`) are chosen on the tuning lines (seeds 0..N-1) and reported on
other lines (seeds 100000..): character error rate (edit distance over characters; twins such as
ー/一 or カ/力 count as the same), whole lines right, lines cut right; and the time to read a
4-character line (p50, one thread).

    FUDE_DATA_DIR=../shared/data .venv/bin/python bench/accuracy/line_reading.py [--lines 150] [--write]
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import save_results, table  # noqa: E402

from fude.datasets import default_data_dir  # noqa: E402
from fude.recognizer import load_model  # noqa: E402
from fude.recognizer.line import LineSettings, best_path, candidates  # noqa: E402
from fude.scripts import SMALL_KANA, TWINS, kanjidic, script  # noqa: E402
from fude.strokes import check_strokes, load_tomoe  # noqa: E402
from fude.strokes.kanjivg import load_templates  # noqa: E402
from fude.strokes.synth import SynthConfig, line_drawing  # noqa: E402

CASUAL = SynthConfig(join=0.4, split=0.15, merge=0.5, dots=0.5, squeeze=0.3, slant=12, cursive=0.3, quick=0.3,
                     part_scale=0.25, part_shift=0.05, hook=0.6)
# Tomoe's drawings as the writer drew them: every variation off
AS_DRAWN = SynthConfig(**{f: 0.0 for f in ("rotate", "scale", "aspect", "shear", "stroke_shift", "stroke_rotate",
                                          "stroke_scale", "part_scale", "part_shift", "overshoot", "bend", "tremor",
                                          "elastic", "speed", "join", "swap", "hook", "loop_start", "mark_reverse")})
SOURCES = {"neat": (SynthConfig(), (0.08, 0.3)), "casual": (CASUAL, (-0.05, 0.12)), "tomoe": (AS_DRAWN, (0.08, 0.3))}
GRID = {"overlap": [0.05, 0.1, 0.15, 0.25], "char_bonus": [-1.0, -0.5, 0.0, 0.5, 1.0],
        "gap_weight": [0.0, 2.0, 4.0, 6.0], "thin_penalty": [0.0, 3.0, 6.0], "tiny_penalty": [0.0, 3.0, 6.0],
        "wide_penalty": [0.0, 5.0, 10.0, 20.0]}
READ_OVERLAP = max(GRID["overlap"])  # candidates read once, with the widest overlap: narrower ones are subsets


def texts(n: int, seed: int, kanji: list[str], hira: list[str], kata: list[str]) -> list[str]:
    """``n`` random texts of 2-6 characters shaped like Japanese words."""
    rng = np.random.default_rng(seed)
    yoon_h, yoon_k = list("ゃゅょ"), list("ャュョ")
    out = []
    while len(out) < n:
        kind = rng.integers(4)
        if kind == 0:
            t = "".join(rng.choice(kanji, rng.integers(2, 5)))
        elif kind == 1:
            t = "".join(rng.choice(kanji, rng.integers(1, 3))) + "".join(rng.choice(hira, rng.integers(1, 4)))
        else:
            pool, yoon, long_mark = (hira, yoon_h, "") if kind == 2 else (kata, yoon_k, "ー")
            t = ""
            for _ in range(rng.integers(2, 6)):
                t += rng.choice(pool)
                r = rng.random()
                if r < 0.15:
                    t += rng.choice(yoon)
                elif r < 0.25:
                    t += "っ" if kind == 2 else "ッ"
                elif r < 0.32 and long_mark:
                    t += long_mark
        t = t[:6]
        if len(t) >= 2 and t[0] not in SMALL_KANA:
            out.append(t)
    return out


def edits(a: str, b: str) -> int:
    """Levenshtein distance."""
    d = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, d[0] = d[0], i
        for j, cb in enumerate(b, 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (ca != cb))
    return d[-1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="ja")
    p.add_argument("--lines", type=int, default=150, help="lines per source and half")
    p.add_argument("--write", action="store_true", help="print the chosen settings as LineSettings(...)")
    p.add_argument("--data-dir")
    args = p.parse_args()
    root = Path(args.data_dir) if args.data_dir else default_data_dir()
    rec = load_model(args.model, backend="onnxruntime", threads=1)
    classes = set(rec.class_map.chars)
    info = kanjidic()
    kanji = sorted(c for c, v in info.items() if c in classes and 1 <= (v[1] or 0) <= 6)  # [rank, grade, ...]
    marks = "゛゜ゝゞ・ヽヾ"  # sound and iteration marks, the middle dot: not letters words are spelt with
    hira = [c for c in rec.class_map.chars if script(c) == "hiragana" and c not in SMALL_KANA and c not in "ゐゑゔ" + marks]
    kata = [c for c in rec.class_map.chars if script(c) == "katakana" and c not in SMALL_KANA
            and c not in "ヰヱヴヵヶヷヸヹヺー" + marks]
    tomoe = {c.label: c.strokes for c in load_tomoe(root) if c.label in classes}
    twin_of = {c: g[0] for g in TWINS for c in g}
    same = lambda t: "".join(twin_of.get(c, c) for c in t)  # noqa: E731

    def lines(half: str) -> dict:
        seed0 = 0 if half == "tune" else 100000
        out = {}
        for name, (cfg, spacing) in SOURCES.items():
            pool_k = [c for c in kanji if c in tomoe] if name == "tomoe" else kanji
            pool_h = [c for c in hira if c in tomoe] if name == "tomoe" else hira
            pool_c = [c for c in kata if c in tomoe] if name == "tomoe" else kata
            words = texts(args.lines, seed0 + len(name), pool_k, pool_h, pool_c)
            if name == "tomoe":
                words = [w for w in words if all(c in tomoe for c in w)]
            tpl = load_templates(data_dir=root, chars="".join(sorted(set("".join(words)))))
            src = {c: tomoe[c] for c in set("".join(words))} if name == "tomoe" else tpl
            out[name] = [(w, *line_drawing(src, w, seed0 + i, cfg, spacing, place=tpl)) for i, w in enumerate(words)]
        return out

    def read_all(data: dict) -> dict:
        wide = LineSettings(overlap=READ_OVERLAP, reads_per_stroke=64)  # every candidate a narrower overlap reads
        return {name: [(w, groups, candidates(rec, check_strokes(strokes), 5, "all", None, wide), len(strokes))
                       for w, strokes, groups in rows] for name, rows in data.items()}

    def score(read: dict, settings: LineSettings) -> dict:
        res = {}
        for name, rows in read.items():
            chars = errs = errs_strict = right = cut = 0
            for w, groups, cands, n in rows:
                path = best_path(cands, n, settings)
                text = "".join(c["top"][0]["char"] for c in path)
                chars += len(w)
                errs += edits(same(text), same(w))
                errs_strict += edits(text, w)
                right += same(text) == same(w)
                cut += [list(range(*c["run"])) for c in path] == groups
            res[f"{name}_cer"] = errs / chars
            res[f"{name}_cer_strict"] = errs_strict / chars
            res[f"{name}_lines_right"] = right / len(rows)
            res[f"{name}_cut_right"] = cut / len(rows)
        return res

    t0 = time.perf_counter()
    tune, report = read_all(lines("tune")), read_all(lines("report"))
    print(f"lines built and read in {time.perf_counter() - t0:.0f} s")
    best, best_key = None, None
    for values in itertools.product(*GRID.values()):
        s = LineSettings(**dict(zip(GRID, values)))
        r = score(tune, s)
        key = np.mean([r[f"{n}_lines_right"] for n in SOURCES]) - np.mean([r[f"{n}_cer"] for n in SOURCES])
        if best_key is None or key > best_key:
            best, best_key = s, key
    print("chosen on the tuning lines:", best)
    rows = []
    for label, s in (("default (LineSettings())", LineSettings()), ("chosen", best),
                     ("no gap term", replace(best, gap_weight=0.0)), ("no thin penalty", replace(best, thin_penalty=0.0)),
                     ("no tiny penalty", replace(best, tiny_penalty=0.0)), ("no width penalty", replace(best, wide_penalty=0.0))):
        for half, read in (("tune", tune), ("report", report)):
            rows.append({"settings": label, "half": half, **score(read, s)})
    print(table(rows))
    # speed: 4-character lines of the report half, one at a time, one thread
    four = [(w, s) for w, s, _ in lines("report")["neat"] if len(w) == 4][:40]
    from fude.recognizer.line import read_line

    times = []
    for w, strokes in four * 3:
        t = time.perf_counter()
        read_line(rec, strokes)
        times.append((time.perf_counter() - t) * 1000)
    p50 = float(np.percentile(times, 50))
    print(f"a 4-character line: p50 {p50:.1f} ms, p90 {np.percentile(times, 90):.1f} ms ({len(times)} reads)")
    save_results("line_reading", rows, model=args.model, lines_per_source_and_half=args.lines,
                 chosen=asdict(best), four_char_p50_ms=p50, four_char_p90_ms=float(np.percentile(times, 90)))
    if args.write:
        print(f"LineSettings({', '.join(f'{k}={v}' for k, v in asdict(best).items())})")


if __name__ == "__main__":
    main()
