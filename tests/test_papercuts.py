"""Out-of-range flags and values get one line that names the range, before any work is done
(issue 30's papercuts: each of these once ran, crashed deep inside or wrote where it should not)."""

import subprocess
import sys

import pytest

from conftest import MIRROR
from fude.cli import main


@pytest.mark.parametrize("argv, message", [
    (["predict-strokes", "--top-k", "-1", "examples/strokes-あ.json"], "--top-k: -1 is out of range: give 1 to 1000"),
    (["predict", "--top-k", "0", "examples/mnist-7.png"], "--top-k: 0 is out of range"),
    (["serve", "--port", "70000"], "--port: 70000 is out of range: give 1 to 65535"),
    (["serve", "--port", "-1"], "--port: -1 is out of range"),
    (["serve", "--workers", "0"], "--workers: 0 is out of range"),
    (["synth", "--size", "100000", "--out", "x"], "--size: 100000 is out of range: give 8 to 256"),
    (["synth", "--sequences", "1000000000", "--out", "x"], "--sequences: 1000000000 is out of range"),
    (["synth", "--workers", "-2", "--out", "x"], "--workers: -2 is out of range"),
    (["synth", "--per-char", "0", "--out", "x"], "--per-char: 0 is out of range"),
])
def test_out_of_range_flags_are_usage_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize("extra, message", [
    (["--chars", ""], "--chars and --chars-file name no characters"),
    (["--name", "../../x"], "--name '../../x': give a file name prefix, not a path"),
    (["--set", "tremor=1e308"], "tremor is a share of the character's size: it must lie in [0, 1]"),
    (["--set", "rotate=400"], "rotate is an angle in degrees: it must lie in [0, 90]"),
    (["--script", "all", "--per-char", "100000", "--size", "256"], "more than fude synth writes at once"),
])
def test_synth_refuses_what_it_cannot_draw_in_one_line(extra, message, tmp_path, capsys):
    code = main(["synth", "--data-dir", str(MIRROR), "--out", str(tmp_path / "out"), *extra])
    assert code == 1 and message in capsys.readouterr().err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.npz"))


def test_a_lesson_file_of_kana_and_kanji_draws_all_of_it(tmp_path, capsys):
    """--chars-file without --script draws every character listed, kanji included (it once kept the
    hiragana default and said nothing)."""
    import numpy as np

    lesson = tmp_path / "lesson.txt"
    lesson.write_text("あい 日本\n", encoding="utf-8")
    code = main(["synth", "--data-dir", str(MIRROR), "--chars-file", str(lesson), "--per-char", "1", "--workers", "1",
                 "--out", str(tmp_path / "out"), "--name", "lesson"])
    assert code == 0
    classmap = (tmp_path / "out" / "lesson_classmap.csv").read_text(encoding="utf-8")
    assert all(c in classmap for c in "あい日本")
    with np.load(tmp_path / "out" / "lesson-labels.npz") as z:
        assert len(z["arr_0"]) == 4


def test_serve_help_names_the_models_it_loads(capsys):
    from fude.models import SERVED_MODELS
    from fude.serve import DEFAULT_MODELS

    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    help_text = "".join(capsys.readouterr().out.split())  # argparse wraps lines anywhere
    assert DEFAULT_MODELS == SERVED_MODELS and SERVED_MODELS.startswith("ja,") and SERVED_MODELS in help_text


def test_reports_of_two_sets_of_own_files_go_to_two_folders(tmp_path):
    """The default report folder names the data: a registered split by name, the user's own files by
    their first file and its md5, so the report on B never overwrites the report on A."""
    from fude.cli.analyse import data_tag
    from fude.datasets import load_dataset, load_pair, save_pair

    d = load_dataset("kmnist-sample", "test")
    assert data_tag(d.source) == "kmnist-sample-test"
    a = load_pair(*save_pair(tmp_path / "a", "set", d.images[:50], d.labels[:50], d.class_map))
    b = load_pair(*save_pair(tmp_path / "b", "set", d.images[50:100], d.labels[50:100], d.class_map))
    assert data_tag(a.source) != data_tag(b.source)
    assert data_tag(a.source).startswith("files-set-imgs-")


def test_datasets_list_lines_up():
    p = subprocess.run([sys.executable, "-m", "fude", "datasets"], capture_output=True, text=True)
    rows = [line for line in p.stdout.splitlines() if not line.startswith("data directory")]
    import re

    assert len(rows) >= 4 and len({re.match(r"\S+\s+", line).end() for line in rows}) == 1  # one column for the text
