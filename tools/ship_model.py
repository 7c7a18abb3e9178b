"""Ship a trained model folder as one of fude's pretrained models: ``src/fude/pretrained/<name>``
gets the run's ``config.json`` and ``metrics.jsonl`` and its network as ``model.onnx`` only (written
by ``fude export --in-model``, checked against PyTorch, its sha256 recorded in the config), which
onnxruntime runs without PyTorch and PyTorch loads its weights from: the weights ship once. With
``--companion NAME`` the shipped config names its companion by its shipped name (a run folder
names it by a relative path). Run from the repository root:

    python tools/ship_model.py runs/ja ja --companion ja-seq
    python tools/ship_model.py runs/ja-seq ja-seq
"""

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from fude.export import export_into_model  # noqa: E402
from fude.files import atomic_write_json  # noqa: E402
from fude.models.store import PRETRAINED, read_config  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", help="a model folder written by fude train (and fude configure)")
    p.add_argument("name", choices=PRETRAINED, help="the shipped model it becomes")
    p.add_argument("--companion", help="the shipped name of its companion")
    args = p.parse_args()
    run, dest = Path(args.run), ROOT / "src" / "fude" / "pretrained" / args.name
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / args.name
        work.mkdir()
        for f in ("config.json", "metrics.jsonl", "model.safetensors"):
            if (run / f).exists():
                shutil.copy2(run / f, work / f)
        config = read_config(work)
        if args.companion:
            config.setdefault("recognizer", {})["companion"] = args.companion
            atomic_write_json(work / "config.json", config)
        # the companion, where the config names one, must be found from the temporary folder too
        companion = config.get("recognizer", {}).get("companion")
        if companion and not (work / companion / "config.json").exists() and companion not in PRETRAINED:
            raise SystemExit(f"{run}: its companion {companion!r} is not a shipped model: give --companion")
        path, check = export_into_model(work)
        config = read_config(work)
        config["weights_sha256"].pop("model.safetensors", None)
        (work / "model.safetensors").unlink()
        atomic_write_json(work / "config.json", config)
        for f in ("config.json", "metrics.jsonl", "model.onnx"):
            if (work / f).exists():
                shutil.copy2(work / f, dest / f)
    for stale in ("model.safetensors",):
        (dest / stale).unlink(missing_ok=True)
    print(f"{dest}: model.onnx ({(dest / 'model.onnx').stat().st_size / 1e6:.2f} MB; onnxruntime vs PyTorch on "
          f"{check['n']} random inputs: max logit difference {check['max_abs_diff']:.1e}), config.json, metrics.jsonl")
    print(json.dumps(config.get("recognizer", {}), ensure_ascii=False))


if __name__ == "__main__":
    main()
