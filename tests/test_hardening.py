"""Each promise of "Nothing lost, nothing crashes" that a careless user or an attacker found broken,
one test per item (the reproductions themselves where they fit a test)."""

import io
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from conftest import REPO, free_port, start_server

ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}
TINY = ["--dataset", "kmnist-sample", "--epochs", "2", "--batch-size", "64", "--threads", "1", "--quiet"]
DRAWING = {"strokes": [[[10, 10], [60, 60], [90, 20]]], "canvas": {"width": 100, "height": 100}}


def fude(*args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fude", *map(str, args)], capture_output=True, text=True, env=ENV,
                          **kw)


def one_line_error(p: subprocess.CompletedProcess, match: str) -> None:
    assert p.returncode == 1, (p.returncode, p.stderr)
    assert "Traceback" not in p.stderr and re.search(match, p.stderr), p.stderr
    assert len([line for line in p.stderr.splitlines() if line.startswith("error:")]) == 1, p.stderr


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from fude.serve import create_app

    db = tmp_path_factory.mktemp("db") / "samples.sqlite"
    with TestClient(create_app("hiragana,hiragana-seq,kmnist", db)) as c:
        c.db = db
        yield c


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("tiny") / "run"
    p = fude("train", *TINY, "--out", run)
    assert p.returncode == 0, p.stderr
    return run


# --------------------------------------------------------------------------- 1. no 500, ever

def test_strokes_closer_than_a_float_step_get_an_answer(app, tmp_path):
    body = {"strokes": [[[0, 1e-12], [0, 1e-300], [0, 0]]], "model": "hiragana-seq"}
    r = app.post("/api/predict", json=body)
    assert r.status_code == 200 and len(r.json()["top"]) == 5
    (tmp_path / "tiny.json").write_text(json.dumps(body))
    p = fude("predict-strokes", "--model", "hiragana-seq", tmp_path / "tiny.json")
    assert p.returncode == 0 and "Traceback" not in p.stderr


@pytest.mark.parametrize("mode, fmt", [("I;16", "PNG"), ("I;16", "TIFF"), ("I", "TIFF"), ("F", "TIFF")])
def test_16_bit_and_float_images_of_any_size_are_read(app, mode, fmt):
    blank, drawn = Image.new(mode, (2048, 2048)), np.zeros((2048, 2100), np.float32)
    drawn[500:1500, 900:1200] = 1.0  # a bright bar on black
    files = []
    for img in (blank, Image.fromarray((drawn * (65535 if mode != "F" else 1)).astype(
            {"I;16": np.uint16, "I": np.int32, "F": np.float32}[mode]), mode if mode != "I;16" else None)):
        buf = io.BytesIO()
        img.save(buf, fmt, **({"compression": "tiff_deflate"} if fmt == "TIFF" else {}))  # under the 5 MB cap
        files.append(buf.getvalue())
    r = app.post("/api/predict", files={"file": ("blank", files[0])}, data={"model": "kmnist"})
    assert r.status_code == 400 and "no ink" in r.json()["detail"]
    r = app.post("/api/predict", files={"file": ("bar", files[1])}, data={"model": "kmnist"})
    assert r.status_code == 200 and len(r.json()["top"]) == 5, r.text


# --------------------------------------------------------------------------- 2. the body cap, chunked too

@pytest.mark.slow
def test_chunked_body_over_the_cap_is_refused_before_it_is_all_read(tmp_path):
    port = free_port()
    server = start_server(tmp_path / "db.sqlite", port, models="kmnist")
    try:
        rss = lambda: int(Path(f"/proc/{server.pid}/status").read_text().split("VmRSS:")[1].split()[0]) / 1024  # noqa: E731
        before = rss()
        part = (b'--x\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\n'
                b"Content-Type: image/png\r\n\r\n")  # a well-formed start, then a file that never ends
        for kind, start in (("application/json", b""), ("multipart/form-data; boundary=x", part)):
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(f"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {kind}\r\n"
                         "Transfer-Encoding: chunked\r\n\r\n".encode() + f"{len(start):x}\r\n".encode() + start + b"\r\n"
                         if start else f"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {kind}\r\n"
                         "Transfer-Encoding: chunked\r\n\r\n".encode())
            chunk, sent, answer = b"x" * 65536, 0, b""
            sock.settimeout(0.05)
            try:
                while sent < 200 << 20 and not answer:  # up to 200 MB, or until the server answers
                    sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                    sent += len(chunk)
                    try:
                        answer = sock.recv(4096)
                    except socket.timeout:
                        pass
            except (BrokenPipeError, ConnectionResetError):
                pass
            sock.settimeout(5)
            answer += sock.recv(4096) if not answer else b""
            sock.close()
            assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
            assert sent < 50 << 20, f"{sent / 2**20:.0f} MB went in before the 413"
        assert rss() - before < 60, f"the server grew by {rss() - before:.0f} MiB"
        assert not list(Path("/tmp").glob("tmp*multipart*"))
    finally:
        server.terminate()
        server.wait(10)


# --------------------------------------------------------------------------- 3. /api/samples checks every field

def test_samples_validate_every_field(app, tmp_path):
    from fude.classmap import ClassMap
    from fude.serve.samples import SampleStore, export

    ok = {**DRAWING, "label": "あ", "model": "hiragana"}
    for bad, status in [({"model": "x" * 65}, 422), ({"model": "nosuch"}, 422), ({"model": "../../etc"}, 422),
                        ({"label": "a\x00"}, 422), ({"label": "a\nb"}, 422), ({"guess": "\r"}, 422),
                        ({"client_id": "a b"}, 422), ({"request_id": "short"}, 422)]:
        r = app.post("/api/samples", json={**ok, **bad})
        assert r.status_code == status, (bad, r.text)
    r = app.post("/api/samples", content=json.dumps(ok), headers={"Content-Type": "text/plain"})
    assert r.status_code == 415  # what a cross-site form can send
    assert app.post("/api/samples", json={**ok, "model": ""}).status_code == 201

    first = app.post("/api/samples", json={**ok, "request_id": "retry-0001"})
    again = app.post("/api/samples", json={**ok, "request_id": "retry-0001"})
    assert first.status_code == 201 and again.status_code == 200
    assert again.json() == {"id": first.json()["id"], "duplicate": True}
    with sqlite3.connect(app.db) as db:
        assert db.execute("SELECT COUNT(*) FROM samples WHERE request_id = 'retry-0001'").fetchone() == (1,)

    for label in ('"', ",", "a,b", "'", "=1+1", "@SUM(1)", "+1-1"):  # labels a CSV must quote, or a spreadsheet would run
        assert app.post("/api/samples", json={**ok, "label": label}).status_code == 201
    counts = export(SampleStore(app.db), tmp_path / "out")
    text = (tmp_path / "out" / "samples_classmap.csv").read_text(encoding="utf-8")
    cmap = ClassMap.from_csv(tmp_path / "out" / "samples_classmap.csv")
    assert {'"', ",", "'", "あ"} <= set(cmap.chars) and len(cmap) == counts["classes"]
    # a class is one character: several-character labels stay stroke files, never a class map row with
    # the first character's code point or a formula a spreadsheet would run
    assert all(len(c) == 1 for c in cmap.chars) and counts["left_out"] == 4
    assert not any(bad in text for bad in ("=1+1", "@SUM", "+1-1", "a,b"))
    assert len(list((tmp_path / "out" / "strokes").glob("*.json"))) == counts["samples"]


def test_an_older_sample_database_gets_the_new_column(tmp_path):
    from fude.serve.samples import SampleStore

    db = tmp_path / "old.sqlite"
    with sqlite3.connect(db) as c:  # the schema before request_id, with one sample in it
        c.execute("CREATE TABLE samples (id INTEGER PRIMARY KEY, label TEXT NOT NULL, strokes TEXT NOT NULL, "
                  "canvas TEXT, guess TEXT, model TEXT, client_id TEXT, created REAL NOT NULL)")
        c.execute("INSERT INTO samples (label, strokes, created) VALUES ('あ', '[[[0, 0], [1, 1]]]', 0)")
    store = SampleStore(db)
    assert store.add([np.array([[0.0, 0.0], [1.0, 1.0]])], "い", request_id="abcdefgh") == (2, True)
    assert store.add([np.array([[0.0, 0.0], [1.0, 1.0]])], "い", request_id="abcdefgh") == (2, False)
    assert store.stats()["total"] == 2


# --------------------------------------------------------------------------- 4. request hygiene

def test_security_headers_offline_docs_and_a_schema_that_resolves(app):
    page = app.get("/")
    csp = page.headers["content-security-policy"]
    assert "'unsafe-inline'" not in csp and "sha256-" in csp and "frame-ancestors 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff" and page.headers["x-frame-options"] == "DENY"
    assert app.get("/health").headers["x-content-type-options"] == "nosniff"
    docs = app.get("/docs")
    assert docs.status_code == 200 and "/openapi.json" in docs.text
    assert not re.search(r"(src|href)=\"https?://", docs.text)  # no CDN: works offline

    schema = app.get("/openapi.json").json()
    refs = re.findall(r'"\$ref": "#/([^"]+)"', json.dumps(schema))
    for ref in refs:  # every reference resolves inside the document
        node = schema
        for part in ref.split("/"):
            node = node[part]
    samples = schema["paths"]["/api/samples"]["post"]
    assert "application/json" in samples["requestBody"]["content"]
    for path in ("/api/predict", "/api/samples"):
        assert {"400", "413", "415", "422"} <= set(schema["paths"][path]["post"]["responses"]), path


def test_slow_clients_are_cut_off_and_other_hosts_refused(tmp_path):
    port = free_port()
    proc = start_server(tmp_path / "db.sqlite", port, "kmnist", "--read-timeout", "1")
    try:
        silent = socket.create_connection(("127.0.0.1", port))
        half = socket.create_connection(("127.0.0.1", port))
        half.sendall(b"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100\r\n\r\n{")
        time.sleep(2.5)
        for sock in (silent, half):
            sock.settimeout(3)
            assert sock.recv(100) == b"", "a connection that sent no whole request is still open"
            sock.close()
        import urllib.request

        req = urllib.request.Request(f"http://127.0.0.1:{port}/health", headers={"Host": "attacker.example"})
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=5)
        assert e.value.code == 400
        assert urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5).status == 200
    finally:
        proc.terminate()
        proc.wait(10)


# --------------------------------------------------------------------------- 5. a broken configuration: one line

def test_a_broken_server_configuration_ends_in_one_line(tmp_path):
    one_line_error(fude("serve", "--models", "nosuch", "--port", free_port()), "no model 'nosuch'")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    one_line_error(fude("serve", "--models", broken, "--port", free_port()), "not a readable JSON config")
    (tmp_path / "afile").write_text("")
    one_line_error(fude("serve", "--models", "kmnist", "--db", tmp_path / "afile" / "db.sqlite", "--port",
                        free_port()), "cannot open the sample database")
    mnist_dir = tmp_path / "mnist"
    assert fude("train", *TINY, "--epochs", "1", "--out", mnist_dir).returncode == 0
    one_line_error(fude("serve", "--models", f"mnist,{mnist_dir}", "--port", free_port()), "both be served as 'mnist'")


# --------------------------------------------------------------------------- 6-8. checkpoints, history, weights

def test_the_checkpoint_is_one_unit_and_leftovers_go(tiny_run, tmp_path):
    import shutil

    from fude.train.run import checkpoint_counters, epochs_done

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    assert epochs_done(run) == 2 and not (run / "checkpoint.json").exists()
    # the kill the issue reproduced: epoch-2 weights in place, an older fude's counter file still at 1
    (run / "checkpoint.json").write_text(json.dumps({"epoch": 1, "step": 15}))
    assert checkpoint_counters(run)[0] == 2  # the counters travel inside the weights file
    (run / ".checkpoint.safetensors.tmp4242").write_bytes(b"half a file")
    (run / "best").mkdir(exist_ok=True)
    (run / "best" / ".model.safetensors.tmp4242").write_bytes(b"half")
    p = fude("train", "--resume", run, "--quiet")
    assert p.returncode == 0 and "already finished all 2 epochs" in p.stdout, p.stderr  # read from the checkpoint
    assert not list(run.rglob(".*.tmp*"))


def test_a_damaged_history_is_refused_or_recovered(tiny_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    lines = (run / "metrics.jsonl").read_text().splitlines()
    (run / "metrics.jsonl").write_text(lines[0][:20] + "\n" + lines[1] + "\n")  # epoch 1's row cut
    one_line_error(fude("train", "--resume", run, "--quiet"), "metrics.jsonl has no readable row for epoch.* 1")
    (run / "metrics.jsonl").write_text("\n".join(lines) + '\n{"epoch": 3, "train_lo')  # after the checkpoint
    p = fude("train", "--resume", run, "--quiet")
    assert p.returncode == 0 and "skipped unreadable line(s) 3" in p.stdout, p.stdout + p.stderr
    assert [json.loads(x)["epoch"] for x in (run / "metrics.jsonl").read_text().splitlines()] == [1, 2]


def test_a_bit_flipped_model_is_refused(tiny_run, tmp_path):
    import shutil

    from fude.models import ModelError
    from fude.recognizer import load_model

    model = tmp_path / "model"
    shutil.copytree(tiny_run, model)
    data = bytearray((model / "model.safetensors").read_bytes())
    data[-100] ^= 0x04  # one bit of one weight
    (model / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(ModelError, match="sha256"):
        load_model(model)
    one_line_error(fude("evaluate", "--model", model, "--dataset", "kmnist-sample"), "sha256")
    from fude.models.store import PRETRAINED

    for name in PRETRAINED:  # the shipped models carry their checksum too
        assert len(load_model(name).config["weights_sha256"]["model.onnx"]) == 64, name
    # a config whose checksum was removed loads the weights, but says that they went unchecked
    config = json.loads((model / "config.json").read_text())
    del config["weights_sha256"]
    (model / "config.json").write_text(json.dumps(config))
    with pytest.warns(UserWarning, match="records no sha256 for it.*loaded unchecked"):
        load_model(model)
    p = fude("evaluate", "--model", model, "--dataset", "kmnist-sample")
    assert p.returncode == 0 and "loaded unchecked" in p.stderr


# --------------------------------------------------------------------------- 9-12. the command line

def test_ordinary_mistakes_get_one_line(tiny_run, tmp_path):
    piped = subprocess.run(f"{sys.executable} -m fude summary --arch fude-cnn | head -1", shell=True,
                           capture_output=True, text=True, env=ENV)
    assert piped.stdout.startswith("fude-cnn") and "Traceback" not in piped.stderr and not piped.stderr
    (tmp_path / "afile").write_text("")
    one_line_error(fude("evaluate", "--model", "kmnist", "--dataset", "kmnist-sample", "--out", tmp_path / "afile"),
                   "is a file; give a folder")
    one_line_error(fude("evaluate", "--model", "kmnist", "--dataset", "kmnist-sample", "--threads", "-3"),
                   "--threads must be 0")
    one_line_error(fude("datasets", "download", "nosuch"), "unknown dataset 'nosuch'")
    one_line_error(fude("train", *TINY, "--model-config", "{bad", "--out", tmp_path / "r"), "--model-config: not valid")
    assert not (tmp_path / "r").exists()
    sub = tmp_path / "not" / "yet" / "there"
    p = fude("predict", "--model", tiny_run, "--dataset", "kmnist-sample", "--submission", sub / "s.csv")
    assert p.returncode == 0 and (sub / "s.csv").read_text().startswith("ImageId,Label")
    p = fude("evaluate", "--model", tiny_run, "--dataset", "kmnist-sample", "--save-predictions", sub / "pred")
    assert p.returncode == 0 and (sub / "pred.csv").exists()


def test_train_json_prints_one_document(tmp_path):
    p = fude("train", *TINY, "--epochs", "1", "--json", "--out", tmp_path / "run")
    assert p.returncode == 0, p.stderr
    result = json.loads(p.stdout)  # the whole of stdout is one JSON document
    assert result["epoch"] == 1 and "run folder" in p.stderr


def test_no_flag_is_silently_ignored_and_a_failed_start_blocks_nothing(tiny_run, tmp_path):
    one_line_error(fude("train", "--resume", tiny_run, "--epochs", "8"), "cannot also take --epochs")
    p = fude("finetune", "--from", "kmnist", "--arch", "keras-cnn", *TINY)
    assert p.returncode == 2 and "unrecognized arguments: --arch" in p.stderr and "Traceback" not in p.stderr
    run = tmp_path / "run"
    one_line_error(fude("train", *TINY, "--model-config", '{"widths": [8, 8]}', "--out", run), "widths")
    one_line_error(fude("train", *TINY, "--arch", "stroke-gru", "--out", run), "reads sequences")
    assert not run.exists()  # nothing left that would block the next attempt
    assert fude("train", *TINY, "--epochs", "1", "--out", run).returncode == 0


@pytest.mark.slow
def test_finetuning_on_a_handful_of_confirmed_drawings(app, tmp_path):
    from fude.serve.samples import SampleStore, export
    from fude.strokes import read_drawing

    store = SampleStore(tmp_path / "db.sqlite")
    for f in sorted((REPO / "bench" / "data" / "tomoe-hiragana").glob("*.json"))[:3]:
        d = read_drawing(f)
        for k in range(2):  # two confirmed drawings of each of three characters
            store.add([s + k for s in d.strokes], d.label, d.canvas)
    export(store, tmp_path / "mine")
    files = ["--images", tmp_path / "mine" / "samples-imgs.npz", "--labels", tmp_path / "mine" / "samples-labels.npz",
             "--classmap", tmp_path / "mine" / "samples_classmap.csv"]
    one_line_error(fude("finetune", "--from", "hiragana", *files, "--epochs", "2", "--quiet", "--out", tmp_path / "a"),
                   "needs at least 2 images of every class and 30 in all .* --val-split 0")
    p = fude("finetune", "--from", "hiragana", *files, "--epochs", "2", "--val-split", "0", "--quiet",
             "--out", tmp_path / "b")
    assert p.returncode == 0, p.stderr


def test_help_names_each_default_once(capsys):
    from fude.cli import build_parser

    def help_text(command: str) -> str:
        with pytest.raises(SystemExit):
            build_parser().parse_args([command, "--help"])
        return capsys.readouterr().out

    for command in ("train", "finetune", "evaluate", "cv", "serve", "predict", "report", "synth", "baseline"):
        text = help_text(command)
        assert "(default: None)" not in text, command
        flags = re.split(r"\n  (?=-)", text)
        assert all(f.count("(default:") <= 1 for f in flags), [f for f in flags if f.count("(default:") > 1]
    cv = help_text("cv")
    assert "--arch" in cv and "--method" in cv and "--model" in cv


def test_help_names_what_the_code_has(capsys, monkeypatch):
    """Every command's --model help names every shipped model, --dataset every registered dataset,
    serve's --models the models it serves by default: from the constants the code uses."""
    from fude.cli import build_parser
    from fude.datasets import DATASETS
    from fude.models.store import PRETRAINED, SERVED_MODELS

    monkeypatch.setenv("COLUMNS", "1000")  # no line breaks inside a name
    for command in ("evaluate", "report", "plot", "predict", "predict-strokes", "serve", "train", "summary"):
        with pytest.raises(SystemExit):
            build_parser().parse_args([command, "--help"])
        text = capsys.readouterr().out
        if "--model MODEL" in text:
            assert f"shipped model ({', '.join(PRETRAINED)})" in text, command
        if "--dataset DATASET" in text:
            assert f"registered dataset: {', '.join(DATASETS)}" in text, command
        if command == "serve":
            assert SERVED_MODELS in text


def test_export_is_named_after_the_model_folder(tiny_run, tmp_path):
    pytest.importorskip("onnxruntime")
    p = fude("export", "--model", str(tiny_run) + "/", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert (tmp_path / f"{tiny_run.name}.onnx").exists()


# --------------------------------------------------------------------------- 13. honest numbers

def test_scores_on_training_data_say_so(tiny_run):
    p = fude("evaluate", "--model", "kmnist", "--dataset", "kmnist-sample", "--json")
    assert json.loads(p.stdout)["overlaps_training_data"] is True
    assert "warning: these images overlap the data the model was trained on (kmnist dev)" in p.stderr
    p = fude("evaluate", "--model", tiny_run, "--dataset", "kmnist-sample", "--json")  # trained on train, scored on test
    assert json.loads(p.stdout)["overlaps_training_data"] is False and "warning" not in p.stderr
    p = fude("baseline", "--method", "dummy", "--dataset", "kmnist-sample", "--split", "train", "--json")
    assert json.loads(p.stdout)["overlaps_training_data"] is True and "warning" in p.stderr
    models = (REPO / "docs" / "models.md").read_text(encoding="utf-8")
    assert "trained on the 8,000 KMNIST dev images" in models and "--split train" in models


# --------------------------------------------------------------------------- 9. no stalls, no memory blow-ups

def _status(pid: int, field: str) -> float:
    """A /proc/PID/status field in MiB (VmRSS: now; VmHWM: the peak so far)."""
    return int(Path(f"/proc/{pid}/status").read_text().split(f"{field}:")[1].split()[0]) / 1024


@pytest.mark.slow
def test_a_huge_stroke_body_stalls_no_one(tmp_path):
    """One client posting a 4.7 MB body of 780,000 points back to back: it is refused (413) without
    being parsed, and /health keeps answering in milliseconds meanwhile."""
    import threading
    import urllib.request

    port = free_port()
    server = start_server(tmp_path / "db.sqlite", port, models="hiragana-seq")
    body = json.dumps({"strokes": [[[i % 10, i % 7] for i in range(780_000)]],
                       "model": "hiragana-seq"}, separators=(",", ":")).encode()
    assert len(body) < 5 << 20
    stop, answers = threading.Event(), []

    def flood():
        while not stop.is_set():
            req = urllib.request.Request(f"http://127.0.0.1:{port}/api/predict", data=body,
                                         headers={"Content-Type": "application/json"})
            try:
                urllib.request.urlopen(req, timeout=30)
            except urllib.error.HTTPError as e:
                answers.append((e.code, json.loads(e.read())["detail"]))

    try:
        thread = threading.Thread(target=flood, daemon=True)
        thread.start()
        waits = []
        for _ in range(60):
            t = time.perf_counter()
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10).read()
            waits.append(time.perf_counter() - t)
            time.sleep(0.02)
        stop.set()
        thread.join(30)
        assert len(answers) >= 5 and all(a == (413, "a drawing of more than 20,000 points") for a in answers), answers[:3]
        assert np.median(waits) <= 0.05 and max(waits) <= 0.3, (np.median(waits), max(waits))
    finally:
        stop.set()
        server.terminate()
        server.wait(10)


def test_many_huge_images_at_once_keep_the_server_small(tmp_path):
    """Eight 16-bit 4096x4096 PNGs (37 KB each) posted at once: all read, the server's peak RSS grows
    by at most 600 MB (images are decoded in blocks, two at a time) and it gives most back after."""
    import urllib.request
    from concurrent.futures import ThreadPoolExecutor

    a = np.zeros((4096, 4096), np.uint16)
    a[1000:3000, 1900:2200] = 60000
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "PNG")
    png = buf.getvalue()
    boundary = "fudeboundary"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\nkmnist\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="scan.png"\r\n'
            f"Content-Type: image/png\r\n\r\n").encode() + png + f"\r\n--{boundary}--\r\n".encode()
    port = free_port()
    server = start_server(tmp_path / "db.sqlite", port, models="kmnist")

    def post(_):
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/predict", data=body,
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        return json.loads(urllib.request.urlopen(req, timeout=120).read())

    try:
        post(0)  # the first read loads what reading images needs
        before, peak_before = _status(server.pid, "VmRSS"), _status(server.pid, "VmHWM")
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(post, range(8)))
        assert all(len(r["top"]) == 5 for r in answers)
        assert _status(server.pid, "VmHWM") - max(before, peak_before) <= 600
        time.sleep(0.5)
        assert _status(server.pid, "VmRSS") - before <= 200, "memory held after the images were read"
    finally:
        server.terminate()
        server.wait(10)


def test_cross_site_posts_are_refused(app):
    """A page of another site can post a form or an upload without a CORS preflight: any POST whose
    Origin is not this server gets a 403 before its body is read; the page's own posts and clients
    that send no Origin (scripts, curl) are answered."""
    png = io.BytesIO()
    Image.new("L", (28, 28)).save(png, "PNG")
    evil = {"Origin": "http://evil.example"}
    r = app.post("/api/predict", files={"file": ("x.png", png.getvalue())}, data={"model": "kmnist"}, headers=evil)
    assert r.status_code == 403 and "evil.example" in r.json()["detail"]
    for path, body in (("/api/predict", {**DRAWING, "model": "hiragana-seq"}), ("/api/samples", {**DRAWING, "label": "あ"}),
                       ("/api/predict-line", {"strokes": DRAWING["strokes"], "model": "hiragana-seq"})):
        assert app.post(path, json=body, headers=evil).status_code == 403, path
        assert app.post(path, json=body, headers={"Origin": "http://testserver"}).status_code in (200, 201), path
    before = app.get("/api/samples/stats").json()
    app.post("/api/samples", json={**DRAWING, "label": "い"}, headers={"Origin": "http://localhost.evil.example"})
    assert app.get("/api/samples/stats").json() == before
    assert app.get("/health", headers=evil).status_code == 200  # reading the page's own data stays open


@pytest.mark.parametrize("body, words", [
    ({"strokes": [[["10", 10], [60, 60]]]}, "valid number"),
    ({"strokes": [[[True, 10], [60, 60]]]}, "valid number"),
    ({**DRAWING, "canvas": {"width": "100", "height": 100}}, "valid number"),
    ({**DRAWING, "canvas": {"width": 100, "height": 100, "y_up": "yes"}}, "valid boolean"),
])
def test_coordinates_are_numbers_not_strings_or_booleans(app, body, words):
    r = app.post("/api/predict", json={**body, "model": "hiragana-seq"})
    assert r.status_code == 422 and words in r.json()["detail"], r.text


def test_only_json_and_multipart_are_read(app):
    r = app.post("/api/predict", content=json.dumps({**DRAWING, "model": "hiragana-seq"}),
                 headers={"Content-Type": "application/jsonfoo"})
    assert r.status_code == 415
    r = app.post("/api/predict", content=json.dumps({**DRAWING, "model": "hiragana-seq"}),
                 headers={"Content-Type": "Application/JSON; charset=utf-8"})
    assert r.status_code == 200


def test_deeply_nested_or_mistyped_stroke_files_get_one_line(tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text('{"strokes": ' + "[" * 100_000 + "]" * 100_000 + "}")
    one_line_error(fude("predict-strokes", deep), "nested too deep")
    listed = tmp_path / "listed.json"
    listed.write_text(json.dumps({"strokes": [[[1, 2], [3, 4]]], "canvas": {"width": 10, "height": [1], "y_up": True}}))
    one_line_error(fude("predict-strokes", listed), 'canvas "height" must be a number')


@pytest.mark.slow
def test_the_users_own_files_overlap_only_when_they_are_the_same(tmp_path):
    """A model trained on the user's files A, scored on other files B (other md5s): no overlap
    warning; scored on A itself: the warning."""
    from fude.datasets import load_dataset, save_pair

    d = load_dataset("kmnist-sample", "train")
    a = save_pair(tmp_path, "a", d.images[:400], d.labels[:400], d.class_map)
    b = save_pair(tmp_path, "b", d.images[400:800], d.labels[400:800], d.class_map)
    run = tmp_path / "run"
    p = fude("train", "--images", a[0], "--labels", a[1], "--classmap", a[2], "--epochs", "1", "--batch-size", "64",
             "--threads", "1", "--quiet", "--out", run)
    assert p.returncode == 0, p.stderr
    for files, overlaps in ((b, False), (a, True)):
        p = fude("evaluate", "--model", run, "--images", files[0], "--labels", files[1], "--classmap", files[2], "--json")
        assert p.returncode == 0, p.stderr
        assert json.loads(p.stdout)["overlaps_training_data"] is overlaps and ("overlap" in p.stderr) is overlaps
