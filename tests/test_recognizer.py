"""The recognizer as parts: its saved, self-checking settings (RecognizerConfig), the reading
pipeline any scorer plugs into, the frequency prior, and the precision `auto` picks."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import fude
from fude.classmap import ClassMap
from fude.models import ModelError
from fude.models.store import resolve_model_dir
from fude.recognizer import FrequencyPrior, RecognizerConfig, StrokeReader, save_recognizer_config
from fude.strokes import check_strokes, read_json, resample

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_settings_round_trip_and_check_themselves(tmp_path):
    cfg = RecognizerConfig(box=26, companion="../seq", companion_weight={"kanji": 0.5, "hiragana": 0.2},
                           script_prior={"hiragana": 1.5}, frequency_prior=0.6, extra_stroke_factor=0.5,
                           stroke_slack=0.25)
    assert RecognizerConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert cfg.companion_weights(["kanji", "hiragana", "katakana"]) == [0.5, 0.2, 0.5]  # no default: 0.5
    for bad, field in (({"box": 2}, "'box'"), ({"companion_weight": 1.0}, "'companion_weight'"),
                       ({"companion_weight": {"kana": 0.3}}, "'companion_weight'"),
                       ({"frequency_prior": -1}, "'frequency_prior'"), ({"stroke_slack": float("nan")}, "'stroke_slack'"),
                       ({"small_kana_side": 1.0}, "'small_kana_side'"), ({"extra_stroke_factor": True}, "'extra_stroke_factor'")):
        with pytest.raises(ValueError, match=field):
            RecognizerConfig(**bad)
    with pytest.raises(ValueError, match="unknown keys 'compaion'; it takes box, companion"):
        RecognizerConfig.from_dict({"compaion": "ja-seq"})


def test_configs_written_before_the_settings_section_still_load():
    """The shipped hiragana config predates the "recognizer" section: its preprocess box is read."""
    config = json.loads((resolve_model_dir("hiragana") / "config.json").read_text(encoding="utf-8"))
    assert "recognizer" not in config
    assert RecognizerConfig.from_model_config(config) == RecognizerConfig(box=config["preprocess"]["box"])
    old = {"preprocess": {"box": 26}, "companion": {"model": "ja-seq", "weight": 0.4},
           "script_prior": {"hiragana": 1.5}, "extra_stroke_factor": 0.5}
    assert RecognizerConfig.from_model_config(old) == RecognizerConfig(
        box=26, companion="ja-seq", companion_weight=0.4, script_prior={"hiragana": 1.5}, extra_stroke_factor=0.5)


def test_fude_configure_writes_the_settings_that_load_model_reads(tmp_path, capsys):
    from fude.cli import main

    folder = tmp_path / "hira"
    shutil.copytree(resolve_model_dir("hiragana"), folder)
    before = (folder / "config.json").read_bytes()
    code = main(["configure", str(folder), "--companion", "hiragana-seq", "--companion-weight", "hiragana=0.3",
                 "--companion-weight", "default=0.6", "--script-prior", "hiragana=1.5", "--extra-stroke-factor", "0.5",
                 "--stroke-slack", "0.25"])
    assert code == 0 and json.loads(capsys.readouterr().out)["companion"] == "hiragana-seq"
    rec = fude.load_model(folder)
    assert rec.settings == RecognizerConfig(box=rec.box, companion="hiragana-seq",
                                            companion_weight={"hiragana": 0.3, "default": 0.6},
                                            script_prior={"hiragana": 1.5}, extra_stroke_factor=0.5, stroke_slack=0.25)
    assert rec.companion is not None and rec.companion.class_map.chars == rec.class_map.chars
    drawing = check_strokes(read_json(EXAMPLES / "strokes-あ.json").strokes)
    image, seq = fude.load_model("hiragana"), fude.load_model("hiragana-seq")
    np.testing.assert_allclose(rec.strokes_proba(drawing), 0.7 * image.strokes_proba(drawing)
                               + 0.3 * seq.strokes_proba(drawing), atol=1e-6)  # every class here is hiragana
    assert rec.predict_strokes(drawing, k=1)[0]["char"] == "あ"
    # a bare weight is every script's, whether it comes before or after a script's own
    assert main(["configure", str(folder), "--companion-weight", "0.6", "--companion-weight", "hiragana=0.3"]) == 0
    capsys.readouterr()
    assert fude.load_model(folder).settings.companion_weight == {"default": 0.6, "hiragana": 0.3}
    # a bad value or a companion of other classes is refused, and the file is left as it was
    written = (folder / "config.json").read_bytes()
    for argv, msg in ((["--companion", "kmnist"], "same classes"), (["--frequency-prior", "-2"], "'frequency_prior'"),
                      (["--script-prior", "hiragna=2"], "'hiragna'")):
        assert main(["configure", str(folder), *argv]) == 1
        assert msg in capsys.readouterr().err
        assert (folder / "config.json").read_bytes() == written
    assert main(["configure", "hiragana", "--box", "22"]) == 1  # a shipped model is never changed
    assert "not a model folder" in capsys.readouterr().err
    assert before != written


class NearestTemplate:
    """A recognizer family that is not a network: the nearest of one template per class, by the
    mean distance between evenly resampled points (as in the elastic matching of early on-line
    recognizers). The whole of it: a class map and strokes_proba."""

    def __init__(self, templates: dict[str, list[np.ndarray]]) -> None:
        self.class_map = ClassMap(tuple(templates))
        self.points = [self._points(s) for s in templates.values()]

    @staticmethod
    def _points(strokes) -> np.ndarray:
        from fude.strokes import normalise

        return np.concatenate(resample(normalise(list(strokes)), n=16))

    def strokes_proba(self, strokes) -> np.ndarray:
        p = self._points(strokes)
        d = np.array([np.linalg.norm(p - t, axis=1).mean() if len(t) == len(p) else 9.0 for t in self.points])
        e = np.exp(-d / 0.05)
        return (e / e.sum()).astype(np.float32)


def test_a_new_recognizer_family_is_one_scorer_class():
    """A template matcher plugs into the same reading parts as the networks: filters, priors,
    twins and the small-kana split apply to its probabilities."""
    examples = {c: read_json(EXAMPLES / f"strokes-{c}.json").strokes for c in "あね"}
    matcher = NearestTemplate({"ぁ": examples["あ"], "あ": examples["あ"], "ね": examples["ね"], "日": examples["ね"]})
    reader = StrokeReader(matcher, RecognizerConfig(script_prior={"hiragana": 2.0}))
    top = reader.predict_strokes(examples["ね"], k=4)
    assert [g["char"] for g in top[:2]] == ["ね", "日"] and top[0]["probability"] == pytest.approx(2 / 3, abs=1e-4)
    assert reader.predict_strokes(examples["ね"], k=1, script="kanji")[0]["char"] == "日"
    small = reader.predict_strokes([s * 0.2 for s in examples["あ"]], k=2, canvas={"width": 300, "height": 300})
    assert small[0]["char"] == "ぁ"  # a fifth of the canvas: the small kana
    assert [g["char"] for g in reader.predict_strokes(examples["あ"], k=2)] == ["あ", "ぁ"]  # no canvas: 70:30


def test_the_frequency_prior_favours_frequent_kanji_only():
    chars = ("日", "語", "鬱", "あ", "ア")
    w = FrequencyPrior(chars, 1.0).factors([])
    assert w[0] > w[1] > w[2] and w[3] == w[4] == 1.0
    from fude.recognizer.reading import frequency_ranks
    from fude.scripts import kanjidic

    assert frequency_ranks(chars).tolist()[3:] == [0, 0]
    rank = kanjidic()["日"][0]
    assert rank == 1 and w[0] == pytest.approx(1.0)  # the most frequent kanji is not weighed
    assert FrequencyPrior(chars, 0.0).factors([]).tolist() == [1.0] * 5


def test_auto_precision_reads_single_drawings_in_fp32(monkeypatch):
    """Where bf16 is fast for batches (AMX), `auto` still runs a call of one drawing in fp32, which is
    faster there; large calls take bf16."""
    import fude.recognizer.network as network

    rec = fude.load_model("hiragana")
    assert rec.precision == "auto" and rec.precision_for(1) == "fp32"
    monkeypatch.setattr(network, "resolve_precision", lambda p, d: "bf16" if p == "auto" else p)
    assert rec.precision_for(1) == "fp32" and rec.precision_for(network.AUTO_BF16_MIN_BATCH) == "bf16"
    assert fude.load_model("hiragana", precision="bf16").precision_for(1) == "bf16"


def test_settings_are_saved_atomically_and_refused_without_a_config(tmp_path):
    with pytest.raises(ModelError, match="cannot read the model's config"):
        save_recognizer_config(tmp_path, RecognizerConfig())
    (tmp_path / "config.json").write_text(json.dumps({"preprocess": {"box": 20}, "script_prior": {"hiragana": 2}}))
    save_recognizer_config(tmp_path, RecognizerConfig(box=24, frequency_prior=0.5))
    saved = json.loads((tmp_path / "config.json").read_text())
    assert "script_prior" not in saved and saved["preprocess"]["box"] == 24
    assert RecognizerConfig.from_model_config(saved) == RecognizerConfig(box=24, frequency_prior=0.5)
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]  # no temporary file left


def test_kanji_guesses_carry_readings_and_meanings(tmp_path):
    """The API answers each kanji guess with its main readings and English meanings (KANJIDIC2), and
    each kana with its romaji, so a person knows what they picked."""
    from fastapi.testclient import TestClient

    from fude.scripts import kanji_info
    from fude.serve import create_app

    assert kanji_info("語") == {"on": ["ゴ"], "kun": ["かた.る", "かた.らう"], "meaning": ["word", "speech", "language"]}
    assert kanji_info("あ") is None
    ten = {"strokes": [[[10, 50], [90, 50]], [[50, 10], [50, 90]]], "canvas": {"width": 100, "height": 100}}
    with TestClient(create_app("ja", tmp_path / "samples.sqlite")) as client:
        top = client.post("/api/predict", json={**ten, "k": 5}).json()["top"]
        kanji = [g for g in top if g["script"] == "kanji"]
        assert kanji and all(g["kanji"] == kanji_info(g["char"]) and g["romaji"] is None for g in kanji)
        assert top[0]["char"] == "十" and "ten" in top[0]["kanji"]["meaning"]
        kana = client.post("/api/predict", json={**ten, "script": "kana"}).json()["top"]
        assert all(g["kanji"] is None and g["romaji"] for g in kana)


def test_a_recipe_writes_every_reading_setting_by_command(tmp_path, capsys):
    """The shipped ja recipe in miniature (the ja recipe file's steps on three characters): casual
    drawings, an image network, a sequence companion, then `fude configure`; the model folder then
    reads with every setting the recipe gave, and nothing was written into config.json by hand."""
    from conftest import MIRROR
    from fude.cli import main

    casual = ["--set", "join=0.25", "--set", "merge=0.2", "--set", "split=0.1", "--set", "quick=0.15",
              "--set", "finger=0.15", "--set", "cursive=0.2"]
    common = ["--script", "all", "--chars", "あい日", "--per-char", "40", "--seed", "0", "--workers", "1",
              "--data-dir", str(MIRROR)]
    assert main(["synth", *common, "--size", "32", "--name", "ja", "--out", str(tmp_path / "d"), *casual]) == 0
    assert main(["train", "--images", str(tmp_path / "d" / "ja-imgs.npz"), "--labels", str(tmp_path / "d" / "ja-labels.npz"),
                 "--classmap", str(tmp_path / "d" / "ja_classmap.csv"), "--epochs", "10", "--val-split", "0",
                 "--batch-size", "32",
                 "--out", str(tmp_path / "ja"), "--quiet"]) == 0
    assert main(["synth", *common, "--sequences", "64", "--reorder", "0.5", "--name", "seq", "--out",
                 str(tmp_path / "s"), *casual]) == 0
    assert main(["train", "--sequences", str(tmp_path / "s" / "seq-seqs.npz"), "--labels", str(tmp_path / "s" / "seq-labels.npz"),
                 "--classmap", str(tmp_path / "s" / "seq_classmap.csv"), "--arch", "stroke-conv1d", "--epochs", "10",
                 "--batch-size", "32",
                 "--val-split", "0", "--out", str(tmp_path / "ja-seq"), "--quiet"]) == 0
    assert main(["configure", str(tmp_path / "ja"), "--companion", "../ja-seq", "--companion-weight", "kanji=0.5",
                 "--companion-weight", "hiragana=0.2", "--frequency-prior", "0.3", "--script-prior", "hiragana=1.5",
                 "--extra-stroke-factor", "0.5", "--stroke-slack", "0.25"]) == 0
    rec = fude.load_model(tmp_path / "ja")
    assert rec.settings == RecognizerConfig(box=rec.box, companion="../ja-seq",
                                            companion_weight={"kanji": 0.5, "hiragana": 0.2},
                                            script_prior={"hiragana": 1.5}, frequency_prior=0.3,
                                            extra_stroke_factor=0.5, stroke_slack=0.25)
    assert rec.companion is not None and rec.companion.net.input_spec.kind == "sequence"
    drawing = read_json(EXAMPLES / "strokes-あ.json")
    assert rec.predict_strokes(drawing.strokes, k=1, canvas=drawing.canvas)[0]["char"] == "あ"
