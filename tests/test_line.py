"""Reading a word written in a row (fude.recognizer.line) on generated lines: where the characters
start and end, small kana, the CLI's JSON and the API, and bad input."""

import json
import subprocess
import sys

import numpy as np
import pytest

from fude.recognizer import load_model
from fude.recognizer.line import LineSettings, best_path, runs_of, small_kana_share
from fude.scripts import TWINS
from fude.strokes import StrokeError
from fude.strokes.kanjivg import load_templates
from fude.strokes.synth import SynthConfig, line_drawing

TWIN_OF = {c: g[0] for g in TWINS for c in g}


def same(text: str) -> str:
    return "".join(TWIN_OF.get(c, c) for c in text)


@pytest.fixture(scope="module")
def ja():
    return load_model("ja", backend="onnxruntime")


@pytest.fixture(scope="module")
def templates(mirror):
    return load_templates(data_dir=mirror, chars="日本語学校ありがとうカタナきってちょ人口山")


@pytest.mark.parametrize("word", ["日本", "学校", "ありがとう", "カタカナ"])
def test_well_spaced_lines_are_cut_where_the_characters_are(ja, templates, word):
    for seed in range(2):
        strokes, groups = line_drawing(templates, word, seed, SynthConfig(), spacing=(0.25, 0.35))
        line = ja.predict_line(strokes, k=5)
        assert [c["strokes"] for c in line["characters"]] == groups
        assert same(line["text"]) == same(word)
        assert all(len(c["top"]) == 5 for c in line["characters"])


def test_small_kana_sit_low_and_small(ja, templates):
    for word in ("きって", "ちょっと"):
        strokes, groups = line_drawing(templates, word, 1, SynthConfig(), spacing=(0.15, 0.25))
        line = ja.predict_line(strokes)
        assert line["text"] == word
        assert [c["strokes"] for c in line["characters"]] == groups


def test_a_small_kana_is_told_by_where_it_sits_as_well_as_its_size():
    """Two kana of the same size (0.65 line heights): the one that starts low reads small, the one
    that starts at the line's top full-size; a large one reads full-size wherever it starts."""
    box = lambda top, size: (np.array([0.0, top]), np.array([size, top + size]))  # noqa: E731
    low, high = small_kana_share(*box(0.35, 0.65), 0.0, 1.0), small_kana_share(*box(0.0, 0.65), 0.0, 1.0)
    assert low > 0.9 and high < 0.1
    assert small_kana_share(*box(0.1, 0.9), 0.0, 1.0) < 0.02
    # in the strokes' own units: the same answers for a line 200 units high starting at y = 50
    assert small_kana_share(*(50 + 200 * b for b in box(0.35, 0.65)), 50.0, 200.0) == pytest.approx(low)


def test_two_characters_written_tight_are_not_read_as_one_wide_one():
    """背退 written tight, its strokes also read (with more confidence) as one complex kanji 1.5 line
    heights wide: no single character is that wide, so the two are chosen; without the width term
    the wide one would win."""
    top = lambda c, p: [{"char": c, "probability": p}]  # noqa: E731
    cands = [{"run": (0, 9), "gap": 0.0, "width": 0.8, "height": 0.9, "top": top("背", 0.5)},
             {"run": (9, 18), "gap": 0.0, "width": 0.75, "height": 0.95, "top": top("退", 0.5)},
             {"run": (0, 18), "gap": 0.0, "width": 1.5, "height": 0.95, "top": top("鬱", 0.4)}]
    assert [c["top"][0]["char"] for c in best_path(cands, 18)] == ["背", "退"]
    no_width = LineSettings(wide_penalty=0.0)
    assert [c["top"][0]["char"] for c in best_path(cands, 18, no_width)] == ["鬱"]


def test_a_joined_pair_is_still_two_characters(ja, templates):
    """Written tight: the second character's ink starts a little left of where the first one's ends."""
    strokes, groups = line_drawing(templates, "人口", 3, SynthConfig(), spacing=(-0.06, -0.04))
    right_of_first = max(float(strokes[i][:, 0].max()) for i in groups[0])
    assert min(float(strokes[i][:, 0].min()) for i in groups[1]) < right_of_first  # they do overlap
    line = ja.predict_line(strokes)
    assert [c["strokes"] for c in line["characters"]] == groups and same(line["text"]) == same("人口")


def test_every_stroke_is_read_once_in_order(ja, templates):
    strokes, _ = line_drawing(templates, "山口日本", 5, SynthConfig(join=0.4, merge=0.5, slant=12), spacing=(-0.05, 0.1))
    line = ja.predict_line(strokes)
    assert [i for c in line["characters"] for i in c["strokes"]] == list(range(len(strokes)))
    assert line["text"] == "".join(c["top"][0]["char"] for c in line["characters"])
    # the places a character may begin: always a path from the first stroke to the last
    runs = runs_of([np.asarray(s, float) for s in strokes], 100.0, LineSettings().overlap)
    assert (0, len(strokes)) == (min(i for i, _, _ in runs), max(j for _, j, _ in runs))


def test_bad_lines_get_a_clear_error_or_a_reading(ja):
    with pytest.raises(StrokeError, match="no strokes"):
        ja.predict_line([])
    one = ja.predict_line([[[0, 0], [10, 10]]])
    assert len(one["characters"]) == 1 and one["characters"][0]["strokes"] == [0]
    with pytest.raises(StrokeError, match="256"):
        ja.predict_line([[[float(i), 0.0], [i + 0.5, 1.0]] for i in range(10_000)])
    with pytest.raises(ValueError, match="ABC"):
        ja.predict_line([[[0, 0], [10, 10]]], chars="ABC")


def test_cli_line_json(tmp_path, templates):
    files = []
    for word in ("日本", "きって"):
        strokes, _ = line_drawing(templates, word, 0, SynthConfig(), spacing=(0.25, 0.35))
        path = tmp_path / f"{word}.json"
        path.write_text(json.dumps({"strokes": [s.round(2).tolist() for s in strokes]}))
        files.append(str(path))
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"strokes": [[[i, 0], [i + 1, 1]] for i in range(10_000)]}))
    out = subprocess.run([sys.executable, "-m", "fude", "predict-strokes", "--line", "--json", "--top-k", "5", *files,
                          str(big)], capture_output=True, text=True)
    assert out.returncode == 1  # one file failed, the others were read
    answers = json.loads(out.stdout)
    assert [a["file"] for a in answers] == [*files, str(big)]
    for a, word in zip(answers, ("日本", "きって")):
        assert set(a) == {"file", "text", "characters"} and same(a["text"]) == same(word)
        for c in a["characters"]:
            assert set(c) == {"strokes", "top"} and len(c["top"]) == 5
            assert all(isinstance(g["char"], str) and 0 <= g["probability"] <= 1 for g in c["top"])
    assert "256" in answers[2]["error"] and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines() == [f"error: {answers[2]['error']}"]


def test_api_reads_a_line(client, templates):
    strokes, groups = line_drawing(templates, "ありがとう", 0, SynthConfig(), spacing=(0.25, 0.35))
    r = client.post("/api/predict-line", json={"model": "hiragana", "strokes": [s.tolist() for s in strokes]})
    assert r.status_code == 200 and r.json()["text"] == "ありがとう"
    chars = r.json()["characters"]
    assert [c["strokes"] for c in chars] == groups and chars[0]["top"][0]["romaji"] == "a"
    for body, status in (({"strokes": []}, 422), ({"strokes": [[[0, 0]]] * 10_000}, 422),
                         ({"strokes": [[[0, "x"]]]}, 422)):
        r = client.post("/api/predict-line", json=body)
        assert r.status_code == status and isinstance(r.json()["detail"], str)
    r = client.post("/api/predict-line", content=b"{", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
