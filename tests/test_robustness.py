"""Nothing lost, nothing crashes: kills during training and during file writes, corrupt and hostile
files, fuzzed HTTP requests, concurrent sample writers and a server killed mid-write."""

import http.client
import io
import json
import multiprocessing
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, free_port, start_server, write_csv, write_idx
from fude import datasets
from fude.classmap import ClassMap
from fude.datasets import DatasetError
from fude.files import atomic_write
from fude.models import ModelError, create_model, save_model
from fude.recognizer import load_model
from fude.datasets.preprocess import ImageError, load_image, to_dataset_image
from fude.strokes import StrokeError, read_drawing

EPOCHS = 16  # enough that each kill lands mid-run even where one epoch takes 0.1 s
TINY = ["--dataset", "kmnist-sample", "--epochs", str(EPOCHS), "--batch-size", "64", "--threads", "1", "--quiet",
        "--seed", "5"]
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def fude_cmd(*args) -> list[str]:
    return [sys.executable, "-m", "fude", *map(str, args)]


def weights(run: Path) -> dict:
    from safetensors.numpy import load_file

    return load_file(run / "model.safetensors")


def checkpoint_epoch(run: Path) -> int:
    from fude.train.run import epochs_done

    return epochs_done(run)


# --------------------------------------------------------------------------- training and file writes

def _write_forever(path: str, size: int) -> None:
    contents = [b"A" * size, b"B" * size]
    i = 0
    while True:
        atomic_write(Path(path), contents[i % 2])
        i += 1


@pytest.mark.slow
def test_atomic_write_survives_sigkill_mid_write(tmp_path):
    """A process killed at random moments while it rewrites a 4 MB file leaves the old or the new
    file whole, never a mix or a truncated one."""
    path, size = tmp_path / "checkpoint.safetensors", 4 << 20
    path.write_bytes(b"A" * size)
    rng = np.random.default_rng(0)
    fork = multiprocessing.get_context("fork")
    kills, mid_write = 30, 0
    for _ in range(kills):
        child = fork.Process(target=_write_forever, args=(str(path), size))
        child.start()
        time.sleep(rng.uniform(0.02, 0.15))
        os.kill(child.pid, signal.SIGKILL)
        child.join()
        leftovers = list(tmp_path.glob(".checkpoint.safetensors.tmp*"))
        mid_write += bool(leftovers)  # the kill landed while a temporary file was being written
        for f in leftovers:
            f.unlink()
        data = path.read_bytes()
        assert data in (b"A" * size, b"B" * size), f"{len(data)} bytes, starting {data[:8]!r}"
    assert mid_write > 0, "no kill landed during a write: the test did not exercise the case it is for"


@pytest.mark.slow
def test_training_killed_again_and_again_ends_as_if_never_stopped(tmp_path):
    """SIGKILL before the first epoch ends, SIGTERM and SIGKILL mid-run at random moments: each
    `--resume` loses at most the current epoch, and the final weights equal an uninterrupted run's
    bit for bit (same seed, CPU)."""
    subprocess.run(fude_cmd("train", *TINY, "--out", tmp_path / "whole"), check=True, capture_output=True, env=ENV)
    # the kills' random delays are counted in epochs of the uninterrupted run, so that each lands mid-run
    # on a slow machine and a fast one alike
    epoch_s = float(np.median([json.loads(line)["seconds"]
                               for line in (tmp_path / "whole" / "metrics.jsonl").read_text().splitlines()]))
    run, rng = tmp_path / "cut", np.random.default_rng(1)
    # (signal, the checkpoint epoch to wait for before it, then a random delay of at most this many epochs)
    kills = [(signal.SIGKILL, 0, 1.5), (signal.SIGTERM, 4, 1.5), (signal.SIGKILL, 8, 1.5)]
    args = ("train", *TINY, "--out", run)
    for sig, after_epoch, delay in kills:
        p = subprocess.Popen(fude_cmd(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
        # its first line comes once the command runs (its SIGTERM handler set): a run that an earlier one
        # took past this kill's epoch is cut in its training, not in Python's start-up
        assert p.stdout.readline().startswith("run folder: "), p.communicate()
        deadline = time.time() + 120
        while ((not (run / "run.json").exists() or checkpoint_epoch(run) < after_epoch) and p.poll() is None
               and time.time() < deadline):
            time.sleep(0.01)
        time.sleep(rng.uniform(0, delay * epoch_s))
        assert p.poll() is None, f"the run ended before it could be killed: {p.communicate()}"
        before = checkpoint_epoch(run)
        p.send_signal(sig)
        _, err = p.communicate(timeout=60)
        assert p.returncode == (130 if sig == signal.SIGTERM else -signal.SIGKILL), err
        assert checkpoint_epoch(run) >= before  # a finished epoch is never lost
        assert not (run / "model.safetensors").exists()
        args = ("train", "--resume", run, "--quiet")  # no --threads: the run keeps the 1 it was started with
    subprocess.run(fude_cmd(*args), check=True, capture_output=True, env=ENV)
    a, b = weights(tmp_path / "whole"), weights(run)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == list(range(1, EPOCHS + 1)) and {r["threads"] for r in rows} == {1}

    # a checkpoint damaged outside fude is refused with a clear message; the finished model stays as it was
    saved = (run / "model.safetensors").read_bytes()
    ckpt = run / "checkpoint.safetensors"
    ckpt.write_bytes(ckpt.read_bytes()[:1000])
    p = subprocess.run(fude_cmd("train", "--resume", run, "--quiet"), capture_output=True, text=True, env=ENV)
    assert p.returncode == 1 and "cannot resume from the checkpoint" in p.stderr and "Traceback" not in p.stderr
    assert (run / "model.safetensors").read_bytes() == saved


# --------------------------------------------------------------------------- corrupt and hostile files

def _mutations(data: bytes, n: int, rng: np.random.Generator):
    """``n`` damaged copies of ``data``: truncated, bytes overwritten, bytes inserted, bytes deleted."""
    for i in range(n):
        b = bytearray(data)
        pos = int(rng.integers(0, len(b)))
        if i % 4 == 0:
            del b[pos:]
        elif i % 4 == 1:
            for p in rng.integers(0, len(b), rng.integers(1, 8)):
                b[p] = int(rng.integers(0, 256))
        elif i % 4 == 2:
            b[pos:pos] = rng.bytes(int(rng.integers(1, 64)))
        else:
            del b[pos: pos + int(rng.integers(1, 64))]
        yield bytes(b)


@pytest.fixture(scope="module")
def good_files(tmp_path_factory):
    """One valid file of every format fude reads, with the reader and the one error it may raise."""
    from PIL import Image

    d = tmp_path_factory.mktemp("good")
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    np.savez_compressed(d / "imgs.npz", images)
    write_idx(d / "imgs.idx.gz", images)
    write_idx(d / "imgs.idx", images, gz=False)
    write_csv(d / "train.csv", images, np.arange(5))
    picture = Image.fromarray(images[0]).resize((64, 64))
    picture.save(d / "char.png")
    picture.convert("RGB").save(d / "char.jpg", quality=80)
    save_model(create_model("fude-cnn"), d / "model", ClassMap.digits())
    shutil.copy(REPO / "examples" / "strokes-あ.json", d / "strokes.json")
    read_image = lambda p: to_dataset_image(load_image(p))  # noqa: E731
    return d, {
        "imgs.npz": (datasets.read_array, DatasetError),
        "imgs.idx.gz": (datasets.read_array, DatasetError),
        "imgs.idx": (datasets.read_array, DatasetError),
        "train.csv": (datasets.load_csv, DatasetError),
        "char.png": (read_image, ImageError),
        "char.jpg": (read_image, ImageError),
        "model/model.safetensors": (lambda p: load_model(p.parent), ModelError),
        "model/config.json": (lambda p: load_model(p.parent), ModelError),
        "strokes.json": (read_drawing, StrokeError),
    }


FORMATS = ["imgs.npz", "imgs.idx.gz", "imgs.idx", "train.csv", "char.png", "char.jpg", "model/model.safetensors",
           "model/config.json", "strokes.json"]
MUTATIONS_PER_FORMAT = 160


@pytest.mark.parametrize("name", FORMATS)
def test_damaged_files_get_fudes_own_error_and_nothing_else(good_files, name):
    """160 damaged copies of each format (9 formats, 1,440 files): each either still reads or raises
    the reader's documented error, whose message names the file; never another exception."""
    folder, readers = good_files
    read, error = readers[name]
    path = folder / name
    original = path.read_bytes()
    read(path)  # the undamaged file reads
    refused = 0
    try:
        for damaged in _mutations(original, MUTATIONS_PER_FORMAT, np.random.default_rng(FORMATS.index(name))):
            path.write_bytes(damaged)
            try:
                read(path)
            except error as e:
                refused += 1
                assert path.name in str(e), str(e)  # the error names the file, whatever its format
    finally:
        path.write_bytes(original)
    assert refused > MUTATIONS_PER_FORMAT // 4  # most damage is noticed, not silently read


class _Evil:
    """Unpickling this would create the file named ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_pickles_are_never_loaded(tmp_path):
    import torch

    marker = tmp_path / "pwned"
    np.savez(tmp_path / "imgs.npz", np.array([_Evil(marker)], dtype=object))
    with pytest.raises(DatasetError, match="imgs.npz"):
        datasets.read_array(tmp_path / "imgs.npz")
    np.savez(tmp_path / "drawing.npz", **{"1": np.array([_Evil(marker)], dtype=object)})
    with pytest.raises(StrokeError):
        read_drawing(tmp_path / "drawing.npz")
    save_model(create_model("fude-cnn"), tmp_path / "model", ClassMap.digits())
    torch.save({"w": _Evil(marker)}, tmp_path / "model" / "model.safetensors")
    with pytest.raises(ModelError, match="not a readable safetensors"):
        load_model(tmp_path / "model")
    assert not marker.exists()
    # and no code path could: no pickle loads, no torch.load without weights_only, no allow_pickle=True
    source = "\n".join(p.read_text() for p in (REPO / "src" / "fude").rglob("*.py"))
    assert not re.search(r"pickle\.loads?\(|allow_pickle\s*=\s*True", source)
    assert all("weights_only=True" in call for call in re.findall(r"torch\.load\([^)]*\)", source))


def test_configs_with_unknown_fields_are_refused(tmp_path):
    from fude.train import TrainConfig

    save_model(create_model("fude-cnn"), tmp_path, ClassMap.digits())
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg["model"]["kernel"] = 5
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelError, match="kernel"):
        load_model(tmp_path)
    with pytest.raises(ValueError, match="unknown training config field.*'lr_max'"):
        TrainConfig.from_dict({"lr_max": 1.0})
    (tmp_path / "run.json").write_text(json.dumps({"train": {"epochs": 2, "momentm": 0.9}, "data": {}, "command": ""}))
    p = subprocess.run(fude_cmd("train", "--resume", tmp_path), capture_output=True, text=True, env=ENV)
    assert p.returncode == 1 and "momentm" in p.stderr and "Traceback" not in p.stderr


# --------------------------------------------------------------------------- the server

def _answered(r, counter: list) -> None:
    counter.append(r.status_code)
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        assert isinstance(r.json()["detail"], (str, list)) and r.json()["detail"]


@pytest.mark.slow
def test_fuzzed_requests_never_get_a_5xx(client):
    """Hypothesis drives every endpoint with arbitrary JSON, near-valid drawings (NaN, infinities,
    huge and tiny numbers, wrong nesting, odd canvases and labels), random bytes under every content
    type, random multipart uploads and well-formed drawings with any finite coordinates: every
    answer is 2xx or a 4xx with a ``detail``, and every well-formed drawing is answered."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    seen: list[int] = []
    fuzz = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))
    scalars = st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=12)
    anything = st.recursive(scalars, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c,
                                                                                          max_size=4), max_leaves=30)
    number = st.floats() | st.integers(-10**30, 10**30) | st.sampled_from([1e-300, -1e308, 1e308, 0.0])
    point = st.lists(number, min_size=0, max_size=3) | anything
    drawing = st.fixed_dictionaries(
        {"strokes": st.lists(st.lists(point, max_size=12), max_size=6)},
        optional={"canvas": st.fixed_dictionaries({"width": number, "height": number}, optional={"y_up": anything})
                  | anything,
                  "model": st.sampled_from(["hiragana", "kmnist", "mnist", "../../etc/passwd", ""]) | st.text(max_size=9),
                  "label": st.text(max_size=10) | anything, "guess": st.text(max_size=10) | anything,
                  "client_id": st.text(max_size=80) | anything})

    @fuzz
    @given(st.sampled_from(["/api/predict", "/api/samples"]), drawing | anything)
    def json_bodies(path, body):
        raw = json.dumps(body, allow_nan=True)  # NaN and Infinity as bare tokens, as a careless client sends them
        _answered(client.post(path, content=raw, headers={"Content-Type": "application/json"}), seen)

    @fuzz
    @given(st.sampled_from(["/api/predict", "/api/samples", "/api/samples/stats", "/health", "/"]), st.binary(max_size=300),
           st.sampled_from(["application/json", "multipart/form-data", "multipart/form-data; boundary=xyz",
                            "text/plain", "image/png", "", "application/x-www-form-urlencoded"]))
    def raw_bodies(path, body, kind):
        _answered(client.post(path, content=body, headers={"Content-Type": kind}), seen)

    @fuzz
    @given(st.binary(max_size=400) | st.sampled_from([_png(3, 3), _png(1, 400), _png(64, 64, "RGBA")]),
           st.sampled_from(["kmnist", "hiragana", "nope", ""]) | st.text(max_size=6),
           st.text(max_size=20))
    def uploads(data, model, filename):
        _answered(client.post("/api/predict", files={"file": (filename or "f", data, "image/png")}, data={"model": model}),
                  seen)

    coord = st.floats(-9e5, 9e5) | st.integers(-9 * 10**5, 9 * 10**5)  # within MAX_COORD after a y_up flip; 5e-324 too
    shaped = st.fixed_dictionaries(  # well-formed drawings with any coordinates a canvas can have
        {"strokes": st.lists(st.lists(st.tuples(coord, coord).map(list), min_size=1, max_size=25), min_size=1, max_size=8),
         "model": st.sampled_from(["hiragana", "kmnist"]), "label": st.sampled_from(["あ", "お", "っ"])},
        optional={"canvas": st.fixed_dictionaries({"width": st.floats(1, 5000), "height": st.floats(1, 5000),
                                                   "y_up": st.booleans()})})

    @fuzz
    @given(st.sampled_from(["/api/predict", "/api/samples"]), shaped)
    def shaped_drawings(path, body):
        r = client.post(path, json=body)
        _answered(r, seen)
        assert r.status_code in (200, 201), r.text  # any finite drawing is read (or saved)

    json_bodies()
    raw_bodies()
    uploads()
    shaped_drawings()
    for path in ("/health", "/", "/api/models", "/api/samples/stats", "/openapi.json", "/docs", "/../../etc/passwd"):
        _answered(client.get(path), seen)
    assert len(seen) >= 600 and sum(s < 300 for s in seen) > 0 and sum(400 <= s < 500 for s in seen) > 0


def _png(w: int, h: int, mode: str = "L") -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new(mode, (w, h)).save(buf, format="PNG")
    return buf.getvalue()


def test_no_request_reaches_the_file_system(client, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    drawing = {"strokes": [[[0, 0], [10, 10]]]}
    for name in ("../../etc/passwd", "/etc/passwd", str(REPO / "src/fude/pretrained/kmnist"), "mnist/../kmnist"):
        r = client.post("/api/predict", json={**drawing, "model": name})
        assert r.status_code == 404 and "unknown model" in r.json()["detail"]
    r = client.post("/api/samples", json={**drawing, "label": "../x", "model": "../../y"})
    assert r.status_code == 422 and "not a model of this server" in r.json()["detail"]
    r = client.post("/api/samples", json={**drawing, "label": "../x", "client_id": "..-tmp-owned", "model": "kmnist"})
    assert r.status_code == 201
    assert list(tmp_path.iterdir()) == []  # nothing written where the server runs
    assert {p.name for p in client.db.parent.iterdir()} <= {"samples.sqlite", "samples.sqlite-wal", "samples.sqlite-shm"}


def test_binds_to_this_machine_by_default_and_warns_otherwise(monkeypatch, capsys):
    import uvicorn

    from fude import cli, serve

    hosts = []
    monkeypatch.setattr(uvicorn, "run", lambda app, host, port, **kw: hosts.append(host))
    assert cli.build_parser().parse_args(["serve"]).host == "127.0.0.1"
    serve.run(models="kmnist")
    assert hosts == ["127.0.0.1"] and "warning" not in capsys.readouterr().out
    serve.run(host="0.0.0.0", models="kmnist")
    assert hosts[-1] == "0.0.0.0" and "warning: binding to 0.0.0.0" in capsys.readouterr().out


# --------------------------------------------------------------------------- the sample database

def _add_samples(db: str, writer: int, n: int) -> None:
    from fude.serve.samples import SampleStore

    store = SampleStore(db)
    for i in range(n):
        store.add([np.array([[0.0, 0.0], [float(i), 1.0]])], "あ", client_id=f"{writer}-{i}")


def test_concurrent_writer_processes_lose_nothing(tmp_path):
    db, writers, each = tmp_path / "samples.sqlite", 6, 40
    fork = multiprocessing.get_context("fork")
    procs = [fork.Process(target=_add_samples, args=(str(db), w, each)) for w in range(writers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    ids = {r[0] for r in con.execute("SELECT client_id FROM samples")}
    assert ids == {f"{w}-{i}" for w in range(writers) for i in range(each)}


@pytest.mark.slow
def test_server_killed_mid_write_loses_no_confirmed_sample(tmp_path):
    """Eight clients post samples as fast as they can; the server is SIGKILLed among the writes.
    Every sample the server confirmed (201 with an id) is in the database, which is intact and
    takes new samples after a restart."""
    db, port = tmp_path / "samples.sqlite", free_port()
    proc = start_server(db, port)
    confirmed: list[int] = []
    lock, stop = threading.Lock(), threading.Event()

    def post(writer: int) -> None:
        i = 0
        while not stop.is_set():
            body = json.dumps({"strokes": [[[0, 0], [i, 5]]], "label": "か", "client_id": f"{writer}-{i}",
                               "model": "kmnist"}).encode()
            req = urllib.request.Request(f"http://127.0.0.1:{port}/api/samples", body,
                                         {"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=5) as r:
                    sample_id = json.loads(r.read())["id"]
            except (OSError, http.client.HTTPException):  # refused, reset, or cut off mid-answer (IncompleteRead)
                return  # the server is gone: this sample was never confirmed
            with lock:
                confirmed.append(sample_id)
            i += 1

    threads = [threading.Thread(target=post, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    while len(confirmed) < 300 and all(t.is_alive() for t in threads):
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    stop.set()
    for t in threads:
        t.join(10)
    assert len(confirmed) >= 300
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    stored = {r[0] for r in con.execute("SELECT id FROM samples")}
    assert set(confirmed) <= stored
    con.close()

    proc = start_server(db, port)  # the database still works after the crash
    try:
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/samples", json.dumps(
            {"strokes": [[[0, 0], [1, 1]]], "label": "き"}).encode(), {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as r:
            assert r.status == 201
    finally:
        proc.terminate()
        proc.wait(10)


def test_a_resumed_run_keeps_the_threads_it_was_given():
    """run.json records --threads; a run an older fude started has it in its recorded command."""
    from fude.train.run import fixed_threads

    assert fixed_threads({"threads": 3, "command": "fude train --threads 1"}) == 3
    assert fixed_threads({"command": "fude train --dataset mnist --threads 1 --quiet"}) == 1
    assert fixed_threads({"command": "fude train --threads=2"}) == 2
    assert fixed_threads({"command": "fude train --dataset mnist"}) == 0
    assert fixed_threads({"command": "fude train --threads 'unclosed"}) == 0


def test_resume_refuses_a_checkpoint_trained_beside_other_held_out_images(tmp_path):
    """The held-out images are drawn again from the seed on --resume; a checkpoint written beside
    others (the data changed, or an earlier fude drew them differently and wrote no fingerprint)
    is refused: validation would score images the network learnt. Nothing in the run is touched."""
    from dataclasses import asdict

    from safetensors.torch import load_file as load_torch, save_file

    import fude
    from fude.datasets.augment import AugmentConfig
    from fude.train import TrainConfig, train

    d = fude.load_dataset("kmnist-sample", "train")
    cfg = TrainConfig(epochs=1, batch_size=64, val_split=0.2, augment=asdict(AugmentConfig.off()))
    train(cfg, d, tmp_path, progress=False)
    held_out = json.loads((tmp_path / "config.json").read_text())["held_out"]
    assert held_out["images"] == 240 and len(held_out["sha256"]) == 16
    ckpt = tmp_path / "checkpoint.safetensors"
    train(cfg.replace(epochs=2), d, tmp_path, resume=True, progress=False)  # the same images: resumes
    assert [json.loads(line)["epoch"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()] == [1, 2]
    fewer = fude.Dataset(d.images[:-10], d.labels[:-10], d.class_map, d.source)
    with pytest.raises(ValueError, match="other held-out images than this run would hold out now"):
        train(cfg.replace(epochs=3), fewer, tmp_path, resume=True, progress=False)
    state = load_torch(ckpt)
    save_file(state, ckpt, metadata={"epoch": "2", "step": "32"})  # an earlier fude's: no fingerprint
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    with pytest.raises(ValueError, match="an earlier fude, which drew them differently"):
        train(cfg.replace(epochs=3), d, tmp_path, resume=True, progress=False)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before


def trained_checkpoint(folder, epochs: int, batch_size: int):
    """A run of ``epochs`` on the shipped KMNIST sample in ``folder``: (data, config, its checkpoint)."""
    from dataclasses import asdict

    import fude
    from fude.datasets.augment import AugmentConfig
    from fude.train import TrainConfig, train

    d = fude.load_dataset("kmnist-sample", "train")
    cfg = TrainConfig(epochs=epochs, batch_size=batch_size, val_split=0.0, augment=asdict(AugmentConfig.off()))
    train(cfg, d, folder, progress=False)
    return d, cfg, folder / "checkpoint.safetensors"


@pytest.mark.parametrize("tensor", ["model.", "optim."])
def test_resume_refuses_a_checkpoint_with_a_flipped_bit(tmp_path, tensor):
    """One exponent bit flipped on disk in a weight or a momentum buffer of the checkpoint: --resume
    refuses it (the sha256 written with it no longer matches) instead of training on from NaN or
    1e38, and nothing in the run folder changes."""
    from safetensors import safe_open

    from fude.train import train

    d, cfg, ckpt = trained_checkpoint(tmp_path, epochs=1, batch_size=64)
    data = bytearray(ckpt.read_bytes())
    header = int.from_bytes(data[:8], "little")
    with safe_open(str(ckpt), "pt") as f:
        assert len(f.metadata()["checksum"]) == 64
    layout = json.loads(data[8:8 + header])
    name = next(k for k in sorted(layout) if k.startswith(tensor) and layout[k]["dtype"] == "F32")
    start = 8 + header + layout[name]["data_offsets"][0]
    data[start + 3] ^= 0x40  # the top exponent bit of the first float32 (little-endian)
    ckpt.write_bytes(bytes(data))
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    with pytest.raises(ValueError, match="cannot resume from the checkpoint.*does not match the checksum"):
        train(cfg.replace(epochs=2), d, tmp_path, resume=True, progress=False)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before


@pytest.mark.parametrize("change", ["epoch", "step", "no checksum"])
def test_resume_refuses_a_checkpoint_whose_counters_changed(tmp_path, change):
    """The checksum covers the epoch and step counters too: one bit changed in either (2 -> 3, a
    digit's low bit) or a header without the checksum is refused on --resume, and nothing changes."""
    from fude.train import train

    d, cfg, ckpt = trained_checkpoint(tmp_path, epochs=2, batch_size=128)
    data = bytearray(ckpt.read_bytes())
    header = int.from_bytes(data[:8], "little")
    text = data[8:8 + header].decode()
    if change == "no checksum":
        import re

        new = re.sub(r'"checksum":"[0-9a-f]{64}",?', "", text).replace(",}", "}")
        new = new + " " * (header - len(new))  # the same header length: the tensors stay where they are
    else:
        key = f'"{change}":"'
        at = text.index(key) + len(key)
        new = text[:at] + chr(ord(text[at]) ^ 1) + text[at + 1:]
    data[8:8 + header] = new.encode()
    ckpt.write_bytes(bytes(data))
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    with pytest.raises(ValueError, match="cannot resume from the checkpoint.*(does not match the checksum|no checksum)"):
        train(cfg.replace(epochs=3), d, tmp_path, resume=True, progress=False)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before
