"""`fude evaluate` throughput: images/s of batched inference on the 10,000 MNIST test images (batch
512, best of three after a warm-up), in PyTorch (channels-last, batch norms folded) and in
onnxruntime (the network exported in memory); the one-off set-up of each (the first call: oneDNN's
kernels, or the export and onnxruntime's session; a network made after others, so without the
one-off imports, which the single figures give); what fude's ``auto`` backend runs three calls
in, one after another, each on all 10,000 images (onnxruntime once the calls' forward work adds up
to ``ORT_MIN_GFLOP``); and, for the shipped model, its `fude export` file run in onnxruntime.

    FUDE_DATA_DIR=../shared/data .venv/bin/python bench/speed/evaluate_speed.py
"""

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import FAST_NETWORK, save_results, table  # noqa: E402

import fude  # noqa: E402
from fude.models import create_model  # noqa: E402
from fude.recognizer import Recognizer  # noqa: E402

NETS = {  # row name: (architecture, model config)
    "fude-cnn": ("fude-cnn", {}), "fude-cnn space_to_depth": ("fude-cnn", {"space_to_depth": True}),
    "fast recipe's": ("fude-cnn", FAST_NETWORK),
    "fude-cnn-l": ("fude-cnn-l", {}), "keras-cnn": ("keras-cnn", {}),
}


def recognizer(name: str, backend: str, test: fude.Dataset) -> Recognizer:
    if name not in NETS:
        return fude.load_model("mnist", backend=backend, precision="fp32")
    return Recognizer(create_model(NETS[name][0], **NETS[name][1]), test.class_map, backend=backend, precision="fp32")


def main() -> None:
    test = fude.load_dataset("mnist", "test")
    rows = []
    once = {}  # what onnxruntime costs once per process (imports) and then per network (export, session)
    try:
        from fude.models.ort import OrtRunner

        probe = create_model("fude-cnn").eval()
        for key in ("first_ort_setup_in_process_s", "next_ort_setup_s"):
            t0 = time.perf_counter()
            OrtRunner(probe)
            once[key] = time.perf_counter() - t0
    except ImportError:
        pass
    for name in (*NETS, "shipped mnist"):
        auto = recognizer(name, "auto", test)
        ran = []
        for _ in range(3):  # the automatic backend moves to onnxruntime once the calls' work repays its set-up
            auto.logits(test.images)
            ran.append("ort" if auto.runs_onnxruntime else "torch")
        picks = ", ".join(ran)
        for backend in ("torch", "onnxruntime"):
            rec = recognizer(name, backend, test)
            times = []
            for _ in range(4):  # the first call: set-up and a pass
                t0 = time.perf_counter()
                rec.logits(test.images)
                times.append(time.perf_counter() - t0)
            first, best = times[0], min(times[1:])
            rows.append({"model": name, "forward_MFLOP": auto.forward_flops() / 1e6, "backend": backend,
                         "images_per_s": len(test) / best, "first_call_s": first, "auto_calls_1_2_3": picks,
                         "threads": torch.get_num_threads()})

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
                rows.append({"model": f"shipped mnist, batch {batch}", "forward_MFLOP": rec.forward_flops() / 1e6,
                             "backend": "fude export file in onnxruntime", "images_per_s": len(x) / min(times[1:]),
                             "first_call_s": times[0], "auto_calls_1_2_3": "",
                             "threads": session.get_session_options().intra_op_num_threads})
        print(f"ONNX vs PyTorch logits on the 10,000 test images: max abs difference {check['max_abs_diff']:.2e}, "
              f"same top-1 {check['same_top1']:.2%}")
    print(table(rows))
    save_results("evaluate_speed", rows, onnx_check=check if ort is not None else None, **once)


if __name__ == "__main__":
    main()
