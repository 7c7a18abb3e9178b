"""The HTTP API and the sample database, through FastAPI's TestClient (no network)."""

import io
import json
import os
import sqlite3

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from conftest import REPO
from fude.strokes import read_drawing


@pytest.fixture(scope="module")
def drawing():
    d = read_drawing(REPO / "examples" / "strokes-あ.json")
    return {"strokes": [s.tolist() for s in d.strokes], "canvas": d.canvas, "model": "hiragana"}


def test_health_page_and_schema(client):
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["models"] == ["hiragana", "kmnist"]
    assert set(health["batches"]) == {"hiragana", "kmnist"}
    page = client.get("/")
    assert page.status_code == 200 and "<canvas" in page.text and "pointerdown" in page.text
    assert "http://" not in page.text and "https://" not in page.text  # no CDN: works offline
    schema = client.get("/openapi.json").json()
    body = schema["paths"]["/api/predict"]["post"]["requestBody"]["content"]
    assert {"application/json", "multipart/form-data"} <= set(body)


def test_predict_strokes(client, drawing):
    r = client.post("/api/predict", json=drawing)
    assert r.status_code == 200
    body = r.json()
    assert body["model"] == "hiragana" and len(body["top"]) == 5 and body["elapsed_ms"] > 0
    assert body["top"][0] | {"probability": 0} == {"index": 1, "char": "あ", "codepoint": "U+3042", "romaji": "a",
                                                    "script": "hiragana", "kanji": None, "probability": 0,
                                                    "by_size": True}  # あ or ぁ: the drawing's size on its canvas told


def test_predict_strokes_script_and_chars_filters(client, drawing):
    """``script`` and ``chars`` narrow the guesses; a filter the model cannot meet is a 422 that says why."""
    r = client.post("/api/predict", json={**drawing, "chars": "いあう"})
    assert r.status_code == 200 and {g["char"] for g in r.json()["top"]} == set("いあう")
    assert r.json()["top"][0]["char"] == "あ" and abs(sum(g["probability"] for g in r.json()["top"]) - 1) < 1e-4
    r = client.post("/api/predict", json={**drawing, "script": "hiragana"})
    assert r.status_code == 200 and all(g["script"] == "hiragana" for g in r.json()["top"])
    r = client.post("/api/predict", json={**drawing, "script": "katakana"})
    assert r.status_code == 422 and "passes script='katakana'" in r.json()["detail"]
    r = client.post("/api/predict", json={**drawing, "script": "latin"})
    assert r.status_code == 422 and "script" in r.json()["detail"]
    r = client.post("/api/predict", json={**drawing, "chars": "xyz"})
    assert r.status_code == 422 and "does not read xyz" in r.json()["detail"]


def test_predict_image(client):
    buf = io.BytesIO()
    Image.open(REPO / "examples" / "kmnist-や.png").save(buf, format="PNG")
    r = client.post("/api/predict", files={"file": ("y.png", buf.getvalue(), "image/png")}, data={"model": "kmnist"})
    assert r.status_code == 200 and r.json()["top"][0]["char"] == "や"


@pytest.mark.parametrize("body, status, words", [
    ({"strokes": [], "model": "hiragana"}, 422, "no strokes"),
    ({"strokes": [[[0, 0], [1]]], "model": "hiragana"}, 422, "[x, y] number pairs"),
    ({"strokes": [[[0, 0, 0]]], "model": "hiragana"}, 422, "shape"),
    ({"strokes": [[[0, 0], [1, 1]]], "model": "emnist"}, 404, "unknown model 'emnist'"),
    ({"strokes": [[[0, 0]]] * 65}, 422, "65"),
    ({"strokes": [[[float(i), 0.0] for i in range(20_001)]]}, 422, "20,000 points"),
    ({"strokes": "abc"}, 422, "strokes"),
])
def test_predict_bad_strokes(client, body, status, words):
    r = client.post("/api/predict", json=body)
    assert r.status_code == status and words in r.json()["detail"], r.text


@pytest.mark.parametrize("raw, words", [
    ('{"strokes": [[[0, NaN]]]}', "finite"),
    ('{"strokes": [[[0, Infinity]]]}', "finite"),
    ('{"strokes": [[[0, 0]', "malformed JSON"),
])
def test_predict_nan_and_malformed_json(client, raw, words):
    r = client.post("/api/predict", content=raw, headers={"Content-Type": "application/json"})
    assert r.status_code in (400, 422) and words in r.json()["detail"], r.text


def test_predict_bad_images(client):
    r = client.post("/api/predict", files={"file": ("x.png", b"not an image at all", "image/png")}, data={"model": "kmnist"})
    assert r.status_code == 400 and "not an image" in r.json()["detail"]
    big = io.BytesIO()
    Image.new("L", (5000, 10), 255).save(big, format="PNG")
    r = client.post("/api/predict", files={"file": ("big.png", big.getvalue(), "image/png")}, data={"model": "kmnist"})
    assert r.status_code == 413 and "4096 px" in r.json()["detail"]
    r = client.post("/api/predict", files={"file": ("huge.png", b"\0" * (5 * 2**20 + 10), "image/png")}, data={"model": "kmnist"})
    assert r.status_code == 413 and "5 MB" in r.json()["detail"]
    r = client.post("/api/predict", data={"model": "kmnist"}, files={"other": ("a", b"x", "text/plain")})
    assert r.status_code == 422 and "'file'" in r.json()["detail"]
    r = client.post("/api/predict", content=b"strokes please", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415


def test_samples_are_saved_counted_and_exported(client, drawing, tmp_path):
    from fude.serve.samples import SampleStore, export

    before = client.get("/api/samples/stats").json()["total"]
    r = client.post("/api/samples", json={**drawing, "label": "あ", "guess": "あ", "client_id": "test"})
    assert r.status_code == 201 and r.json()["id"] >= 1
    client.post("/api/samples", json={**drawing, "label": "お"})
    stats = client.get("/api/samples/stats").json()
    assert stats["total"] == before + 2 and stats["per_label"]["お"] >= 1
    r = client.post("/api/samples", json={**drawing, "label": ""})
    assert r.status_code == 422 and client.get("/api/samples/stats").json()["total"] == before + 2  # nothing saved
    with sqlite3.connect(client.db) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        row = db.execute("SELECT label, guess, model, client_id, strokes FROM samples ORDER BY id LIMIT 1").fetchone()
    assert row[:4] == ("あ", "あ", "hiragana", "test") and len(json.loads(row[4])) == len(drawing["strokes"])

    counts = export(SampleStore(client.db), tmp_path)
    assert counts == {"samples": stats["total"], "classes": len(stats["per_label"]), "left_out": 0}
    imgs = np.load(tmp_path / "samples-imgs.npz")["arr_0"]
    assert imgs.shape == (stats["total"], 28, 28) and imgs.max() > 0
    assert len(list((tmp_path / "strokes").glob("*.json"))) == stats["total"]
    from fude.datasets import load_pair

    data = load_pair(tmp_path / "samples-imgs.npz", tmp_path / "samples-labels.npz",  # a training set fude reads
                     tmp_path / "samples_classmap.csv")
    assert len(data) == stats["total"] and "あ" in data.class_map.chars


def test_two_real_worker_processes_answer(tmp_path):
    """`fude serve --workers 2` for real: uvicorn starts each worker in a fresh process, which must
    be able to import everything the server hands it (its settings, its HTTP protocol)."""
    import urllib.request

    from conftest import free_port, start_server

    port = free_port()
    proc = start_server(tmp_path / "s.sqlite", port, "kmnist", "--workers", "2", seconds=60)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
            assert json.loads(r.read())["models"] == ["kmnist"]
    finally:
        proc.terminate()
        proc.wait(20)


def test_several_workers_get_their_settings_from_the_environment(monkeypatch, tmp_path):
    import uvicorn

    from fude import serve

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    monkeypatch.setenv("FUDE_MODELS", "mnist")  # restored after the test: run() overwrites them
    monkeypatch.setenv("FUDE_SAMPLES_DB", "unused")
    monkeypatch.setenv("FUDE_BIND_HOST", "")
    serve.run(models="kmnist", db=str(tmp_path / "s.sqlite"), workers=2)
    app, kw = calls[-1]
    assert app == "fude.serve:app_from_env" and kw["factory"] and kw["workers"] == 2
    assert os.environ["FUDE_MODELS"] == "kmnist" and os.environ["FUDE_SAMPLES_DB"] == str(tmp_path / "s.sqlite")
    assert os.environ["FUDE_BIND_HOST"] == "127.0.0.1"
    with TestClient(serve.app_from_env(), base_url="http://127.0.0.1") as c:  # what each worker builds
        assert c.get("/health").json()["models"] == ["kmnist"]
    with TestClient(serve.app_from_env(), base_url="http://rebound.example") as c:  # DNS rebinding: refused
        assert c.get("/health").status_code == 400
    with pytest.raises(ValueError, match="workers must be at least 1"):
        serve.run(workers=0)
