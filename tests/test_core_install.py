"""Reading without PyTorch (the core install, ``pip install fude``): the shipped models run from their
ONNX files in onnxruntime and read as PyTorch does. The core install is imitated in a subprocess by
an import hook that refuses every package of the train extra (PyTorch, scikit-learn, matplotlib, ...)."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from fude.cli import EXTRA_MODULES
from fude.errors import ModelError
from fude.recognizer import OnnxRecognizer, Recognizer, load_model
from fude.strokes import read_drawing, read_tdic
from fude.strokes.kanjivg import load_templates
from fude.strokes.synth import SynthConfig, drawing
from fude.datasets import STROKE_SOURCES

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
MIRROR = Path(os.environ.get("FUDE_DATA_DIR", REPO.parent / "shared" / "data"))
TOMOE, KANJIVG = MIRROR / STROKE_SOURCES["tomoe"].path, MIRROR / STROKE_SOURCES["kanjivg"].path

# runs first in the subprocess: every module of the train extra is refused, as on the core install
BLOCK = textwrap.dedent(f"""
    import importlib.abc, sys
    BLOCKED = {sorted(EXTRA_MODULES)!r}
    class Refuse(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {{name!r}} (refused: core install)", name=name)
            return None
    sys.meta_path.insert(0, Refuse())
""")


def core(code: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """Run ``code`` in a Python with the train extra's packages refused."""
    return subprocess.run([sys.executable, "-c", BLOCK + textwrap.dedent(code)], cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def core_cli(*args: str) -> subprocess.CompletedProcess:
    return core(f"import sys\nfrom fude.cli import main\nsys.argv = ['fude', *{list(args)!r}]\nrc = main()\n"
                f"assert 'torch' not in sys.modules, 'torch was imported'\nsys.exit(rc)")


def test_the_hook_refuses_torch():
    r = core("import torch")
    assert r.returncode != 0 and "refused: core install" in r.stderr


def test_predict_strokes_reads_without_torch():
    r = core_cli("predict-strokes", "--json", "examples/strokes-あ.json", "examples/strokes-学.json")
    assert r.returncode == 0, r.stderr
    answers = json.loads(r.stdout)
    assert [a["top"][0]["char"] for a in answers] == ["あ", "学"]


def test_predict_image_files_without_torch():
    r = core_cli("predict", "--model", "kmnist", "--json", "examples/kmnist-お.png", "examples/kmnist-や.png")
    assert r.returncode == 0, r.stderr
    assert [a["top"][0]["char"] for a in json.loads(r.stdout)] == ["お", "や"]
    r = core_cli("predict", "--model", "mnist", "examples/mnist-7.png")
    assert r.returncode == 0 and "7" in r.stdout.split(":", 1)[1].split()[0], r.stderr


def test_python_api_and_server_without_torch():
    r = core("""
        import sys
        import fude
        from fastapi.testclient import TestClient
        from fude.serve import create_app
        from fude.strokes import read_drawing

        rec = fude.load_model("ja")
        assert type(rec).__name__ == "OnnxRecognizer" and type(rec.companion).__name__ == "OnnxRecognizer"
        assert rec.predict_strokes(read_drawing("examples/strokes-ね.json").strokes, k=3)[0]["char"] == "ね"
        with TestClient(create_app(models="ja,kmnist", db=sys.argv[0] + ".db")) as client:
            assert client.get("/health").status_code == 200
            char = read_drawing("examples/strokes-あ.json")
            r = client.post("/api/predict", json={"model": "ja", "strokes": [s.tolist() for s in char.strokes]})
            assert r.status_code == 200 and r.json()["top"][0]["char"] == "あ", r.text
            with open("examples/kmnist-や.png", "rb") as f:
                r = client.post("/api/predict", files={"file": f}, data={"model": "kmnist"})
            assert r.status_code == 200 and r.json()["top"][0]["char"] == "や", r.text
        assert "torch" not in sys.modules
        print("ok")
    """)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr[-3000:]


def test_training_commands_name_the_extra():
    r = core_cli("train", "--dataset", "kmnist-sample", "--epochs", "1", "--out", "runs/never")
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and 'pip install ".[train]"' in lines[0], r.stderr
    assert "torch==2.13.0" in lines[0]  # CPU PyTorch pinned first: plain `fude[train]` pulled a CUDA build
    assert not (REPO / "runs" / "never").exists()


def test_a_folder_without_onnx_file_says_what_to_do(tmp_path):
    folder = tmp_path / "hiragana"
    shutil.copytree(REPO / "src/fude/pretrained/hiragana", folder)
    (folder / "model.onnx").unlink()
    r = core(f"import fude\nfude.load_model({str(folder)!r})")
    assert r.returncode != 0
    assert "ModelError" in r.stderr and '.[train]' in r.stderr and "--in-model" in r.stderr


def test_export_into_model_records_a_checked_graph(tmp_path):
    """A run folder (weights in safetensors) gains model.onnx; PyTorch reads the same weights back
    from it (the shipped models carry only that file)."""
    import torch

    from fude.export import export_into_model
    from fude.models import load_network, save_model

    net, class_map, config = load_network("hiragana-seq")  # the shipped model: from its ONNX file
    folder = tmp_path / "run"
    save_model(net, folder, class_map, {k: v for k, v in config.items() if k not in ("weights_sha256", "model")})
    path, check = export_into_model(folder)
    assert path == folder / "model.onnx" and check["same_top1"] == 1.0 and check["max_abs_diff"] < 1e-3
    recorded = json.loads((folder / "config.json").read_text())["weights_sha256"]
    assert set(recorded) == {"model.safetensors", "model.onnx"}
    rec = load_model(folder, backend="onnxruntime")
    assert isinstance(rec, OnnxRecognizer) and rec.input_spec.kind == "sequence"
    strokes = read_drawing(EXAMPLES / "strokes-ね.json").strokes
    assert rec.predict_strokes(strokes, k=1)[0]["char"] == "ね"
    (folder / "model.safetensors").unlink()
    again, _, _ = load_network(folder)  # PyTorch's weights from the graph alone
    assert all(torch.equal(again.state_dict()[k], v) for k, v in net.state_dict().items())


def test_a_damaged_onnx_file_is_refused_and_kept(tmp_path):
    folder = tmp_path / "hiragana"
    shutil.copytree(REPO / "src/fude/pretrained/hiragana", folder)
    data = bytearray((folder / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(ModelError, match="sha256"):
        load_model(folder, backend="onnxruntime")
    assert (folder / "model.onnx").read_bytes() == bytes(data)


def drawings_to_compare() -> list[list[np.ndarray]]:
    """The examples, every 40th Tomoe template and casual synthetic drawings of a few characters."""
    out = [read_drawing(p).strokes for p in sorted(EXAMPLES.glob("strokes-*.json"))]
    out += [c.strokes for c in read_tdic(TOMOE)[::40]]
    templates = load_templates(KANJIVG, chars="月人永あね")
    casual = SynthConfig(join=0.4, merge=0.5, dots=0.5, slant=12, cursive=0.3, quick=0.3, finger=0.3)
    out += [drawing(t, 7, i, j, casual)[0] for i, t in enumerate(templates.values()) for j in range(4)]
    return out


@pytest.mark.parametrize("name", ["ja", "hiragana"])
def test_onnx_reads_drawings_as_torch_does(name):
    torch_rec = load_model(name, precision="fp32", backend="torch")
    onnx_rec = load_model(name, backend="onnxruntime")
    assert isinstance(torch_rec, Recognizer) and isinstance(onnx_rec, OnnxRecognizer)
    assert (onnx_rec.companion is None) == (torch_rec.companion is None)
    drawings = drawings_to_compare()
    assert len(drawings) > 60
    for strokes in drawings:
        a, b = torch_rec.predict_strokes(strokes, k=5), onnx_rec.predict_strokes(strokes, k=5)
        assert a[0]["char"] == b[0]["char"]
        pa = {g["char"]: g["probability"] for g in a}
        assert all(abs(pa[g["char"]] - g["probability"]) <= 1e-4 for g in b if g["char"] in pa)


def test_onnx_reads_images_as_torch_does(mnist_test):
    for name, images in [("mnist", mnist_test.images[:500]), ("kmnist", None)]:
        torch_rec = load_model(name, precision="fp32", backend="torch")
        onnx_rec = load_model(name, backend="onnxruntime")
        if images is None:
            from fude.datasets.preprocess import load_image, to_dataset_image

            images = np.stack([to_dataset_image(load_image(p), box=onnx_rec.box) for p in
                               sorted(EXAMPLES.glob("kmnist-*.png"))])
        pa, pb = torch_rec.predict_proba(images), onnx_rec.predict_proba(images)
        assert pb.dtype == np.float32 and pb.shape == pa.shape
        assert (pa.argmax(1) == pb.argmax(1)).all() and np.abs(pa - pb).max() <= 1e-4
    with pytest.raises(ValueError, match="uint8"):
        onnx_rec.predict_proba(np.zeros((2, 27, 27), np.uint8))
