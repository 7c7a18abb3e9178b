"""Casual handwriting: the generator's casual variations (each on a few real KanjiVG characters) and
the handwriting-font pipeline (on a handful of real glyphs)."""

from pathlib import Path

import numpy as np
import pytest

from conftest import MIRROR
from fude.strokes import variations as V
from fude.strokes.features import stroke_length
from fude.datasets import STROKE_SOURCES

FONTS = Path("/usr/share/fonts/truetype")
KLEE = FONTS / "klee" / "KleeOne-Regular.ttf"


@pytest.fixture(scope="module")
def templates():
    from fude.strokes.kanjivg import load_templates

    folder = MIRROR / STROKE_SOURCES["kanjivg"].path
    if not folder.is_dir():
        pytest.skip(f"KanjiVG files not found at {folder}")
    return {c: t[0] for c, t in load_templates(folder, chars="口月海花お人", variants=False).items()}


def _only(**knobs):
    """A SynthConfig with every variation off but ``knobs``."""
    from dataclasses import fields

    from fude.strokes.synth import SynthConfig

    off = {f.name: 0.0 for f in fields(SynthConfig) if f.name != "width"}
    return SynthConfig(**{**off, **knobs})


def _vary(template, seed=0, **knobs):
    from fude.strokes.synth import vary

    return vary(template, np.random.default_rng(seed), _only(**knobs))


def test_no_variation_draws_the_template_itself(templates):
    from fude.strokes.features import normalise

    mouth = templates["口"]
    plain = _vary(mouth)
    assert len(plain) == 3
    for a, b in zip(plain, normalise(list(mouth.strokes))):
        np.testing.assert_allclose(a, b, atol=1e-9)


def test_split_writes_a_cornered_stroke_as_two(templates):
    """口's second stroke (┐) has a corner: split=1 lifts the pen there, the two parts meeting at it."""
    mouth = templates["口"]
    split = _vary(mouth, split=1.0)
    assert len(split) == 4
    np.testing.assert_allclose(split[1][-1], split[2][0])  # the two halves meet at the corner
    turns = [V.turn_angles(s).max() for s in split[1:3]]
    assert max(turns) < 60  # neither half turns sharply any more
    assert len(_vary(templates["人"], split=1.0)) == 2  # 人's strokes have no corner: nothing to split


def test_merge_continues_a_stroke_that_starts_where_the_last_ended(templates):
    """月's frame in one stroke: its left side (丿) starts where its ┐ starts, so with merge=1 the pen
    runs the left side backwards, up, and on into the ┐; every point is kept."""
    moon = templates["月"]
    plain, merged = _vary(moon), _vary(moon, merge=1.0)
    assert len(plain) == 4 and len(merged) < len(plain)
    assert sum(map(len, merged)) == sum(map(len, plain))
    np.testing.assert_allclose(merged[0][0], plain[0][-1])  # it starts where the left side ended: bottom left
    np.testing.assert_allclose(merged[0][len(plain[0])], plain[1][0])  # then runs on into the ┐
    person = templates["人"]  # 人's second stroke starts mid-way down the first: too far from either end
    assert len(_vary(person, merge=1.0)) == 2


def test_dots_become_dashes_and_runs_of_them_one_stroke(templates):
    """海's three-dot water radical (氵): with dots=1 its short marks are straight dashes, the run of
    marks one zig-zag stroke."""
    sea = templates["海"]
    plain, simple = _vary(sea), _vary(sea, dots=1.0)
    size = 1.0
    short = [s for s in plain if stroke_length(s) < 0.15 * size]
    assert len(short) >= 2
    assert len(simple) < len(plain)
    dashes = [s for s in simple if len(s) % 4 == 0 and len(s) <= 12]
    assert dashes, [len(s) for s in simple]


def test_squeeze_scales_one_component_far_along_one_axis(templates):
    """花 (艹 over 化): squeeze=1 scales one component by 0.55-1.6 along x or y about its centre and
    leaves the other as it was."""
    flower = templates["花"]
    strokes = [np.asarray(s, float) for s in flower.strokes]
    out = V.squeeze(strokes, flower.parts, np.random.default_rng(1), 1.0)
    changed = [i for i, (a, b) in enumerate(zip(strokes, out)) if not np.allclose(a, b)]
    parts = {flower.parts[i] for i in changed}
    assert len(parts) == 1
    idx = [i for i, p in enumerate(flower.parts) if p in parts]
    assert changed == idx
    before = np.ptp(np.concatenate([strokes[i] for i in idx]), axis=0)
    after = np.ptp(np.concatenate([out[i] for i in idx]), axis=0)
    ratio = after / before
    assert (np.isclose(ratio, 1) | ((ratio >= 0.55 - 1e-9) & (ratio <= 1.6 + 1e-9))).all() and not np.allclose(ratio, 1)


def test_slant_leans_the_top_to_the_right(templates):
    """人's first stroke runs from top to bottom-left; with a forward lean the drawing's top point
    moves right relative to its bottom (y down)."""
    person = templates["人"]
    plain, lean = _vary(person), _vary(person, slant=30.0, seed=2)
    top = lambda d: np.concatenate(d)[np.argmin(np.concatenate(d)[:, 1])]  # noqa: E731
    assert top(lean)[0] > top(plain)[0]


def test_cursive_rounds_corners_and_keeps_the_ends():
    corner = np.array([[0.0, 0.0], [0.5, 0.0], [1.0, 0.0], [1.0, 0.5], [1.0, 1.0]])
    corner = np.vstack([np.linspace(corner[i], corner[i + 1], 10, endpoint=False) for i in range(4)] + [corner[-1:]])
    rounded = V.round_corners(corner, 0.3)
    np.testing.assert_allclose(rounded[[0, -1]], corner[[0, -1]])
    assert V.turn_angles(rounded, 0.03).max() < V.turn_angles(corner, 0.03).max() / 2


def test_quick_writing_samples_the_pen_seldom(templates):
    flower = templates["花"]
    plain, quick = _vary(flower), _vary(flower, quick=1.0)
    assert len(quick) == len(plain) and sum(map(len, quick)) < sum(map(len, plain)) / 2
    for s in quick:
        if len(s) > 2:
            steps = np.linalg.norm(np.diff(s, axis=0), axis=1)
            assert steps.min() > 0.03  # 5-12% of the size apart (the size is 1 after normalising)


def test_finger_draws_wider_and_wobblier(templates):
    from fude.strokes.synth import SynthConfig, drawing

    o = [templates["お"]]
    neat = [drawing(o, 0, 0, j, SynthConfig(finger=0.0)) for j in range(6)]
    finger = [drawing(o, 0, 0, j, SynthConfig(finger=1.0)) for j in range(6)]
    assert np.mean([w for _, w in finger]) > 1.15 * np.mean([w for _, w in neat])
    wiggle = lambda d: np.mean([V.turn_angles(s, 0.02).mean() for s in d[0] if len(s) > 3])  # noqa: E731
    assert np.mean([wiggle(d) for d in finger]) > 1.5 * np.mean([wiggle(d) for d in neat])


def test_casual_knobs_are_checked():
    from fude.strokes.synth import SynthConfig

    for bad in ({"split": 1.5}, {"merge": -0.1}, {"cursive": float("nan")}, {"finger": 2}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            SynthConfig(**bad)


# --- handwriting fonts -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def klee():
    if not KLEE.exists():
        pytest.skip(f"{KLEE} not installed (apt-get install fonts-klee; .ci/run installs it)")
    return KLEE


def test_font_glyphs_are_thinned_to_a_pen_line(klee):
    from fude.datasets.fonts import font_chars, font_images, glyph_skeleton, load_font

    assert {"あ", "口", "花"} <= font_chars(klee)
    skeleton = glyph_skeleton(load_font(klee), "口")
    assert skeleton.min() >= 0 and skeleton.max() <= 1 + 1e-9 and len(skeleton) > 50
    x, y = font_images([klee], ["あ", "口", "\U000f0000"], per_font=3, size=32, box=26)
    assert x.shape == (6, 32, 32) and x.dtype == np.uint8 and y.tolist() == [0, 0, 0, 1, 1, 1]  # no glyph: no image
    ink = x > 64
    rows, cols = np.nonzero(ink[3])
    assert 22 <= max(np.ptp(rows), np.ptp(cols)) + 1 <= 28  # the longer side fills the 26-pixel box
    # a pen line, not the filled outline: 口's inside is empty and the line is a few pixels wide
    assert not ink[3][12:20, 12:20].any() and 0.05 < ink[3].mean() < 0.3
    assert not np.array_equal(x[3], x[4])  # each image of a character written a little differently
    again, _ = font_images([klee], ["あ", "口"], per_font=3, size=32, box=26)
    assert np.array_equal(again, x)


def test_a_file_that_is_not_a_font_is_refused(tmp_path):
    from fude.datasets.fonts import FontError, font_chars, font_images

    bad = tmp_path / "font.ttf"
    bad.write_bytes(b"not a font at all")
    with pytest.raises(FontError, match="font.ttf: not a readable TrueType/OpenType font"):
        font_chars(bad)
    with pytest.raises(FontError, match="font.ttf"):
        font_images([bad], ["あ"])


def test_synth_appends_font_images_to_the_drawings(klee, tmp_path, capsys):
    from fude.cli import main

    code = main(["synth", "--script", "all", "--chars", "口花", "--per-char", "2", "--size", "32", "--font",
                 str(klee), "--per-font", "2", "--workers", "1", "--out", str(tmp_path), "--name", "t",
                 "--data-dir", str(MIRROR)])
    assert code == 0
    with np.load(tmp_path / "t-imgs.npz") as x, np.load(tmp_path / "t-labels.npz") as y:
        images, labels = x["arr_0"], y["arr_0"]
    assert images.shape == (8, 32, 32) and labels.tolist() == [0, 0, 1, 1, 0, 0, 1, 1]  # drawings, then the font's
    code = main(["synth", "--script", "all", "--chars", "口", "--sequences", "32", "--font", str(klee), "--out",
                 str(tmp_path / "seq"), "--data-dir", str(MIRROR)])
    assert code == 1 and "--font gives images: it cannot be combined with --sequences" in capsys.readouterr().err
    missing = tmp_path / "no-such-font.ttf"  # refused before anything is drawn: no shard written
    code = main(["synth", "--script", "all", "--chars", "口", "--per-char", "2", "--font", str(missing), "--out",
                 str(tmp_path / "missing"), "--data-dir", str(MIRROR)])
    assert code == 1 and "no-such-font.ttf: not a readable TrueType/OpenType font" in capsys.readouterr().err
    assert not (tmp_path / "missing").exists()
