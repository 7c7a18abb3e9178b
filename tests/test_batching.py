"""Many writers at once: drawings sent together are read in batches (fude.serve.batching), and each
answer is the one a drawing read alone gets."""

import asyncio
import json
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from fude.recognizer import load_model
from fude.serve.batching import Batcher
from fude.strokes import StrokeError, load_tomoe, read_drawing

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ja():
    return load_model("ja", backend="onnxruntime", threads=1)


def requests_of_real_drawings(mirror) -> list[dict]:
    """Tomoe drawings with assorted options, an example drawn in the app's layout, and two bad ones."""
    chars = load_tomoe(mirror)[::97]
    reqs = [{"strokes": c.strokes, "k": 1 + i % 7, "script": ["all", "kanji", "kana", "hiragana"][i % 4],
             "canvas": {"width": 300, "height": 300} if i % 3 == 0 else None} for i, c in enumerate(chars)]
    reqs.append({"strokes": read_drawing(REPO / "examples" / "strokes-き-app-layout.json").strokes, "chars": "きさち"})
    reqs.append({"strokes": [[[0.0, 0.0], [float("nan"), 1.0]]]})  # a NaN: a StrokeError
    reqs.append({"strokes": chars[0].strokes, "chars": "ABC"})  # a filter that leaves none of the classes
    return reqs


def alone(rec, r: dict):
    try:
        return rec.predict_strokes(r["strokes"], k=r.get("k", 5), canvas=r.get("canvas"), script=r.get("script", "all"),
                                   chars=r.get("chars"))
    except ValueError as e:
        return e


def assert_same(a, b) -> None:
    if isinstance(a, Exception):
        assert type(a) is type(b) and str(a) == str(b)
        return
    assert [g["char"] for g in a] == [g["char"] for g in b]
    np.testing.assert_allclose([g["probability"] for g in a], [g["probability"] for g in b], atol=1e-5)


def test_many_at_once_is_each_alone(ja, mirror):
    reqs = requests_of_real_drawings(mirror)
    together = ja.predict_strokes_many(reqs)
    assert len(together) == len(reqs) > 30
    assert isinstance(together[-2], StrokeError) and isinstance(together[-1], ValueError)
    for r, t in zip(reqs, together):
        assert_same(t, alone(ja, r))


def test_the_batcher_gathers_concurrent_drawings_and_answers_each(ja, mirror):
    reqs = requests_of_real_drawings(mirror)
    batcher = Batcher(ja, max_batch=8, max_wait=0.005)

    async def send_all():
        async def one(r):
            try:
                return await batcher.predict_strokes(r["strokes"], k=r.get("k", 5), canvas=r.get("canvas"),
                                                     script=r.get("script", "all"), chars=r.get("chars"))
            except ValueError as e:
                return e
        answers = await asyncio.gather(*(one(r) for r in reqs))
        batcher.close()
        return answers

    answers = asyncio.run(send_all())
    for r, a in zip(reqs, answers):
        assert_same(a, alone(ja, r))
    assert batcher.drawings == len(reqs) and batcher.batches <= -(-len(reqs) // 8) + 1  # in batches, not one by one
    with pytest.raises(ValueError, match="max_batch"):
        Batcher(ja, max_batch=0)


def test_the_server_answers_concurrent_clients_as_one_at_a_time(tmp_path, mirror, ja):
    from conftest import free_port, start_server

    port = free_port()
    proc = start_server(tmp_path / "s.sqlite", port, "ja", seconds=60)
    chars = load_tomoe(mirror)[::61]

    def post(c):
        body = json.dumps({"model": "ja", "strokes": [s.tolist() for s in c.strokes]}).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/predict", body,
                                     {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())["top"]

    try:
        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(post, chars))
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as r:
            read = json.loads(r.read())["batches"]["ja"]
    finally:
        proc.terminate()
        proc.wait(10)
    assert read["drawings"] == len(chars) and read["batches"] <= read["drawings"]
    for c, top in zip(chars, answers):
        assert_same([{k: g[k] for k in ("char", "probability")} for g in top], alone(ja, {"strokes": c.strokes}))


def test_a_costly_drawing_is_read_alone_outside_the_batches(ja):
    """A drawing of many points (50 strokes x 60: 3,000) is read on a thread of its own, never in a
    batch whose other drawings would wait for it; its answer is the one it gets alone."""
    rng = np.random.default_rng(0)
    costly = [np.cumsum(rng.normal(size=(60, 2)), axis=0) + 50 for _ in range(50)]
    cheap = [np.array([[10.0, 10.0], [60.0, 60.0], [90.0, 20.0]])]
    batcher = Batcher(ja, max_batch=8, max_wait=0.005)

    async def send():
        answers = await asyncio.gather(batcher.predict_strokes(costly, k=3), batcher.predict_strokes(cheap, k=3))
        batcher.close()
        return answers

    answers = asyncio.run(send())
    assert batcher.costly == 1 and batcher.drawings == 1
    assert_same(answers[0], ja.predict_strokes(costly, k=3))
    assert_same(answers[1], ja.predict_strokes(cheap, k=3))
