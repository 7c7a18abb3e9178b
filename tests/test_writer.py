"""A writer's memory (fude.recognizer.writer, issue 37): it learns a writer's odd way of writing a
character, a wrong confirmation is outvoted, it is saved and refused when damaged or foreign, and
it works on the core install."""

import json
import subprocess
import sys

import numpy as np
import pytest

import fude
from fude.recognizer.writer import Writer, WriterError
from fude.strokes import check_strokes
from fude.strokes.kanjivg import load_templates
from fude.strokes.synth import SynthConfig, drawing

CASUAL = SynthConfig(join=0.4, split=0.15, merge=0.5, dots=0.5, squeeze=0.3, slant=12, cursive=0.3, quick=0.3,
                     part_scale=0.25, part_shift=0.05, hook=0.6)


@pytest.fixture(scope="module")
def ja():
    return fude.load_model("ja", backend="onnxruntime")


@pytest.fixture(scope="module")
def odd_hand(ja, mirror):
    """A writer's odd way of writing a character: a casual drawing, written 8 times with a neat hand's
    natural variation (the replay benchmark's writers), that `ja` misreads every time."""
    templates = load_templates(data_dir=mirror, chars="学校話語書読")
    for c in "学校話語書読":
        for seed in range(40):
            base, _ = drawing(templates[c], seed, ord(c), 0, CASUAL)
            copies = [check_strokes(drawing(base, seed + 7, ord(c), j)[0]) for j in range(8)]
            reads = [ja.predict_strokes(s, k=1)[0]["char"] for s in copies]
            if all(r != c for r in reads):
                return c, copies
    pytest.fail("no misread casual drawing found")


def test_a_drawing_learnt_once_already_helps(ja, odd_hand):
    char, copies = odd_hand
    hand = ja.writer()
    before = next((g["probability"] for g in hand.predict_strokes(copies[1], k=10) if g["char"] == char), 0.0)
    hand.learn(copies[0], char)
    after = hand.predict_strokes(copies[1], k=10)
    assert next(g["probability"] for g in after if g["char"] == char) > before + 0.05
    hand.learn(copies[1], char)
    hand.learn(copies[2], char)
    reads = [t[0]["char"] for t in hand.predict_strokes_many([{"strokes": c, "k": 1} for c in copies[3:]])]
    assert reads.count(char) >= 4, reads  # of 5 the network alone misreads
    assert ja.predict_strokes(copies[3], k=1)[0]["char"] != char  # the recognizer itself is unchanged


def test_a_wrong_confirmation_is_outvoted(ja, odd_hand, mirror):
    char, copies = odd_hand
    wrong = ja.predict_strokes(copies[0], k=1)[0]["char"]
    hand = ja.writer()
    for c in copies[:3]:
        hand.learn(c, char)
    hand.learn(copies[3], wrong)  # a slip of the finger
    reads = [hand.predict_strokes(c, k=1)[0]["char"] for c in copies[4:]]
    assert reads.count(char) >= 3, reads
    # and one wrong confirmation of a drawing the network reads right does not wreck that character
    neat = [check_strokes(drawing(load_templates(data_dir=mirror, chars="山")["山"], 0, 0, j)[0]) for j in range(3)]
    hand.learn(neat[0], "出")
    assert hand.predict_strokes(neat[1], k=1)[0]["char"] == "山"


def test_a_line_reads_with_the_memory(ja, odd_hand):
    char, copies = odd_hand
    hand = ja.writer()
    for c in copies[:2]:
        hand.learn(c, char)
    line = hand.predict_line([s * 0.9 for s in copies[2]], k=3)
    assert line["text"] == char and ja.predict_line([s * 0.9 for s in copies[2]], k=3)["text"] != char


def test_a_memory_is_saved_and_refused_when_damaged_or_foreign(ja, odd_hand, tmp_path):
    char, copies = odd_hand
    hand = ja.writer()
    for c in copies[:2]:
        hand.learn(c, char)
    path = hand.save(tmp_path / "me.hand")
    again = ja.writer(path)
    assert len(again) == 2
    a, b = again.predict_strokes(copies[2], k=3), hand.predict_strokes(copies[2], k=3)
    assert [g["char"] for g in a] == [g["char"] for g in b]
    assert np.allclose([g["probability"] for g in a], [g["probability"] for g in b], atol=1e-3)  # kept as float16
    assert fude.load_model("ja", backend="torch").writer(path).predict_strokes(copies[2], k=1)[0]["char"] == char
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "damaged.hand").write_bytes(bytes(data))
    with pytest.raises(WriterError, match="damaged"):
        ja.writer(tmp_path / "damaged.hand")
    with pytest.raises(WriterError, match="another model"):
        fude.load_model("hiragana-seq", backend="onnxruntime").writer(path)
    (tmp_path / "notes.txt").write_text("not a memory")
    with pytest.raises(WriterError, match="not a writer's memory"):
        ja.writer(tmp_path / "notes.txt")
    with pytest.raises(ValueError, match="not one of this model"):
        hand.learn(copies[0], "ℵ")


def test_the_command_line_learns_and_reads_with_a_memory(ja, odd_hand, tmp_path):
    char, copies = odd_hand
    files = []
    for i, c in enumerate(copies):
        files.append(tmp_path / f"{i}.json")
        files[-1].write_text(json.dumps({"strokes": c.copy() and [s.tolist() for s in c], "label": char}))
    memory = tmp_path / "me.hand"
    run = lambda *a: subprocess.run([sys.executable, "-m", "fude", "predict-strokes", "--json", *map(str, a)],  # noqa: E731
                                    capture_output=True, text=True)
    p = run("--writer", memory, "--learn", files[0], files[1])
    assert p.returncode == 0 and "2 drawings in the writer's memory" in p.stderr, p.stderr
    p = run("--writer", memory, files[2])
    assert p.returncode == 0 and json.loads(p.stdout)[0]["top"][0]["char"] == char
    p = run("--writer", tmp_path / "missing.hand", files[2])
    assert p.returncode == 1 and "no such file" in p.stderr and "Traceback" not in p.stderr


def test_a_memory_learns_and_reads_without_torch(tmp_path):
    from test_core_install import core

    r = core(f"""
        import fude, sys
        from fude.strokes import read_drawing
        rec = fude.load_model("ja")
        hand = rec.writer()
        d = read_drawing("examples/strokes-学.json").strokes
        hand.learn(d, "字")
        hand.learn(d, "字")
        assert hand.predict_strokes(d, k=1)[0]["char"] == "字", hand.predict_strokes(d, k=3)
        hand.save({str(tmp_path / 'core.hand')!r})
        assert len(rec.writer({str(tmp_path / 'core.hand')!r})) == 2
        assert "torch" not in sys.modules
    """)
    assert r.returncode == 0, r.stderr


def test_learning_takes_the_features_of_a_drawing_just_read(ja, odd_hand, monkeypatch):
    char, copies = odd_hand
    hand = ja.writer()
    hand.predict_strokes(copies[0], k=1)
    calls = []
    monkeypatch.setattr(ja, "read_many", lambda *a, **kw: calls.append(1))
    hand.learn(copies[0], char)
    assert not calls and len(hand) == 1 and isinstance(hand, Writer)
    assert np.isclose(np.linalg.norm(hand.features[0]), 1.0, atol=1e-5)


def test_the_server_keeps_each_writers_memory_apart_and_forgets_it(tmp_path):
    """Picks (samples with the page's writer id) teach that writer's memory only; two server
    processes on one database (``--workers``) read the same memory; DELETE forgets it everywhere."""
    from fastapi.testclient import TestClient

    from fude.serve import create_app
    from fude.strokes import read_drawing

    strokes = [s.tolist() for s in read_drawing("examples/strokes-学.json").strokes]
    db = tmp_path / "samples.sqlite"
    me, you = "writer-me-0001", "writer-you-0002"
    read = lambda c, w=None: c.post("/api/predict", json={"strokes": strokes, "model": "ja", "k": 1,  # noqa: E731
                                                          **({"writer": w} if w else {})}).json()["top"][0]["char"]
    with TestClient(create_app("ja", db)) as a, TestClient(create_app("ja", db)) as b:
        assert read(a, me) == read(a, you) == "学"
        for _ in range(2):
            assert a.post("/api/samples", json={"strokes": strokes, "label": "字", "model": "ja",
                                                "client_id": me}).status_code == 201
        assert a.get(f"/api/writers/{me}").json() == {"writer": me, "drawings": {"ja": 2}}
        assert read(a, me) == "字" and read(b, me) == "字"  # the other process loads what this one learnt
        assert read(a, you) == "学" and read(a) == "学"  # nobody else's reading changes
        line = a.post("/api/predict-line", json={"strokes": strokes, "model": "ja", "writer": me}).json()
        assert line["text"] == "字"
        assert b.delete(f"/api/writers/{me}").json() == {"writer": me, "forgotten": 2}
        assert read(a, me) == "学" and read(b, me) == "学"
        assert a.get(f"/api/writers/{me}").json()["drawings"] == {}
        assert a.post("/api/predict", json={"strokes": strokes, "writer": "short"}).status_code == 422
        assert a.delete("/api/writers/no").status_code == 422
        a.post("/api/samples", json={"strokes": strokes, "label": "字", "model": "ja", "client_id": you})
    # a writer's saved samples as a memory file, for the command line
    p = subprocess.run([sys.executable, "-m", "fude", "samples", "memory", "--db", str(db), "--writer", you,
                        "--out", str(tmp_path / "you.hand")], capture_output=True, text=True)
    assert p.returncode == 0 and "1 drawings of writer" in p.stdout, p.stderr
    assert len(fude.load_model("ja").writer(tmp_path / "you.hand")) == 1
    p = subprocess.run([sys.executable, "-m", "fude", "samples", "memory", "--db", str(db), "--writer", "nobody-at-all",
                        "--out", str(tmp_path / "no.hand")], capture_output=True, text=True)
    assert p.returncode == 1 and "no confirmed drawing" in p.stderr


def test_the_readmes_writer_example_runs_as_written(tmp_path):
    import shutil

    from conftest import REPO

    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = text.split("### Learns your hand", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    assert "rec.writer()" in block and "hand.save(" in block
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    (tmp_path / "example.py").write_text(block + "\nassert len(fude.load_model('ja').writer('me.hand')) == 1\n")
    p = subprocess.run([sys.executable, "example.py"], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
