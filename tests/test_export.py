"""ONNX export: the file runs in onnxruntime, agrees with PyTorch, and names its classes."""

import json

import numpy as np
import pytest

import fude

pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")


def test_onnx_export_matches_pytorch(tmp_path):
    import onnx
    import onnxruntime as ort

    from fude.export import check_onnx, export_onnx

    rec = fude.load_model("kmnist")
    path = export_onnx(rec, tmp_path / "kmnist.onnx")
    sample = fude.load_dataset("kmnist-sample", "test")
    check = check_onnx(rec, path, sample.images)
    assert check["n"] == 300 and check["max_abs_diff"] < 1e-4 and check["same_top1"] == 1.0

    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert json.loads(meta["fude.class_map"])[0] == {"index": 0, "codepoint": "U+304A", "char": "お"}
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    one = session.run(["logits"], {"images": sample.images[:1, None].astype(np.float32) / 255})[0]
    assert one.shape == (1, 10) and one.argmax() == rec.predict_proba(sample.images[:1]).argmax()  # any batch size


def test_space_to_depth_network_exports(tmp_path):
    """The crop, PixelUnshuffle and the first conv without batch norm (the fast recipe's first
    stage) have an ONNX form that onnxruntime runs."""
    import torch

    from fude.classmap import ClassMap
    from fude.export import check_onnx, export_onnx
    from fude.models import create_model, save_model

    torch.manual_seed(0)
    net = create_model("fude-cnn", space_to_depth=True, widths=(16, 16, 48), first_bn=False, crop=2, mean=0.2, std=0.3)
    save_model(net, tmp_path / "m", ClassMap.packaged("kmnist"))
    rec = fude.load_model(tmp_path / "m")
    check = check_onnx(rec, export_onnx(rec, tmp_path / "m.onnx"), fude.load_dataset("kmnist-sample", "test").images)
    assert check["n"] == 300 and check["max_abs_diff"] < 1e-4 and check["same_top1"] == 1.0
