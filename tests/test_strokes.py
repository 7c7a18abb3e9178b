"""Strokes: formats, resampling (against independent computations), rasterisation, KanjiVG parsing."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from conftest import MIRROR
from fude import strokes as S
from fude.scripts import HIRAGANA
from fude.strokes.kanjivg import load_kanjivg, read_svg, stroke_count_warning
from fude.datasets import STROKE_SOURCES

KANJIVG = MIRROR / STROKE_SOURCES["kanjivg-hiragana"].path


@pytest.fixture(scope="module")
def kanjivg():
    if not KANJIVG.exists():
        pytest.skip(f"KanjiVG files not found at {KANJIVG}")
    return load_kanjivg(str(KANJIVG))


def test_resample_a_line_with_uneven_points_spaces_them_evenly():
    x = np.array([0.0, 0.1, 0.15, 2.0, 5.0, 9.0, 10.0])
    line = np.column_stack([x, 0.5 * x + 1])
    out = S.resample_stroke(line, 11)
    expected_x = np.linspace(0, 10, 11)  # independent: even steps along a straight line
    assert np.allclose(out, np.column_stack([expected_x, 0.5 * expected_x + 1]), atol=1e-9)


def test_resample_a_circle_arc_follows_the_arc_evenly():
    theta = np.sort(np.random.default_rng(0).uniform(0, np.pi, 60))
    theta[0], theta[-1] = 0, np.pi
    arc = np.column_stack([np.cos(theta), np.sin(theta)])
    out = S.resample_stroke(arc, 25)
    want = np.linspace(0, np.pi, 25)  # independent: equal arc length on the unit circle is equal angle
    assert np.allclose(np.linalg.norm(out, axis=1), 1, atol=2e-3)
    assert np.allclose(np.arctan2(out[:, 1], out[:, 0]), want, atol=1e-2)


def test_degenerate_strokes():
    tap = S.resample_stroke(np.array([[3.0, 4.0]]), 8)
    assert tap.shape == (8, 2) and (tap == [3, 4]).all()
    same = S.resample_stroke(np.array([[1.0, 1.0]] * 5), 4)  # one point repeated: still a tap
    assert (same == 1).all()
    dup = S.resample_stroke(np.array([[0.0, 0], [0, 0], [2, 2], [2, 2]]), 5)  # two distinct points: a line
    assert np.allclose(dup, np.column_stack([np.linspace(0, 2, 5)] * 2))
    three = S.resample_stroke(np.array([[0.0, 0], [1, 1], [2, 0]]), 9)
    assert three.shape == (9, 2) and np.allclose(three[[0, -1]], [[0, 0], [2, 0]])
    feats = S.sequence_features([np.array([[0.0, 0.0]]), np.array([[0.0, 0], [1, 0]])], n_per_stroke=4)
    assert feats.shape == (8, 7) and feats[:, 4].tolist() == [0, 0, 0, 1, 0, 0, 0, 1] and np.isfinite(feats).all()


def test_fixed_length_sequences_share_points_by_stroke_length():
    long, short, tap = np.array([[0.0, 0], [9, 0]]), np.array([[0.0, 3], [0, 6]]), np.array([[5.0, 5]])
    assert S.share_points([long, short, tap], 64) == [47, 16, 1]  # one each, the other 61 shared 9:3:0
    assert S.share_points([tap, tap], 5) in ([3, 2], [2, 3])
    feats = S.sequence_features([long, short, tap], length=64)
    assert feats.shape == (64, 7) and feats.dtype == np.float32 and np.isfinite(feats).all()
    assert np.flatnonzero(feats[:, 4]).tolist() == [46, 62, 63]  # pen up at the end of each stroke
    x, y = feats[:47, 0], feats[:47, 1]  # the long stroke: evenly spaced across the unit box at y = 1/6
    assert np.allclose(np.diff(x), 1 / 46, atol=1e-6) and np.allclose(y, 1 / 6)
    assert np.allclose(feats[47, 2:4], feats[47, :2] - feats[46, :2])  # the pen's jump to the next stroke
    with pytest.raises(S.StrokeError, match="3 strokes do not fit in a sequence of 2 points"):
        S.sequence_features([long, short, tap], length=2)


def test_synthetic_sequences_are_the_synthetic_images_drawings(kanjivg):
    from fude.strokes.synth import SynthConfig, drawing, synth_images, synth_sequences

    chars = {c: kanjivg[c] for c in "あぁい"}
    seqs, labels = synth_sequences(chars, 3, seed=4, length=48)
    _, img_labels = synth_images(chars, 3, seed=4)
    assert seqs.shape == (6, 48, 7) and labels.tolist() == img_labels.tolist() == [0, 0, 0, 2, 2, 2]  # no ぁ (1)
    again, _ = synth_sequences(chars, 3, seed=4, length=48)
    assert np.array_equal(seqs, again) and not np.array_equal(seqs, synth_sequences(chars, 3, seed=5, length=48)[0])
    strokes = drawing(kanjivg["い"], 4, 2, 1, SynthConfig())[0]
    assert np.array_equal(seqs[4], S.sequence_features(strokes, length=48))  # sample 1 of class 2 (い)


def test_rasterise_draws_where_the_strokes_are():
    img = S.rasterise([np.array([[0.0, 5.0], [10.0, 5.0]])], size=28, width=2)
    assert img.shape == (28, 28) and img.dtype == np.uint8
    rows = img.sum(1)
    assert rows.argmax() in (13, 14) and rows[:10].sum() == 0 and rows[18:].sum() == 0  # a centred horizontal bar
    assert np.abs(img.astype(int) - img[:, ::-1]).max() <= 64  # symmetric as the line is, up to edge pixels
    cols = np.flatnonzero(img.max(0) > 0)
    assert 20 <= len(cols) <= 24 and cols.min() >= 2 and cols.max() <= 25  # 20-pixel box plus round caps
    dot = S.rasterise([np.array([[7.0, 7.0]])], size=28, width=3)
    ys, xs = np.nonzero(dot)
    assert 0 < len(ys) <= 16 and abs(ys.mean() - 13.5) < 1 and abs(xs.mean() - 13.5) < 1


def test_round_joins_fill_sharp_corners_as_pillows_own_joins_do():
    """Discs only where a stroke turns sharply give Pillow's ``joint="curve"`` picture (a disc at
    every vertex); leaving joins out cuts a notch into each corner of a zigzag."""
    from PIL import Image, ImageDraw

    t = np.linspace(0, 1, 40)[:, None]
    zigzag = [np.concatenate([np.hstack([t * 10, t * 10]), np.hstack([10 + t[1:] * 10, 10 - t[1:] * 10]),
                              np.hstack([20 - t[1:] * 5, t[1:] * 10])])]
    arc = [np.column_stack([10 + 8 * np.cos(np.linspace(0, 5, 200)), 10 + 8 * np.sin(np.linspace(0, 5, 200))])]

    def pillow(strokes):  # the reference: rasterise's layout, Pillow's round joins at every vertex
        img = Image.new("L", (112, 112), 0)
        draw = ImageDraw.Draw(img)
        for s in S.normalise(strokes):
            p = s * 80 + 16 - 0.5
            draw.line([tuple(q) for q in p], fill=255, width=9, joint="curve")
            for x, y in (p[0], p[-1]):
                draw.ellipse([x - 4.4, y - 4.4, x + 4.4, y + 4.4], fill=255)
        return np.array(img.resize((28, 28), Image.Resampling.BOX)).astype(int)

    for strokes in (zigzag, arc):
        ref = pillow(strokes)
        assert np.abs(S.rasterise(strokes, size=28).astype(int) - ref).max() <= 40
    notched = S.rasterise(zigzag, size=28, round_joints=False).astype(int)
    assert np.abs(notched - pillow(zigzag)).max() > 150


def test_rasterised_kanjivg_looks_like_its_character(kanjivg):
    img = S.rasterise(kanjivg["い"], size=28)
    left, right = img[:, :14].astype(int).sum(), img[:, 14:].astype(int).sum()
    assert left > right > 0  # い: a long left stroke and a short right one


def test_every_kanjivg_file_parses(kanjivg):
    assert tuple(kanjivg) == HIRAGANA  # all 86 code points
    for char, strokes in kanjivg.items():
        text = (KANJIVG / f"{ord(char):05x}.svg").read_text(encoding="utf-8")
        ids = re.findall(rf'id="kvg:{ord(char):05x}-s(\d+)"', text)
        assert len(strokes) == len(ids) and sorted(map(int, ids)) == list(range(1, len(ids) + 1)), char
        pts = np.concatenate(strokes)
        assert pts.min() >= 0 and pts.max() <= 109 and all(len(s) >= 2 for s in strokes), char
    assert [len(kanjivg[c]) for c in "あいうえおんをぱ"] == [3, 2, 2, 2, 3, 1, 3, 4]
    first = re.search(r'd="M([\d.]+),([\d.]+)', (KANJIVG / "03042.svg").read_text()).groups()
    assert np.allclose(kanjivg["あ"][0][0], [float(v) for v in first])  # the path starts where its d says


def test_stroke_count_check(kanjivg):
    expected = {c: len(s) for c, s in kanjivg.items()}
    assert stroke_count_warning(kanjivg["あ"], "あ", expected) is None
    assert stroke_count_warning(kanjivg["あ"][:2], "あ", expected) is None  # joined, as casual writing is: fine
    msg = stroke_count_warning(kanjivg["あ"] + [np.zeros((2, 2))], "あ", expected)
    assert "あ is written with 3 strokes, this drawing has 4" in msg and "stray ink" in msg
    assert stroke_count_warning([np.zeros((2, 2))], "A", expected) is None


def test_json_round_trip_and_y_up(tmp_path):
    char = S.Character([np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[5.0, 6.0]])], "あ", {"width": 10, "height": 10})
    S.write_json(tmp_path / "a.json", char)
    back = S.read_json(tmp_path / "a.json")
    assert back.label == "あ" and back.canvas == {"width": 10, "height": 10}
    assert all(np.array_equal(a, b) for a, b in zip(back.strokes, char.strokes))
    (tmp_path / "up.json").write_text(json.dumps({"strokes": [[[1, 2], [3, 4]]], "canvas": {"width": 10, "height": 10,
                                                                                          "y_up": True}}))
    assert np.array_equal(S.read_json(tmp_path / "up.json").strokes[0], [[1, 8], [3, 6]])


def test_app_dict_layout():
    d = {"10": np.array([[0.0, 0.0]]), 2: np.array([[-1.0, 1.0], [1.0, -1.0]])}  # keys are stroke numbers
    char = S.from_app_dict(d)
    assert np.array_equal(char.strokes[0], [[0, 0], [2, 2]])  # stroke 2 first; y flipped to point down
    assert np.array_equal(char.strokes[1], [[1, 1]]) and char.canvas == {"width": 2.0, "height": 2.0}
    with pytest.raises(S.StrokeError, match="stroke numbers"):
        S.from_app_dict({"first": np.zeros((2, 2))})


@pytest.mark.parametrize("strokes, match", [
    ([], "no strokes"),
    ([[]], "expected points of shape"),
    ([[[0, 0], [1, float("nan")]]], "NaN or infinite coordinate at point 1"),
    ([[[0, 0], [float("inf"), 1]]], "NaN or infinite"),
    ([[0, 1, 2]], r"shape \(3,\)"),
    ([[[0, 0, 0]]], r"shape \(1, 3\)"),
    ([[["a", "b"]]], "a coordinate is a str"),
    ([[[0, 0]]] * 65, "65 strokes; at most 64"),
    ([np.zeros((10_001, 2))] * 2, "more than 20,000 points"),
])
def test_bad_strokes_get_clear_errors(strokes, match):
    with pytest.raises(S.StrokeError, match=match):
        S.check_strokes(strokes)


def test_bad_files(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(S.StrokeError, match="not a readable JSON"):
        S.read_json(tmp_path / "bad.json")
    (tmp_path / "nostrokes.json").write_text('{"points": []}')
    with pytest.raises(S.StrokeError, match='"strokes" list'):
        S.read_json(tmp_path / "nostrokes.json")
    (tmp_path / "x.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'><path d='M0,0 L1,1'/></svg>")
    with pytest.raises(S.StrokeError, match="no KanjiVG stroke paths"):
        read_svg(tmp_path / "x.svg")


def test_synthesis_is_deterministic_and_varied(kanjivg):
    from fude.strokes.synth import synth_images, vary

    chars = {c: kanjivg[c] for c in "あい"}
    x1, y1 = synth_images(chars, 6, seed=3)
    x2, _ = synth_images(chars, 6, seed=3)
    assert np.array_equal(x1, x2) and y1.tolist() == [0] * 6 + [1] * 6
    assert not np.array_equal(x1, synth_images(chars, 6, seed=4)[0])
    assert len({x.tobytes() for x in x1}) == 12  # every drawing differs
    one = synth_images({"あ": kanjivg["あ"]}, 1, seed=3)[0]
    assert np.array_equal(one[0], x1[0])  # a sample depends on (seed, class, index) alone
    drawn = vary(kanjivg["あ"], np.random.default_rng(0))
    lo, hi = S.bounds(drawn)
    assert np.isclose(max(hi - lo), 1) and lo.min() >= -1e-9 and hi.max() <= 1 + 1e-9


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["images", "sequences"])
def test_train_and_predict_strokes_end_to_end(tmp_path, kanjivg, kind):
    """fude synth -> fude train -> fude predict-strokes on new drawings (JSON and the app's layout),
    with a CNN on rasterised drawings and with a sequence model on their points."""
    from test_cli import fude
    from fude.strokes.synth import SynthConfig, vary

    chars = "あいうえおかきくけこ"
    seq = ["--sequences", "64"] if kind == "sequences" else []
    fude("synth", "--kanjivg", KANJIVG, "--chars", chars, "--per-char", "60", "--seed", "1", "--out", tmp_path, *seq)
    run = tmp_path / "run"
    # --chars without --script: every character listed, and the files are named all-synth
    data = (["--sequences", tmp_path / "all-synth-seqs.npz", "--arch", "stroke-conv1d"] if seq else
            ["--images", tmp_path / "all-synth-imgs.npz"])
    fude("train", *data, "--labels", tmp_path / "all-synth-labels.npz",
         "--classmap", tmp_path / "all-synth_classmap.csv", "--epochs", "6", "--batch-size", "64",
         "--threads", "1", "--quiet", "--out", run)
    files = []
    for i, c in enumerate("あかこ"):  # unseen drawings: another seed than the training set's
        drawn = vary(kanjivg[c], np.random.default_rng(1000 + i), SynthConfig(join=0))  # each stroke its own
        S.write_json(tmp_path / f"{c}.json", S.Character([s * 300 for s in drawn], c, {"width": 300, "height": 300}))
        files.append(tmp_path / f"{c}.json")
    app = {str(n + 1): np.column_stack([s[:, 0] * 2 - 1, 1 - s[:, 1] * 2]) for n, s in enumerate(S.normalise(kanjivg["い"]))}
    (tmp_path / "app.json").write_text(json.dumps({k: v.tolist() for k, v in app.items()}))
    np.savez(tmp_path / "app.npz", **app)
    (tmp_path / "bad.json").write_text('{"strokes": [[[0, 0], [1, NaN]]]}')
    out = fude("predict-strokes", "--model", run, "--json", *files, tmp_path / "app.json", tmp_path / "app.npz",
               tmp_path / "bad.json", check=False)
    answers = json.loads(out.stdout)
    assert [a["top"][0]["char"] for a in answers[:5]] == list("あかこいい")
    assert out.returncode == 1 and "NaN or infinite" in answers[5]["error"]  # one bad file, the rest answered
    assert answers[0]["strokes"] == 3 and "warning" not in answers[0]

    four = S.Character(kanjivg["あ"] + [kanjivg["あ"][0] + 5], "あ")  # あ with a stroke too many: warned, still answered
    S.write_json(tmp_path / "long.json", four)
    out = fude("predict-strokes", "--model", run, tmp_path / "long.json")
    assert "あ is written with 3 strokes, this drawing has 4" in out.stderr


def test_small_kana_are_told_apart_by_size(kanjivg):
    """ぁ is not drawn for training (same picture as あ); predict_strokes splits the pair by size."""
    import torch

    from fude.classmap import ClassMap
    from fude.models import create_model
    from fude.recognizer import Recognizer
    from fude.strokes.synth import synth_images

    _, labels = synth_images({c: kanjivg[c] for c in "ぁあい"}, 2)
    assert labels.tolist() == [1, 1, 2, 2]
    torch.manual_seed(0)
    rec = Recognizer(create_model("fude-cnn", num_classes=3), ClassMap(tuple("ぁあい")))
    big = [s * 90 for s in S.normalise(kanjivg["あ"])]  # 90 of a 100-unit canvas
    small = [s * 25 for s in S.normalise(kanjivg["あ"])]  # a quarter of the canvas, as small kana are written
    canvas = {"width": 100, "height": 100}
    top_big = rec.predict_strokes(big, k=3, canvas=canvas)
    top_small = rec.predict_strokes(small, k=3, canvas=canvas)
    p = {g["char"]: g["probability"] for g in top_big}
    q = {g["char"]: g["probability"] for g in top_small}
    assert p["あ"] > 0.99 * (p["あ"] + p["ぁ"]) and q["ぁ"] > 0.95 * (q["あ"] + q["ぁ"])
    assert np.isclose(p["あ"] + p["ぁ"], q["あ"] + q["ぁ"], atol=1e-5)  # same picture, same pair mass
    # someone who writes small: a full-size あ over 43% of the canvas (a real writer's い was read as ぃ so)
    r = {g["char"]: g["probability"] for g in rec.predict_strokes([s * 43 for s in S.normalise(kanjivg["あ"])],
                                                                  k=3, canvas=canvas)}
    assert r["あ"] > 0.9 * (r["あ"] + r["ぁ"])
    unknown = {g["char"]: g["probability"] for g in rec.predict_strokes(big, k=3)}
    assert np.isclose(unknown["ぁ"] / (unknown["あ"] + unknown["ぁ"]), 0.3)  # no canvas: both ranked, full-size first


def test_shipped_hiragana_model_reads_the_examples():
    """The shipped model on example drawings (synthetic, from a seed no training set used), both layouts."""
    import fude
    from conftest import REPO

    rec = fude.load_model("hiragana")
    assert len(rec.class_map) == 86 and rec.class_map.chars[0] == "ぁ" and rec.class_map.chars[-1] == "ゖ"
    for name, want in (("strokes-あ.json", "あ"), ("strokes-ね.json", "ね"), ("strokes-き-app-layout.json", "き")):
        drawing = S.read_drawing(REPO / "examples" / name)
        top = rec.predict_strokes(drawing.strokes, canvas=drawing.canvas)
        assert top[0]["char"] == want, (name, top)


@pytest.mark.parametrize("model, least_top1", [("hiragana", 45), ("hiragana-seq", 44)])
def test_shipped_models_on_tomoes_hand_made_hiragana(model, least_top1):
    """47 hiragana a person wrote for the Tomoe recognizer (bench/data/tomoe-hiragana; stroke
    turning points only), which no fude model was trained on: every one in the top 5, and no fewer
    right at the top than when the models were shipped (45 and 44 of 47)."""
    import fude
    from conftest import REPO

    rec = fude.load_model(model)
    files = sorted((REPO / "bench" / "data" / "tomoe-hiragana").glob("*.json"))
    assert len(files) == 47
    top1 = 0
    for f in files:
        drawing = S.read_drawing(f)
        assert drawing.label in HIRAGANA, f
        top = [g["char"] for g in rec.predict_strokes(drawing.strokes, k=5, canvas=drawing.canvas)]
        assert drawing.label in top, (f.name, top)
        top1 += top[0] == drawing.label
    assert top1 >= least_top1


@pytest.mark.slow
def test_images_and_sequences_are_not_mixed_up(tmp_path, kanjivg):
    """A sequence model on images, a CNN on sequences, bad sequence files: clear errors, no traceback."""
    from test_cli import fude
    from fude.classmap import ClassMap
    from fude.datasets import DatasetError, load_sequences, save_pair
    from fude.models import create_model, save_model
    from fude.recognizer import load_model
    from fude.strokes.synth import synth_images, synth_sequences

    chars = {c: kanjivg[c] for c in "あい"}
    seqs, labels = synth_sequences(chars, 4, length=32)
    images, _ = synth_images(chars, 4)
    s, lab, cmap = save_pair(tmp_path, "s", seqs, labels, ClassMap(tuple(chars)), kind="seqs")
    im, _, _ = save_pair(tmp_path, "s", images, labels, ClassMap(tuple(chars)))
    assert load_sequences(s, lab, cmap).sequences.shape == (8, 32, 7)
    cases = [(["--sequences", s, "--arch", "fude-cnn"], "fude-cnn reads images but the data are stroke sequences"),
             (["--images", im, "--arch", "stroke-gru"],
              "stroke-gru reads sequences but the data are images: give stroke sequences"),
             (["--sequences", im], "sequences must be float32 \\(N, T, 7\\), got uint8")]
    for data, message in cases:
        out = fude("train", *data, "--labels", lab, "--classmap", cmap, "--epochs", "1", "--val-split", "0", "--out", tmp_path / "r",
                   "--overwrite", "--quiet", check=False)
        assert out.returncode != 0 and re.search(message, out.stderr) and "Traceback" not in out.stderr, out.stderr
    bad = seqs.copy()
    bad[0, 3, 1] = np.nan
    save_pair(tmp_path, "nan", bad, labels, ClassMap(tuple(chars)), kind="seqs")
    with pytest.raises(DatasetError, match="NaN or infinite"):
        load_sequences(tmp_path / "nan-seqs.npz", lab)

    save_model(create_model("stroke-gru", num_classes=2, length=32), tmp_path / "gru", ClassMap(tuple(chars)))
    rec = load_model(tmp_path / "gru")
    assert rec.predict_proba(seqs).shape == (8, 2)
    with pytest.raises(ValueError, match="stroke-gru reads stroke sequences: float \\(N, 32, 7\\), got torch.uint8"):
        rec.predict_proba(images)
    out = fude("evaluate", "--model", tmp_path / "gru", "--images", im, "--labels", lab, "--classmap", cmap, check=False)
    assert out.returncode != 0 and "reads stroke sequences" in out.stderr and "Traceback" not in out.stderr
    assert rec.predict_strokes(kanjivg["あ"], k=2)[0]["char"] in "あい"  # drawings go through sequence_features
    out = fude("evaluate", "--model", tmp_path / "gru", "--sequences", s, "--labels", lab, "--classmap", cmap, "--json")
    assert json.loads(out.stdout)["n"] == 8
    out = fude("evaluate", "--model", tmp_path / "gru", "--sequences", s, "--labels", lab, "--classmap", cmap,
               "--tta", "1", check=False)
    assert out.returncode != 0 and "test-time augmentation shifts images" in out.stderr


def test_synthetic_stroke_order_and_direction_variations(kanjivg):
    """reorder and reverse, alone, give the same strokes in another order or direction."""
    from fude.strokes.synth import SynthConfig, vary

    still = SynthConfig(**STILL)
    strokes = S.normalise(kanjivg["あ"])
    same = vary(kanjivg["あ"], np.random.default_rng(0), still)
    assert all(np.allclose(a, b) for a, b in zip(same, strokes))
    backwards = vary(kanjivg["あ"], np.random.default_rng(0), SynthConfig(**{**still.__dict__, "reverse": 1.0}))
    assert all(np.allclose(a, b[::-1]) for a, b in zip(backwards, strokes))
    orders = set()
    for seed in range(20):
        shuffled = vary(kanjivg["あ"], np.random.default_rng(seed), SynthConfig(**{**still.__dict__, "reorder": 1.0}))
        order = tuple(next(j for j, b in enumerate(strokes) if b.shape == a.shape and np.allclose(a, b))
                      for a in shuffled)
        orders.add(order)
    assert all(sorted(o) == [0, 1, 2] for o in orders) and len(orders) > 3  # several permutations of the 3


STILL = dict(rotate=0, scale=0, aspect=0, shear=0, stroke_shift=0, stroke_rotate=0, stroke_scale=0, elastic=0, speed=0,
             join=0, swap=0, part_scale=0, part_shift=0, overshoot=0, hook=0, loop_start=0, mark_reverse=0, bend=0,
             tremor=0)


def test_synthetic_loops_start_anywhere_and_marks_run_either_way(kanjivg):
    """The ゜ circle of ぱ starts at other points of the loop (and runs either way); the ゛ ticks of ば
    are drawn in either direction; everything else stays as the template draws it."""
    from fude.strokes.synth import SynthConfig, vary

    pa = S.normalise(kanjivg["ぱ"])
    circle = pa[-1]
    starts, turns = set(), set()
    for seed in range(12):
        drawn = vary(kanjivg["ぱ"], np.random.default_rng(seed), SynthConfig(**{**STILL, "loop_start": 1.0}))
        assert all(np.allclose(a, b) for a, b in zip(drawn[:-1], pa[:-1]))  # the other strokes unchanged
        loop = drawn[-1]
        # the same closed curve: every drawn point lies on the template's circle
        assert np.abs(np.linalg.norm(loop[:, None] - circle[None], axis=2).min(1)).max() < 1e-9
        starts.add(int(np.argmin(np.linalg.norm(circle - loop[0], axis=1))))
        a, b = loop[2] - loop[0], loop[4] - loop[2]
        turns.add(float(np.sign(a[0] * b[1] - a[1] * b[0])))  # clockwise or not
    assert len(starts) >= 6 and turns == {-1.0, 1.0}
    ba = S.normalise(kanjivg["ば"])
    ticks = [i for i, st in enumerate(ba) if S.stroke_length(st) < 0.15]
    assert ticks, "ば's dakuten should be short marks"
    seen = set()
    for seed in range(12):
        drawn = vary(kanjivg["ば"], np.random.default_rng(seed), SynthConfig(**{**STILL, "mark_reverse": 0.5}))
        seen.add(tuple(bool(np.allclose(drawn[i], ba[i][::-1])) for i in ticks))
        assert all(np.allclose(drawn[i], ba[i]) or np.allclose(drawn[i], ba[i][::-1]) for i in range(len(ba)))
    assert len(seen) > 1


def test_synthetic_curves_bow_and_hands_tremble(kanjivg):
    """bend bows an open stroke to either side (rounder or flatter curves), by at most its share of
    the chord, and leaves closed loops alone; tremor moves every point by a small smooth wobble."""
    from fude.strokes.synth import SynthConfig, vary

    line = [np.column_stack([np.linspace(0, 1, 50), np.full(50, 0.5)]), np.array([[0.5, 0.0], [0.5, 1.0]])]
    sides = set()
    for seed in range(12):
        bowed = vary(line, np.random.default_rng(seed), SynthConfig(**{**STILL, "bend": 0.2}))[0]
        # normalise keeps the chord the longer side: the bow is the middle's offset from the chord
        off = bowed[25, 1] - (bowed[0, 1] + bowed[-1, 1]) / 2
        assert abs(off) <= 0.2 + 1e-9 and np.isclose(bowed[0, 1], bowed[-1, 1])  # the ends stay level
        sides.add(float(np.sign(round(off, 6))))
    assert sides == {-1.0, 1.0}
    circle = kanjivg["ぱ"]  # its ゜ is a closed loop: unchanged however strong the bend
    loop = vary(circle, np.random.default_rng(0), SynthConfig(**{**STILL, "bend": 1.0}))[-1]
    assert np.allclose(S.normalise([loop])[0], S.normalise([circle[-1]])[0])  # (the other strokes bend)
    a = S.normalise(kanjivg["あ"])
    shaken = vary(kanjivg["あ"], np.random.default_rng(3), SynthConfig(**{**STILL, "tremor": 0.02}))
    moved = np.concatenate([d - b for d, b in zip(shaken, a)])
    assert 0.002 < np.abs(moved).max() < 0.03  # moved, by about the tremor (the re-fit scales a little)
    # smooth: neighbouring points move alike (a wobble; independent noise would give a ratio near 1.1)
    steps = np.concatenate([np.abs(np.diff(d - b, axis=0)) for d, b in zip(shaken, a)])
    assert steps.mean() < 0.6 * np.abs(moved - moved.mean(0)).mean()


def test_kanjivg_templates_read_variants_and_components(tmp_path):
    """Every KanjiVG file parses (variants included) when the full set is there; a variant's ids
    carry its suffix; a kanji's strokes know their components."""
    from fude.strokes.kanjivg import load_templates, read_template

    folder = MIRROR / STROKE_SOURCES["kanjivg"].path
    if not folder.is_dir():
        pytest.skip("the full KanjiVG set is not in the data mirror")
    ji = load_templates(folder, chars="字", cache=False)["字"]
    assert [t.variant for t in ji] == ["", "Kaisho"] and all(len(t.strokes) == 6 for t in ji)
    assert ji[0].parts == (0, 0, 0, 1, 1, 1)  # 宀 over 子
    files = sorted(folder.glob("*.svg"))
    templates = load_templates(folder)  # all 11,662 (cached after the first parse)
    assert sum(len(v) for v in templates.values()) == len(files) and len(templates) == 6703
    assert all(len(t.strokes) == len(t.parts) >= 1 for ts in templates.values() for t in ts)
    assert all(np.isfinite(s).all() and len(s) >= 2 for ts in templates.values() for t in ts for s in t.strokes)
    variant = read_template(folder / "061c3-VtLst.svg")
    assert variant.char == chr(0x61C3) and variant.variant == "VtLst" and len(variant.strokes) == 17


def test_script_and_chars_filters_and_twins_rank_together(kanjivg):
    """--script and --chars keep only those guesses (renormalised); each guess says its script;
    twins drawn the same in two scripts (へ/ヘ, カ/力) sit next to each other."""
    import torch

    from fude.classmap import ClassMap
    from fude.models import create_model
    from fude.recognizer import Recognizer

    chars = tuple("へあカヘ字力ア")
    torch.manual_seed(1)
    rec = Recognizer(create_model("fude-cnn", num_classes=len(chars)), ClassMap(chars))
    drawing = [s * 90 for s in S.normalise(kanjivg["へ"])]
    full = rec.predict_strokes(drawing, k=7)
    order = [g["char"] for g in full]
    assert sorted(order) == sorted(chars)
    for a, b in ("へヘ", "カ力"):
        assert abs(order.index(a) - order.index(b)) == 1, order
    assert {g["char"]: g["script"] for g in full} == {"へ": "hiragana", "あ": "hiragana", "カ": "katakana",
                                                      "ヘ": "katakana", "字": "kanji", "力": "kanji", "ア": "katakana"}
    kata = rec.predict_strokes(drawing, k=7, script="katakana")
    assert {g["char"] for g in kata} == set("カヘア") and np.isclose(sum(g["probability"] for g in kata), 1, atol=1e-5)
    p = {g["char"]: g["probability"] for g in full}
    assert np.isclose(kata[0]["probability"], p[kata[0]["char"]] / sum(p[c] for c in "カヘア"), atol=1e-5)
    lesson = rec.predict_strokes(drawing, k=5, chars="あ字")
    assert {g["char"] for g in lesson} == set("あ字")
    assert [g["char"] for g in rec.predict_strokes(drawing, script="kana", chars="字あ")] == ["あ"]
    with pytest.raises(ValueError, match="script must be one of"):
        rec.predict_strokes(drawing, script="latin")
    with pytest.raises(ValueError, match="does not read xyz"):
        rec.predict_strokes(drawing, chars="xyz")
    with pytest.raises(ValueError, match="passes script='kanji'"):
        rec.predict_strokes(drawing, script="kanji", chars="あ")


@pytest.mark.slow
def test_synth_train_predict_kanji_and_katakana_end_to_end(tmp_path):
    """fude synth --script all (kanji, katakana, hiragana; 32-pixel images, variant templates) ->
    fude train -> fude predict-strokes --script ... on new drawings."""
    from test_cli import fude
    from fude.strokes.kanjivg import load_templates
    from fude.strokes.synth import vary

    folder = MIRROR / STROKE_SOURCES["kanjivg"].path
    if not folder.is_dir():
        pytest.skip("the full KanjiVG set is not in the data mirror")
    chars = "学字子アカあ力"
    out = fude("synth", "--kanjivg", folder, "--script", "all", "--chars", chars, "--per-char", "50", "--size", "32",
               "--seed", "1", "--name", "mini", "--out", tmp_path)
    assert "350 drawings of 7 characters" in out.stdout
    run = tmp_path / "run"
    fude("train", "--images", tmp_path / "mini-imgs.npz", "--labels", tmp_path / "mini-labels.npz",
         "--classmap", tmp_path / "mini_classmap.csv", "--epochs", "12", "--batch-size", "32", "--threads", "1",
         "--quiet", "--out", run)
    templates = load_templates(folder, chars=chars)
    files = []
    for i, c in enumerate("学アカ"):
        drawn = vary(templates[c][0], np.random.default_rng(500 + i))
        S.write_json(tmp_path / f"{c}.json", S.Character([s * 300 for s in drawn], c, {"width": 300, "height": 300}))
        files.append(tmp_path / f"{c}.json")
    answers = json.loads(fude("predict-strokes", "--model", run, "--json", *files).stdout)
    assert answers[0]["top"][0]["char"] == "学" and answers[0]["top"][0]["script"] == "kanji"
    assert answers[1]["top"][0]["char"] == "ア"
    assert answers[2]["top"][0]["char"] in "カ力"  # twins: the drawing cannot tell them apart
    tops = [g["char"] for g in answers[2]["top"]]
    assert abs(tops.index("カ") - tops.index("力")) == 1  # ranked together
    kanji = json.loads(fude("predict-strokes", "--model", run, "--json", "--script", "kanji", files[2]).stdout)
    assert {g["script"] for g in kanji[0]["top"]} == {"kanji"} and len(kanji[0]["top"]) == 4
    only = json.loads(fude("predict-strokes", "--model", run, "--json", "--chars", "アあ", files[1]).stdout)
    assert [g["char"] for g in only[0]["top"]] == ["ア", "あ"]
    bad = fude("predict-strokes", "--model", run, "--script", "kanji", "--chars", "ア", files[1], check=False)
    assert bad.returncode != 0 and "passes script='kanji'" in bad.stderr and "Traceback" not in bad.stderr


def test_synth_components_and_cli_options(tmp_path):
    """Components of a kanji are scaled each on its own; --chars-file, --set and their errors."""
    from test_cli import fude
    from fude.strokes.kanjivg import load_templates
    from fude.strokes.synth import SynthConfig, vary

    folder = MIRROR / STROKE_SOURCES["kanjivg"].path
    if not folder.is_dir():
        pytest.skip("the full KanjiVG set is not in the data mirror")
    ji = load_templates(folder, chars="字")["字"][0]
    base = S.normalise(list(ji.strokes))
    ratios = set()
    for seed in range(6):
        drawn = vary(ji, np.random.default_rng(seed), SynthConfig(**{**STILL, "part_scale": 0.3}))
        # within one component, strokes keep their relative layout: one scale per axis for each part
        for part in (0, 1):
            idx = [i for i, p in enumerate(ji.parts) if p == part]
            a = np.concatenate([base[i] for i in idx])
            b = np.concatenate([drawn[i] for i in idx])
            sa, sb = np.ptp(a, axis=0), np.ptp(b, axis=0)
            ratios.add((part, round(float(sb[0] / sa[0]) / float(sb[1] / sa[1]), 3)))
    assert len({r for p, r in ratios if p == 0}) > 1  # 宀 changes its proportions from drawing to drawing
    (tmp_path / "lesson.txt").write_text("あ い\nう\n", encoding="utf-8")
    out = fude("synth", "--kanjivg", folder, "--chars-file", tmp_path / "lesson.txt", "--per-char", "2",
               "--set", "join=0.5", "--set", "hook=0", "--out", tmp_path / "o")
    assert "6 drawings of 3 characters" in out.stdout
    out = fude("synth", "--kanjivg", folder, "--script", "all", "--chars", "字あ", "--per-char", "1",
               "--kana-per-char", "3", "--name", "m", "--out", tmp_path / "k")
    assert "4 drawings of 2 characters" in out.stdout
    with np.load(tmp_path / "k" / "m-labels.npz") as z:
        assert sorted(np.bincount(z[z.files[0]]).tolist()) == [1, 3]  # more of the kana
    for bad, msg in ((["--set", "nosuch=1"], "expected NAME=NUMBER"), (["--set", "join=much"], "is not a number"),
                     (["--set", "join=1.5"], "join is a chance: it must lie in [0, 1]"),
                     (["--set", "elastic=nan"], "elastic must be a finite number >= 0"),
                     (["--set", "tremor=-0.1"], "tremor must be a finite number >= 0"),
                     (["--kana-per-char", "0"], "--kana-per-char: 0 is out of range: give 1 to"),
                     (["--chars", "字", "--script", "kana"], "passes script='kana'")):
        r = fude("synth", "--kanjivg", folder, "--per-char", "1", *bad, "--out", tmp_path / "x", check=False)
        assert r.returncode != 0 and msg in r.stderr and "Traceback" not in r.stderr, r.stderr
    with pytest.raises(ValueError, match="stroke width must be a range 0 < low <= high"):
        SynthConfig(width=(3.0, 1.0))


def test_shipped_ja_model_on_tomoes_kanji_and_kana():
    """The shipped `ja` model on Tomoe's templates (one person's writing, turning points only; never
    trained on): the first 400 kanji and all kana, read with the script open (twins count), held to
    a little under what bench/accuracy/ja_eval.py measured when the model was shipped."""
    import fude
    from fude.scripts import script, twins

    path = MIRROR / STROKE_SOURCES["tomoe"].path
    if not path.exists():
        pytest.skip("tomoe/all.tdic is not in the data mirror")
    rec = fude.load_model("ja")
    assert len(rec.class_map) == 6600 and rec.input_size == 32
    chars = S.read_tdic(path)
    kanji = [c for c in chars if script(c.label) == "kanji"][:400]
    kana = [c for c in chars if script(c.label) in ("hiragana", "katakana")]
    assert len(kanji) == 400 and len(kana) == 53
    # measured when shipped (2026-11-30): kanji 98.5% top-1, 100% top-5; kana 96.2%, 100%
    for group, least_top1, least_top5 in ((kanji, 0.96, 0.99), (kana, 0.9, 0.98)):
        top1 = top5 = 0
        for c in group:
            top = [g["char"] for g in rec.predict_strokes(c.strokes, k=5, canvas=c.canvas)]
            top1 += top[0] in twins(c.label)
            top5 += bool(set(top) & set(twins(c.label)))
        assert top1 >= least_top1 * len(group) and top5 >= least_top5 * len(group), (top1, top5, len(group))


def test_a_companion_network_mixes_its_probabilities_in(tmp_path):
    """A model folder whose config names a companion (here the shipped image and sequence hiragana
    models) reads each drawing with both and averages, weight on the companion; bad companions are
    refused at load time with the config's path in the message."""
    import shutil

    import fude
    from fude.models import ModelError
    from fude.models.store import resolve_model_dir

    cnn, seq = fude.load_model("hiragana"), fude.load_model("hiragana-seq")
    assert cnn.class_map.chars == seq.class_map.chars
    folder = tmp_path / "pair"
    shutil.copytree(resolve_model_dir("hiragana"), folder)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))

    def write(companion) -> None:
        (folder / "config.json").write_text(json.dumps({**config, "companion": companion}), encoding="utf-8")

    write({"model": "hiragana-seq", "weight": 0.3})
    pair = fude.load_model(folder)
    drawing = S.check_strokes(S.read_json(Path(__file__).resolve().parents[1] / "examples" / "strokes-あ.json").strokes)
    mixed = pair.strokes_proba(drawing)
    np.testing.assert_allclose(mixed, 0.7 * cnn.strokes_proba(drawing) + 0.3 * seq.strokes_proba(drawing), atol=1e-6)
    assert abs(float(mixed.sum()) - 1) < 1e-4
    assert pair.predict_strokes(drawing, k=1)[0]["char"] == "あ"
    for bad, msg in (({"model": "hiragana-seq", "weight": 1.5}, r"'companion_weight' must be a number in \(0, 1\)"),
                     ({"model": "kmnist", "weight": 0.3}, "same classes"),
                     ({"weight": 0.3}, "'companion' must be"),
                     ({"model": "nosuch", "weight": 0.3}, "no model 'nosuch'")):
        write(bad)
        with pytest.raises(ModelError, match=msg):
            fude.load_model(folder)
    (folder / "config.json").write_text(json.dumps({**config, "script_prior": {"hiragana": "lots"}}), encoding="utf-8")
    with pytest.raises(ModelError, match="'script_prior' must map script names to positive numbers"):
        fude.load_model(folder)


def test_a_script_prior_weighs_the_scripts(tmp_path):
    """A script prior multiplies every class of a script by its factor: against the same network
    without it, the odds of two guesses are multiplied by the ratio of their factors. Bad priors are
    refused."""
    from dataclasses import replace

    import fude
    from fude.recognizer import RecognizerConfig
    from fude.scripts import prior_factors, script

    ja = fude.load_model("ja")
    prior = {"hiragana": 1.5, "uncommon-kanji": 0.5}
    base = replace(ja.settings, script_prior={}, frequency_prior=0.0, extra_stroke_factor=1.0)
    weighed = fude.Recognizer(ja.net, ja.class_map, replace(base, script_prior=prior), companion=ja.companion)
    plain = fude.Recognizer(ja.net, ja.class_map, base, companion=ja.companion)
    drawing = S.read_json(Path(__file__).resolve().parents[1] / "examples" / "strokes-あ.json")
    with_prior = {g["char"]: g["probability"] for g in weighed.predict_strokes(drawing.strokes, k=40)}
    without = {g["char"]: g["probability"] for g in plain.predict_strokes(drawing.strokes, k=40)}
    both = [c for c in with_prior if c in without]
    hira = [c for c in both if script(c) == "hiragana"]
    other = [c for c in both if script(c) != "hiragana"]
    assert hira and other
    odds = (with_prior[hira[0]] / with_prior[other[0]]) / (without[hira[0]] / without[other[0]])
    f = prior_factors([hira[0], other[0]], prior)
    assert abs(odds - f[0] / f[1]) < 1e-3 and f[0] / f[1] in (1.5, 3.0)  # 3: the other an uncommon kanji
    with pytest.raises(ValueError, match="positive numbers"):
        RecognizerConfig(script_prior={"hiragana": 0})
    with pytest.raises(ValueError, match="'script_prior' names 'hiragna'; it weighs hiragana, katakana"):
        RecognizerConfig(script_prior={"hiragna": 1.5})  # a typo is not silently ignored


def test_extra_strokes_weigh_characters_with_fewer(tmp_path):
    """A character is weighed by extra_stroke_factor once per stroke drawn beyond the most its
    KanjiVG forms have (variants included: 嚢 has 18 strokes, 22 in a variant), less the slack a
    writer who splits strokes is given; fewer strokes (joined) are not weighed; bad factors are
    refused, in a config with its path."""
    import json
    import shutil
    from dataclasses import replace

    import fude
    from fude.models import ModelError
    from fude.recognizer import RecognizerConfig
    from fude.strokes.kanjivg import most_strokes, stroke_counts

    most = most_strokes()
    assert most["嚢"] == 22 and stroke_counts()["嚢"] == 18 and most["あ"] == 3 and most["学"] == 8
    ja = fude.load_model("ja")
    base = replace(ja.settings, extra_stroke_factor=1.0, stroke_slack=0.0)
    drawing = S.read_json(Path(__file__).resolve().parents[1] / "examples" / "strokes-学.json")
    n = len(drawing.strokes)
    free = {g["char"]: g["probability"] for g in
            fude.Recognizer(ja.net, ja.class_map, base, companion=ja.companion).predict_strokes(drawing.strokes, k=6600)}
    for slack in (0.0, 0.25):
        rec = fude.Recognizer(ja.net, ja.class_map, replace(base, extra_stroke_factor=0.5, stroke_slack=slack),
                              companion=ja.companion)
        weighed = {g["char"]: g["probability"] for g in rec.predict_strokes(drawing.strokes, k=6600)}
        assert next(iter(weighed)) == "学"
        both = [c for c in weighed if c in free]
        allowed = {c: most[c] + int(np.ceil(slack * most[c])) for c in both if c in most}
        fewer = [c for c in allowed if allowed[c] < n and free[c] > 1e-6]
        enough = [c for c in allowed if allowed[c] >= n]
        assert len(fewer) >= 3 and enough
        for c in fewer[:5]:  # odds against a character with enough strokes: times 0.5 per stroke beyond
            odds = (weighed[c] / weighed[enough[0]]) / (free[c] / free[enough[0]])
            assert abs(odds - 0.5 ** (n - allowed[c])) < 1e-3 * 0.5 ** (n - allowed[c]), (c, odds, slack)
    with pytest.raises(ValueError, match=r"'extra_stroke_factor' must be a number in \(0, 1\]"):
        RecognizerConfig(extra_stroke_factor=2)
    folder = tmp_path / "one"
    shutil.copytree(Path(fude.__file__).parent / "pretrained" / "hiragana", folder)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    (folder / "config.json").write_text(json.dumps({**config, "extra_stroke_factor": 0}), encoding="utf-8")
    with pytest.raises(ModelError, match="config.json: 'extra_stroke_factor' must be"):
        fude.load_model(folder)


def test_most_strokes_are_the_most_of_any_kanjivg_form():
    """The shipped most-strokes table (standard counts raised by the variant forms) is what the full
    KanjiVG set in the data mirror says."""
    from fude.strokes.kanjivg import load_templates, most_strokes

    folder = MIRROR / STROKE_SOURCES["kanjivg"].path
    if not folder.is_dir():
        pytest.skip("the full KanjiVG set is not in the data mirror")
    templates = load_templates(folder)
    most = most_strokes()
    assert {c: max(len(t.strokes) for t in templates[c]) for c in most} == most


def test_common_kanji_are_jis_level_one_and_the_prior_weighs_the_rest():
    """common_kanji is JIS X 0208 level 1: 2,965 kanji of the CJK blocks, 学 and 亜 (its first) among
    them, 弌 (level 2's first), 鷗 (outside JIS X 0208) and kana not; the uncommon-kanji factor multiplies
    only the others' kanji factor."""
    from fude.scripts import common_kanji, prior_factors

    blocks = [chr(c) for c in [*range(0x4E00, 0xA000), *range(0x3400, 0x4DC0)]]
    assert sum(map(common_kanji, blocks)) == 2965
    assert common_kanji("学") and common_kanji("亜") and common_kanji("腕")  # 腕: the last of level 1
    assert not any(map(common_kanji, ["弌", "鬱", "鷗", "あ", "ア", "7", "", "学学"]))
    f = prior_factors(list("学弌鷗あア"), {"kanji": 2.0, "uncommon-kanji": 0.5, "hiragana": 1.5})
    assert f.tolist() == [2.0, 1.0, 1.0, 1.5, 1.0] and f.dtype == np.float32


def test_a_damaged_or_altered_template_cache_is_parsed_again(tmp_path, monkeypatch):
    """The template cache is keyed on the files' content and fude's version and checks its own
    sha256: truncated, empty, bit-flipped, wrongly typed or consistently altered (two characters'
    labels swapped) cache files are never used; the templates are parsed again, the same as a
    fresh parse, and the cache is rewritten whole."""
    from fude.files import npz_bytes
    from fude.strokes.kanjivg import load_templates

    if not KANJIVG.exists():
        pytest.skip(f"KanjiVG files not found at {KANJIVG}")
    monkeypatch.setenv("FUDE_CACHE_DIR", str(tmp_path / "cache"))
    fresh = load_templates(KANJIVG, chars="あいう", cache=False)

    def same(got):
        return list(got) == list(fresh) and all(
            [t.variant for t in got[c]] == [t.variant for t in fresh[c]]
            and all(np.allclose(a, b, atol=1e-4) for t, u in zip(got[c], fresh[c]) for a, b in zip(t.strokes, u.strokes))
            for c in fresh)

    assert same(load_templates(KANJIVG, chars="あいう"))
    [cache] = (tmp_path / "cache" / "templates").glob("*.npz")
    good = cache.read_bytes()
    with np.load(cache) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(arrays["meta"].tobytes())
    chars = [m[0] for m in meta]
    swapped = [[{"あ": "い", "い": "あ"}.get(c, c), v, p] for c, v, p in meta]
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0x10
    damaged = {
        "truncated": good[: len(good) // 2], "empty": b"", "bit flipped": bytes(flipped),
        "meta of the wrong type": npz_bytes(**{**arrays, "meta": np.frombuffer(b'{"a": 1}', np.uint8)}),
        "labels swapped": npz_bytes(**{**arrays, "meta": np.frombuffer(
            json.dumps(swapped, ensure_ascii=False).encode(), np.uint8)}),
    }
    assert "あ" in chars and "い" in chars
    for why, data in damaged.items():
        cache.write_bytes(data)
        assert same(load_templates(KANJIVG, chars="あいう")), why
        assert cache.read_bytes() == good, why  # rebuilt


def test_the_template_cache_follows_the_files_content_and_fudes_version(tmp_path, monkeypatch):
    """Editing a KanjiVG file (same name, same size, same time) or another fude version uses
    another cache file: a cache never outlives what it was parsed from."""
    import os

    import fude
    from fude.strokes.kanjivg import load_templates

    if not KANJIVG.exists():
        pytest.skip(f"KanjiVG files not found at {KANJIVG}")
    monkeypatch.setenv("FUDE_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "kv"
    folder.mkdir()
    src = next(KANJIVG.glob("03042.svg"))
    svg = folder / src.name
    svg.write_bytes(src.read_bytes())
    first = load_templates(folder)["あ"][0].strokes
    stat = svg.stat()
    text = svg.read_text()
    moved = re.sub(r'd="M(\d)', lambda m: f'd="M{(int(m.group(1)) + 1) % 10}', text, count=1)  # one point moved
    assert moved != text and len(moved.encode()) == len(text.encode())
    svg.write_text(moved)
    os.utime(svg, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    second = load_templates(folder)["あ"][0].strokes
    assert not np.allclose(first[0][0], second[0][0])
    monkeypatch.setattr(fude, "__version__", "0.0.0-other")
    load_templates(folder)
    assert len(list((tmp_path / "cache" / "templates").glob("*.npz"))) == 3


def test_synth_to_disk_draws_the_same_whatever_the_workers_and_resumes(tmp_path, kanjivg):
    """fude synth's promise (docs/strokes.md): the shards drawn by two processes are the one-process
    drawings; an interrupted run (a shard missing) draws only what is missing; a shard damaged on
    disk is drawn again, not a traceback."""
    import os

    from fude.strokes.synth import synth_images, synth_to_disk

    chars = {c: kanjivg[c] for c in "あいうえ"}
    alone = synth_images(chars, 6, seed=4, size=28)
    two = synth_to_disk(chars, 6, tmp_path / "two", seed=4, size=28, workers=2, classes_per_shard=1)
    one = synth_to_disk(chars, 6, tmp_path / "one", seed=4, size=28, workers=1, classes_per_shard=1)
    for got in (two, one):
        assert np.array_equal(got[0], alone[0]) and np.array_equal(got[1], alone[1])
    shards = sorted((tmp_path / "two" / "shards").glob("*.npz"))
    assert len(shards) == 4
    for p in shards:
        os.utime(p, ns=(1, 1))  # an old time: a shard drawn again gets a new one
    shards[1].unlink()  # the run was stopped before this shard was written
    shards[2].write_bytes(shards[2].read_bytes()[:100])  # and this one was damaged on disk
    again = synth_to_disk(chars, 6, tmp_path / "two", seed=4, size=28, workers=2, classes_per_shard=1)
    assert np.array_equal(again[0], alone[0]) and np.array_equal(again[1], alone[1])
    assert [p.stat().st_mtime_ns == 1 for p in shards] == [True, False, False, True]


def test_the_numpy_bspline_is_scipys_interpolating_spline():
    """fude.strokes.bspline gives SciPy's splprep(s=0)/splev curve (relative difference under 1e-12)
    for degrees 1-3, short strokes and long ones (the O(m) cubic solve above 64 points)."""
    from scipy.interpolate import splev, splprep

    from fude.strokes import bspline

    rng = np.random.default_rng(5)
    for m in [2, 3, 4, 5, 7, 20, 90, 399, 401, 1500]:
        pts = np.cumsum(rng.normal(size=(m, 2)), axis=0)
        chord = np.concatenate([[0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
        u, k, t = chord / chord[-1], min(3, m - 1), np.linspace(0, 1, 64)
        tck, _ = splprep(pts.T, u=u, k=k, s=0)
        knots, coefficients = bspline.interpolate(u, pts, k)
        assert np.allclose(knots, tck[0]), m
        got, ref = bspline.evaluate(knots, coefficients, k, t), np.column_stack(splev(t, tck))
        assert np.abs(got - ref).max() <= 1e-12 * (1 + np.abs(ref).max()), m
        assert np.allclose(bspline.evaluate(knots, coefficients, k, u), pts)  # through every point
    with pytest.raises(ValueError, match="strictly increase"):
        bspline.interpolate(np.array([0.0, 0.5, 0.5, 1.0]), np.zeros((4, 2)))


def test_strokes_resampled_together_are_scipys_splines():
    """A drawing's strokes are fitted together (fude.strokes.features.resample_many: batched
    systems, Lagrange polynomials for 2-3 points, one O(m) solve for all strokes past 64 points, of
    different lengths): every stroke comes out
    as SciPy's splprep(s=0)/splev fits it alone; a tap gives copies of its point."""
    from scipy.interpolate import splev, splprep

    from fude.strokes.features import resample_many

    rng = np.random.default_rng(8)
    strokes = [np.cumsum(rng.normal(size=(m, 2)), axis=0) for m in [2, 3, 4, 5, 9, 33, 60, 65, 66, 400, 1500]]
    strokes.append(np.array([[4.0, 4.0], [4.0, 4.0]]))  # a tap
    counts = [7, 16, 16, 3, 32, 40, 64, 8, 17, 32, 90, 5]
    for points, n, got in zip(strokes, counts, resample_many(strokes, counts)):
        assert got.shape == (n, 2)
        if len(np.unique(points, axis=0)) == 1:
            assert np.array_equal(got, np.repeat(points[:1], n, axis=0))
            continue
        chord = np.concatenate([[0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])
        tck, _ = splprep(points.T, u=chord / chord[-1], k=min(3, len(points) - 1), s=0)
        ref = np.column_stack(splev(np.linspace(0, 1, n), tck))
        assert np.abs(got - ref).max() <= 1e-11 * (1 + np.abs(ref).max()), len(points)
