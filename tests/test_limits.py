"""Bounded work and nothing deleted by mistake (issue 39): each test reproduces a case that broke
before its fix."""

import json
import subprocess
import sys

from pathlib import Path

import numpy as np
import pytest

from conftest import REPO

TINY = ["--dataset", "kmnist-sample", "--epochs", "1", "--batch-size", "128", "--threads", "1", "--quiet"]


def fude(*args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fude", *map(str, args)], capture_output=True, text=True, **kw)


# --------------------------------------------------------------------------- --overwrite replaces only a run

def test_overwrite_refuses_a_folder_that_holds_no_run(tmp_path):
    """`fude train --out DIR --overwrite` on a model folder that is not a run (a shipped model's
    copy, say) used to delete its config.json and best/: now it refuses, and nothing changes."""
    folder = tmp_path / "my-model"
    (folder / "best").mkdir(parents=True)
    (folder / "config.json").write_text('{"arch": "fude-cnn"}')
    (folder / "best" / "config.json").write_text("{}")
    (folder / "notes.txt").write_text("mine")
    before = {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    p = fude("train", *TINY, "--out", folder, "--overwrite")
    assert p.returncode == 1 and "Traceback" not in p.stderr, p.stderr
    assert "holds files but no fude run" in p.stderr and "config.json" in p.stderr, p.stderr
    assert {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before


def test_overwrite_still_replaces_a_run_and_fills_an_empty_folder(tmp_path):
    run, empty = tmp_path / "run", tmp_path / "empty"
    empty.mkdir()
    assert fude("train", *TINY, "--out", run).returncode == 0
    first = (run / "run.json").read_text()
    p = fude("train", *TINY, "--seed", "1", "--out", run, "--overwrite")
    assert p.returncode == 0, p.stderr
    assert (run / "run.json").read_text() != first and (run / "config.json").exists()
    assert fude("train", *TINY, "--out", empty, "--overwrite").returncode == 0


# --------------------------------------------------------------------------- line reading's work is bounded

def test_strokes_piled_in_one_column_cost_a_bounded_number_of_reads(mirror):
    """256 two-point strokes stacked in one column made every run of up to 30 strokes a candidate
    (7,245 runs, 21.6 CPU-s, 1.7 GB); now the runs hold at most 12 strokes per stroke of the line
    (+64), and the line is still read. Ordinary lines are not touched by the budget."""
    from fude.recognizer import load_model
    from fude.recognizer.line import LineSettings, budgeted_runs, line_height, runs_of
    from fude.strokes import check_strokes
    from fude.strokes.kanjivg import load_templates
    from fude.strokes.synth import SynthConfig, line_drawing

    column = check_strokes([[[0.0, i * 0.01], [0.0, 1.0 + i * 0.01]] for i in range(256)], 256, 20000)
    height = line_height(column)
    unbounded = runs_of(column, height, LineSettings().overlap)
    budget = 12 * 256 + 64
    assert sum(j - i for i, j, _ in unbounded) > 10 * budget
    bounded = budgeted_runs(column, height, LineSettings())
    assert sum(j - i for i, j, _ in bounded) <= budget and (0, 1, 0.0) in [(i, j, 0.0) for i, j, _ in bounded]
    line = load_model("hiragana-seq", backend="onnxruntime").predict_line(column.copy(), k=1)
    assert sum(len(c["strokes"]) for c in line["characters"]) == 256
    templates = load_templates(data_dir=mirror, chars="東京都勉強")
    for word, cfg, spacing in [("東京都", SynthConfig(), (0.08, 0.3)), ("勉強", SynthConfig(join=0.4), (-0.05, 0.1))]:
        for seed in range(3):
            strokes = check_strokes(line_drawing(templates, word, seed, cfg, spacing)[0])
            h = line_height(strokes)
            assert budgeted_runs(strokes, h, LineSettings()) == runs_of(strokes, h, LineSettings().overlap)


def test_lines_past_the_queue_get_503_and_drawings_are_still_read(monkeypatch, tmp_path):
    from fastapi.testclient import TestClient

    from fude.serve import create_app, routes

    line = {"strokes": [[[0, 0], [10, 10]], [[30, 0], [40, 10]]], "model": "hiragana-seq"}
    with TestClient(create_app("hiragana-seq", tmp_path / "db.sqlite")) as client:
        assert client.post("/api/predict-line", json=line).status_code == 200
        monkeypatch.setattr(routes, "LINE_QUEUE", 0)  # as if 8 lines were being read
        r = client.post("/api/predict-line", json=line)
        assert r.status_code == 503 and r.headers["retry-after"] == "1" and "lines already" in r.json()["detail"]
        assert client.post("/api/predict", json={"strokes": line["strokes"][:1], "model": "hiragana-seq"}).status_code == 200
        assert routes._lines["in_flight"] == 0


# --------------------------------------------------------------------------- JSON that could stall or mislead

def test_duplicate_keys_and_bodies_of_many_strings_are_refused_before_parsing(tmp_path):
    """A key given twice in one object was read as its last value (a 400 now, also when spelt with
    an escape); a 5 MB body of `"k":1,` repeated passed the bracket count and held the event loop
    for 150 ms while it parsed (a 413 now, from counts). Strings holding braces or keys are not
    taken for structure."""
    from fastapi.testclient import TestClient

    from fude.serve import create_app
    from fude.serve.schemas import body_problem

    stroke = [[[0, 0], [10, 10]]]
    assert body_problem(b'{"strokes": [], "canvas": {"width": 1, "height": 2}, "chars": "{\\"width\\": \\"a\\"}"}') is None
    assert body_problem(b'{"a": {"k": 1}, "b": {"k": 2}}') is None  # one key in two objects
    assert body_problem(b'{"model": "ja", "mod\\u0065l": "x"}')[0] == 400
    with TestClient(create_app("hiragana-seq", tmp_path / "db.sqlite")) as client:
        for body in [b'{"strokes": %s, "model": "hiragana-seq", "model": "kmnist"}' % json.dumps(stroke).encode(),
                     b'{"strokes": %s, "canvas": {"width": 9, "height": 9, "width": 90}}' % json.dumps(stroke).encode()]:
            r = client.post("/api/predict", content=body, headers={"content-type": "application/json"})
            assert r.status_code == 400 and "given twice" in r.json()["detail"], r.text
        flood = b"{" + b'"k":1,' * 870_000 + b'"strokes":[[[0,0]]]}'
        r = client.post("/api/predict", content=flood, headers={"content-type": "application/json"})
        assert r.status_code == 413 and "quote marks" in r.json()["detail"]
        r = client.post("/api/predict-line", content=b"[" + b"{}," * 200 + b"{}]", headers={"content-type": "application/json"})
        assert r.status_code == 413
        ok = client.post("/api/predict", json={"strokes": stroke, "model": "hiragana-seq", "canvas": {"width": 9, "height": 9}})
        assert ok.status_code == 200


# --------------------------------------------------------------------------- one line, never a traceback or a hang

@pytest.fixture(scope="module")
def odd_inputs(tmp_path_factory):
    import os

    d = tmp_path_factory.mktemp("odd")
    (d / "bad.npz").write_bytes(b"PK\x03\x04not a zip at all")
    os.mkfifo(d / "pipe")
    header = "label," + ",".join(f"pixel{i}" for i in range(784))
    (d / "wide.csv").write_text(header + "\n1," + "1" * 200_000 + "," + ",".join(["0"] * 783) + "\n")
    (d / "db-folder").mkdir()
    (d / "not.db").write_text("not a database")
    return d


@pytest.mark.parametrize("args, message", [
    (["predict-strokes", "{d}/bad.npz"], "not a readable npz"),
    (["predict", "/dev/zero"], "a device; expected a picture file"),
    (["predict-strokes", "/dev/zero"], "a device; expected a stroke file"),
    (["recipe", "/dev/zero"], "a device; expected a recipe file"),
    (["predict", "{d}/pipe"], "a named pipe"),
    (["predict-strokes", "{d}/pipe"], "a named pipe"),
    (["recipe", "{d}/pipe"], "a named pipe"),
    (["predict", "{d}"], "a folder"),
    (["predict", "--csv", "{d}/wide.csv"], "row 1 is not readable CSV"),
    (["train", "--dataset", "kmnist-sample", "--lr", "1e308", "--out", "{d}/lr"], "lr must be positive and at most"),
    (["samples", "--db", "{d}/db-folder"], "is a folder"),
    (["samples", "--db", "{d}/not.db"], "not a sample database"),
])
def test_odd_inputs_get_one_line(odd_inputs, args, message):
    """Each of these gave a traceback, or (a named pipe, /dev/zero) waited or read forever."""
    p = fude(*[a.format(d=odd_inputs) for a in args], timeout=60)
    assert p.returncode == 1 and "Traceback" not in p.stderr, p.stderr[-1500:]
    assert message in p.stderr and len([x for x in p.stderr.splitlines() if x.startswith("error:")]) == 1, p.stderr


def lying_model(tmp_path, name: str, change) -> str:
    import shutil

    from fude.models.store import resolve_model_dir

    folder = tmp_path / name
    shutil.copytree(resolve_model_dir("hiragana"), folder)
    config = json.loads((folder / "config.json").read_text())
    change(config, folder)
    if config is not None:
        (folder / "config.json").write_text(json.dumps(config))
    return str(folder)


def test_model_folders_that_lie_get_one_line(tmp_path):
    """A companion that is the model itself, a config nested 100,000 deep, a network of absurd
    widths or of 100,000-pixel pictures (built before any size check), an ONNX graph of 100,000^2
    pictures or 10^8-point sequences: each refused before any memory is taken, in one line."""
    from onnx import TensorProto, helper

    def graph(shape):
        node = helper.make_node("ReduceMean", ["x"], ["logits"], axes=[1], keepdims=0)
        g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 86])])
        return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()

    def onnx_input(shape):
        def change(config, folder):
            import hashlib

            data = graph(shape)
            (folder / "model.onnx").write_bytes(data)
            config["weights_sha256"] = {"model.onnx": hashlib.sha256(data).hexdigest()}
        return change

    cases = {
        "itself": (lambda c, f: c.setdefault("recognizer", {}).update(companion="."), "is this model itself"),
        "wide": (lambda c, f: c["model"].update(widths=[100_000] * 3), "parameters (at most"),
        "huge-picture": (lambda c, f: c["model"].update(image_size=100_000), "100000 pixels a side"),
        "onnx-picture": (onnx_input(["N", 1, 100_000, 100_000]), "100000 pixels a side"),
        "onnx-sequence": (onnx_input(["N", 100_000_000, 7]), "sequences of 100000000 points"),
    }
    for name, (change, message) in cases.items():
        folder = lying_model(tmp_path, name, change)
        # the network's config is built only in PyTorch (onnxruntime reads the graph, which is the truth there)
        backends = {"itself": ("torch", "onnxruntime"), "wide": ("torch",), "huge-picture": ("torch",)}.get(name, ("onnxruntime",))
        for backend in backends:
            p = fude("predict-strokes", "--model", folder, "--backend", backend, REPO / "examples" / "strokes-あ.json",
                     timeout=120)
            assert p.returncode == 1 and "Traceback" not in p.stderr and message in p.stderr, (name, p.stderr[-800:])
    deep = tmp_path / "deep"
    deep.mkdir()
    (deep / "config.json").write_text("[" * 100_000 + "]" * 100_000)
    p = fude("predict-strokes", "--model", deep, REPO / "examples" / "strokes-あ.json", timeout=60)
    assert p.returncode == 1 and "nested too deep" in p.stderr and "Traceback" not in p.stderr, p.stderr[-800:]


# --------------------------------------------------------------------------- recipes that loop, fork or smuggle options

def test_recipes_cannot_loop_fork_or_smuggle_options(tmp_path):
    """A step that runs a recipe forked an unbounded chain of fude processes; vars naming each other
    twice over grew for minutes; an honest 9-deep chain was called a loop; --set x=--flag put an
    option into a step. Each is refused (or, for the chain, read) at once."""
    import os
    import time

    def recipe(name, vars_, steps):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps({"about": name, "vars": vars_, "steps": steps}))
        return path

    boom = {f"v{i}": "{v%d}{v%d}" % (i + 1, i + 1) for i in range(60)}
    boom["v60"] = "x"
    deep = {f"v{i}": "{v%d}" % (i + 1) for i in range(20)}
    deep["v20"] = "runs/deep"
    cases = [
        (recipe("self", {}, [["recipe", str(tmp_path / "self.json")]]), [], "runs a recipe"),
        (recipe("loop", {"a": "{b}", "b": "{a}"}, [["train", "--out", "{a}"]]), [], "a -> b -> a name each other in a loop"),
        (recipe("boom", boom, [["train", "--out", "{v0}"]]), [], "past 4,096 characters"),
        ("fast", ["--set", "out=--overwrite"], "may not start with '-'"),
    ]
    for name, extra, message in cases:
        t0 = time.perf_counter()
        p = fude("recipe", name, *extra, timeout=60)
        assert p.returncode == 1 and message in p.stderr and "Traceback" not in p.stderr, p.stderr[-800:]
        assert time.perf_counter() - t0 < 30
    p = fude("recipe", recipe("deep", deep, [["train", "--out", "{v0}"]]), "--show")
    assert p.returncode == 0 and "fude train --out runs/deep" in p.stdout, p.stderr
    p = fude("recipe", "fast", "--show", "--set", "out=-5")  # a negative number is a value, not an option
    assert p.returncode == 0
    p = fude("recipe", "fast", env={**os.environ, "FUDE_RECIPE": '{"name": "outer", "sha256": ""}'})
    assert p.returncode == 1 and "cannot run a recipe" in p.stderr


# --------------------------------------------------------------------------- strict numbers everywhere

def test_k_and_coordinates_are_numbers_not_strings_or_booleans(tmp_path):
    """The API took k as "5", true or 2.0 while its coordinates were strict; the command line read
    "12" and true as coordinates of a stroke file. Both refuse them now, with a line that says so."""
    from fastapi.testclient import TestClient

    from fude.serve import create_app

    stroke = [[[0, 0], [10, 10]]]
    with TestClient(create_app("hiragana-seq", tmp_path / "db.sqlite")) as client:
        for k in ("5", True, 2.0):
            r = client.post("/api/predict", json={"strokes": stroke, "model": "hiragana-seq", "k": k})
            assert r.status_code == 422 and "k" in r.json()["detail"], (k, r.text)
        assert client.post("/api/predict", json={"strokes": stroke, "model": "hiragana-seq", "k": 2}).status_code == 200
    for bad, word in (([[["12", 3], [4, 5]]], "str"), ([[[True, 3], [4, 5]]], "bool")):
        path = tmp_path / f"{word}.json"
        path.write_text(json.dumps({"strokes": bad}))
        p = fude("predict-strokes", "--model", "hiragana-seq", path)
        assert p.returncode == 1 and f"a coordinate is a {word}" in p.stderr, p.stderr


def test_train_in_python_refuses_a_run_folder_as_the_command_does(tmp_path):
    """train() silently replaced a finished run the CLI refuses to touch; it asks for overwrite=True
    now (or resume=True). A replaced cross-validation's folds go with it (they were reused)."""
    from dataclasses import asdict

    import fude
    from fude.datasets.augment import AugmentConfig
    from fude.train import TrainConfig, train
    from fude.train.run import RunFolderError, start_run

    d = fude.load_dataset("kmnist-sample", "train")
    cfg = TrainConfig(epochs=1, batch_size=128, val_split=0.0, augment=asdict(AugmentConfig.off()))
    train(cfg, d, tmp_path, progress=False)
    before = (tmp_path / "model.safetensors").read_bytes()
    with pytest.raises(RunFolderError, match="already holds a run"):
        train(cfg.replace(seed=1), d, tmp_path, progress=False)
    assert (tmp_path / "model.safetensors").read_bytes() == before
    train(cfg.replace(seed=1), d, tmp_path, progress=False, overwrite=True)
    assert (tmp_path / "model.safetensors").read_bytes() != before
    (tmp_path / "cv" / "fold-0").mkdir(parents=True)
    (tmp_path / "cv" / "fold-0" / "model.safetensors").write_bytes(b"an old fold")
    (tmp_path / "cv" / "run.json").write_text(json.dumps({"train": {}, "data": {}, "command": "fude cv"}))
    start_run(tmp_path / "cv", cfg, {}, 2, "fude cv", overwrite=True)
    assert not (tmp_path / "cv" / "fold-0").exists()


def test_the_readmes_examples_read_without_warnings():
    """The README's own commands printed stroke-count warnings (its 学 and ね are written joined, as
    casual hands write them: fewer strokes weigh nothing, so nothing to warn of), and there was no
    word to try --line on."""
    p = fude("predict-strokes", REPO / "examples" / "strokes-学.json", REPO / "examples" / "strokes-ね.json",
             REPO / "examples" / "strokes-あ.json")
    assert p.returncode == 0 and "warning" not in p.stderr, p.stderr
    p = fude("predict-strokes", "--line", "--json", REPO / "examples" / "strokes-line-ありがとう.json")
    assert p.returncode == 0 and json.loads(p.stdout)[0]["text"] == "ありがとう", p.stderr


@pytest.mark.slow
def test_workers_end_with_a_server_killed_outright(tmp_path):
    """`fude serve --workers 2` killed with SIGKILL left its two workers serving the port, and a new
    server could not start on it; the workers now end with it."""
    import os
    import signal
    import time
    import urllib.request

    from conftest import free_port, start_server

    port = free_port()
    proc = start_server(tmp_path / "db.sqlite", port, "hiragana-seq", "--workers", "2", seconds=90)
    children = [int(c) for c in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()]
    assert children
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    deadline = time.time() + 20
    while time.time() < deadline and any(Path(f"/proc/{c}").exists() and "zombie" not in
                                         Path(f"/proc/{c}/status").read_text() for c in children):
        time.sleep(0.2)
    alive = [c for c in children if Path(f"/proc/{c}").exists() and "zombie" not in Path(f"/proc/{c}/status").read_text()]
    assert not alive, alive
    again = start_server(tmp_path / "db.sqlite", port, "hiragana-seq", seconds=60)  # the port is free again
    assert urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5).status == 200
    again.terminate()
    again.wait(10)


def test_samples_have_a_rate_and_a_size_limit(tmp_path, monkeypatch):
    """One client could add ~6.5 MB of samples a second, without end. Now: 120 a minute per client
    (429 beyond, others unaffected) and a size cap on the database (507, nothing saved lost)."""
    import sqlite3

    from fastapi.testclient import TestClient

    from fude.serve import create_app, routes

    monkeypatch.setattr(routes, "sample_rate", routes.RateLimit(5))
    sample = {"strokes": [[[0, 0], [10, 10]]], "label": "あ"}
    with TestClient(create_app("hiragana-seq", tmp_path / "db.sqlite")) as client:
        codes = [client.post("/api/samples", json={**sample, "client_id": "greedy"}).status_code for _ in range(7)]
        assert codes == [201] * 5 + [429] * 2
        assert client.post("/api/samples", json={**sample, "client_id": "patient"}).status_code == 201
        client.app.state.samples.max_bytes = 1
        r = client.post("/api/samples", json={**sample, "client_id": "another"})
        assert r.status_code == 507 and "full" in r.json()["detail"]
    assert sqlite3.connect(tmp_path / "db.sqlite").execute("SELECT COUNT(*) FROM samples").fetchone() == (6,)
    limit = routes.RateLimit(2)
    assert [limit.allow("a", t) for t in (0, 1, 2, 61, 61.5, 62)] == [True, True, False, True, True, False]


def test_a_network_that_answers_nan_is_an_error_not_nan_percent(tmp_path):
    """An ONNX graph giving NaN (damaged weights) was shown as `nan%`; it is one line on the command
    line, and `fude serve` refuses it at start-up (its first reading is a test)."""
    import hashlib

    from onnx import TensorProto, helper

    nodes = [helper.make_node("Flatten", ["x"], ["flat"]), helper.make_node("MatMul", ["flat", "w"], ["zero"]),
             helper.make_node("Log", ["zero"], ["minus_inf"]),  # log 0 = -inf, and -inf - -inf = NaN
             helper.make_node("Sub", ["minus_inf", "minus_inf"], ["logits"])]
    graph = helper.make_graph(nodes, "nan", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 32, 32])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 86])],
                              [helper.make_tensor("w", TensorProto.FLOAT, [1024, 86], [0.0] * (1024 * 86))])
    folder = lying_model(tmp_path, "nan", lambda c, f: None)
    data = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()
    (Path(folder) / "model.onnx").write_bytes(data)
    config = json.loads((Path(folder) / "config.json").read_text())
    config["weights_sha256"] = {"model.onnx": hashlib.sha256(data).hexdigest()}
    (Path(folder) / "config.json").write_text(json.dumps(config))
    p = fude("predict-strokes", "--model", folder, "--backend", "onnxruntime", REPO / "examples" / "strokes-あ.json")
    assert p.returncode == 1 and "NaN or infinite" in p.stderr and "nan%" not in p.stdout, (p.stdout, p.stderr)
    from conftest import free_port

    p = fude("serve", "--models", folder, "--port", free_port(), "--db", tmp_path / "db.sqlite", timeout=60)
    assert p.returncode == 1 and "NaN or infinite" in p.stderr and "Traceback" not in p.stderr  # found at start-up


def test_a_recipe_says_how_long_its_training_took():
    """`fude recipe ja` ran for two hours without a word of how long; it says what the shipped
    models' training took (from their configs), before it starts and in --show."""
    import json as _json

    from fude.models.store import resolve_model_dir

    minutes = sum(_json.loads((resolve_model_dir(m) / "config.json").read_text())["result"]["seconds"]
                  for m in ("ja", "ja-seq")) / 60
    p = fude("recipe", "ja", "--show")
    assert p.returncode == 0 and f"training: about {minutes:.0f} min on a CPU" in p.stdout, p.stdout[:500]


def test_a_line_whose_client_left_stops_reading():
    """A line's candidates are read in chunks, and before each the reading asks whether anyone still
    waits: a client that left costs at most one chunk (the server asks its connection)."""
    from fude.recognizer import load_model
    from fude.recognizer.line import LineAbandoned, read_line
    from fude.strokes import check_strokes

    rec = load_model("hiragana-seq", backend="onnxruntime")
    column = check_strokes([[[0.0, i * 0.01], [0.0, 1.0 + i * 0.01]] for i in range(256)], 256, 20000)
    calls = []
    original = rec.predict_strokes_many
    rec.predict_strokes_many = lambda requests: calls.append(len(requests)) or original(requests)
    asked = iter([False, False, True])
    with pytest.raises(LineAbandoned, match="no one waits"):
        read_line(rec, column, k=1, abandoned=lambda: next(asked))
    assert calls == [64, 64]  # two chunks read, then it stopped
    assert read_line(rec, column[:6], k=1, abandoned=lambda: False)["text"]
