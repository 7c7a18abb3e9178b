"""`fude evaluate` throughput: images/s of batched inference on the 10,000 MNIST test images (batch
512), in PyTorch (channels-last, batch norms folded) and with fude's automatic backend (onnxruntime
for fp32 where installed), and, for the shipped model, its `fude export` file run in onnxruntime.

    FUDE_DATA_DIR=../shared/data .venv/bin/python bench/evaluate_speed.py
"""

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import save_results, table  # noqa: E402

import fude  # noqa: E402
from fude.evaluate import evaluate  # noqa: E402
from fude.models import create_model  # noqa: E402
from fude.recognizer import Recognizer  # noqa: E402

test = fude.load_dataset("mnist", "test")
rows = []
NETS = {  # row name: (architecture, model config)
    "fude-cnn": ("fude-cnn", {}), "fude-cnn space_to_depth": ("fude-cnn", {"space_to_depth": True}),
    "fude-cnn-l": ("fude-cnn-l", {}), "keras-cnn": ("keras-cnn", {}),
}
for name in (*NETS, "shipped mnist"):
    for backend in ("torch", "auto"):  # auto: onnxruntime where fude would use it (fp32, installed)
        rec = (fude.load_model("mnist", backend=backend) if name not in NETS
               else Recognizer(create_model(NETS[name][0], **NETS[name][1]), test.class_map, backend=backend))
        evaluate(rec, test)  # warm-up
        best = min(evaluate(rec, test)["seconds"] for _ in range(3))
        ran = "onnxruntime" if rec._ort is not None else "pytorch"
        if backend == "auto" and ran == "pytorch":
            continue  # the same as the row above
        rows.append({"model": name, "backend": f"{backend} ({ran}, {rec.precision})", "arch": rec.net.arch,
                     "images_per_s": len(test) / best, "threads": torch.get_num_threads()})

try:
    import onnxruntime as ort

    from fude.export import check_onnx, export_onnx
except ImportError:
    ort = None
if ort is not None:
    rec = fude.load_model("mnist")
    with tempfile.TemporaryDirectory() as tmp:
        path = export_onnx(rec, Path(tmp) / "mnist.onnx")
        check = check_onnx(rec, path, test.images)
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        x = test.images[:, None].astype(np.float32) / 255
        for batch in (512, 10_000):
            times = []
            for _ in range(4):
                t0 = time.perf_counter()
                for i in range(0, len(x), batch):
                    session.run(["logits"], {"images": x[i: i + batch]})
                times.append(time.perf_counter() - t0)
            rows.append({"model": f"shipped mnist, batch {batch}", "backend": "fude export file in onnxruntime", "arch": rec.net.arch,
                         "images_per_s": len(x) / min(times[1:]), "threads": session.get_session_options().intra_op_num_threads})
    print(f"ONNX vs PyTorch logits on the 10,000 test images: max abs difference {check['max_abs_diff']:.2e}, "
          f"same top-1 {check['same_top1']:.2%}")
print(table(rows))
save_results("evaluate_speed", rows, onnx_check=check if ort is not None else None)
