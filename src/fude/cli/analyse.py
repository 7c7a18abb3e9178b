"""``fude evaluate``, ``report``, ``plot``, ``baseline``, ``summary`` and ``export``: what a model does
on data, as numbers, figures, a report or another runtime's file."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from fude.cli.args import (add_backend_arg, add_data_args, add_precision_arg, add_threads_arg, configure_logging,
                           data_args_dict, has_data_source, int_in, load_data)

def model_help(default: str = "kmnist") -> str:
    """``--model``'s help: every shipped model (:data:`fude.models.store.PRETRAINED`) and the default."""
    from fude.models.store import PRETRAINED

    return f"shipped model ({', '.join(PRETRAINED)}) or run folder (default: {default})"

COMMANDS = {  # sub-command: its line in `fude --help` (fude.cli.build_parser)
    "evaluate": "accuracy, per-class report and confusion matrix of a model",
    "report": "one self-contained HTML report with every figure, and the figures as PNG",
    "plot": "draw one figure as PNG (or SVG, PDF: by the --out suffix)",
    "baseline": "a classical baseline (scikit-learn), with fude evaluate's metrics",
    "summary": "layer table, parameter counts and FLOPs per image of a model",
    "export": "write a model as ONNX and check it against PyTorch with onnxruntime",
}


def register(sub) -> None:
    from fude.baselines import BASELINES
    from fude.models import ARCHS
    from fude.report import FIGURES

    e = sub.add_parser("evaluate", help=COMMANDS["evaluate"])
    e.add_argument("--model", default="kmnist", help=model_help())
    add_data_args(e)
    e.add_argument("--tta", type=int, default=0, choices=[0, 1, 2], help="test-time augmentation level (pixel shifts)")
    e.add_argument("--batch-size", type=int, default=512, help="images per forward pass (default: 512)")
    add_precision_arg(e)
    add_backend_arg(e)
    add_threads_arg(e)
    e.add_argument("--out", help="folder for confusion_matrix.csv and metrics.json (default: in the run folder)")
    e.add_argument("--save-predictions", metavar="FILE", help="write per-image predictions to FILE.csv (true and "
                   "predicted class and character, top-k probabilities) and all probabilities to FILE.npy")
    e.add_argument("--top-k", type=int_in(1, 1000), default=5, help="guesses per image in --save-predictions, 1 to 1000 (default: 5)")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.set_defaults(func=cmd_evaluate)

    rp = sub.add_parser("report", help=COMMANDS["report"])
    rp.add_argument("--model", default="kmnist", help=model_help())
    add_data_args(rp)
    rp.add_argument("--out", help="folder for report.html and the PNGs (default: <run>/report-<data>, or "
                    "report-<model>-<data>)")
    rp.add_argument("--tta", type=int, default=0, choices=[0, 1, 2], help="test-time augmentation level")
    rp.add_argument("--umap-points", type=int, default=5000, help="images per UMAP map (0: no UMAP maps; "
                    "default: 5000)")
    rp.add_argument("--compare", metavar="MODEL:DATASET", help="draw this model's UMAP maps beside a second "
                    "model's on its dataset's test split, e.g. mnist:mnist")
    add_threads_arg(rp)
    rp.set_defaults(func=cmd_report)

    pl = sub.add_parser("plot", help=COMMANDS["plot"])
    pl.add_argument("kind", choices=list(FIGURES), help="the figure")
    pl.add_argument("--model", default="kmnist", help=model_help())
    add_data_args(pl)
    pl.add_argument("--out", help="output file (default: <kind>.png)")
    pl.add_argument("--tta", type=int, default=0, choices=[0, 1, 2], help="test-time augmentation level")
    pl.add_argument("--umap-points", type=int, default=5000, help="umap: images in the map (default: 5000)")
    pl.add_argument("--compare", metavar="MODEL:DATASET", help="umap: a second map beside, e.g. mnist:mnist")
    pl.set_defaults(func=cmd_plot)

    b = sub.add_parser("baseline", help=COMMANDS["baseline"])
    b.add_argument("--method", required=True, choices=list(BASELINES), help="dummy (most frequent class), knn "
                   "(4-NN on pixels), pca-knn (4-NN on principal components), svm (RBF kernel)")
    add_data_args(b, default_dataset="mnist")
    b.add_argument("--train-split", default="train", help="the registered dataset's split to fit on (default: train)")
    b.add_argument("--components", type=int, default=40, help="pca-knn: principal components (default: 40)")
    b.add_argument("--max-train", type=int, help="fit on a stratified draw of at most this many images")
    b.add_argument("--seed", type=int, default=0, help="random seed (PCA, SVM, --max-train draw; default: 0)")
    b.add_argument("--json", action="store_true", help="print one JSON object, as fude evaluate --json")
    b.set_defaults(func=cmd_baseline)

    m = sub.add_parser("summary", help=COMMANDS["summary"])
    m.add_argument("--model", default="kmnist", help=model_help())
    m.add_argument("--arch", choices=list(ARCHS), help="an untrained architecture instead of --model")
    m.add_argument("--model-config", help="with --arch: JSON of model config fields")
    m.add_argument("--classes", type=int, default=10, help="with --arch: number of classes (default: 10)")
    m.add_argument("--json", action="store_true", help="print one JSON object")
    m.set_defaults(func=cmd_summary)

    x = sub.add_parser("export", help=COMMANDS["export"])
    x.add_argument("--model", default="kmnist", help=model_help())
    x.add_argument("--format", default="onnx", choices=["onnx"], help="output format")
    x.add_argument("--out", help="output file (default: <model>.onnx)")
    x.add_argument("--in-model", action="store_true", help="write model.onnx into the model's folder and record "
                   "its checksum in config.json: the folder then reads without PyTorch (fude predict, predict-strokes, "
                   "serve, load_model)")
    add_data_args(x)
    x.set_defaults(func=cmd_export)


def _run_folder_output(model: str, data, prefix: str) -> Path | None:
    """``<run folder>/<prefix>-<data>-<split>`` when ``model`` is a run folder of the user's (results
    kept with it), else None."""
    from fude.models import resolve_model_dir

    model_dir = resolve_model_dir(model)
    if not (model_dir / "run.json").exists():
        return None
    return model_dir / f"{prefix}-{data_tag(data.source)}"


def data_tag(source: dict) -> str:
    """A name for the data in file names: ``<dataset>-<split>`` for a registered dataset, else the
    first file's stem and the first 8 hex digits of its md5 (``files-a-imgs-3f2c1d0e``), so two sets of
    the user's own files never share a report folder."""
    from fude.datasets import DATASETS

    name = str(source.get("name", "data"))
    if name in DATASETS:
        return f"{name}-{source.get('split', '')}".rstrip("-")
    files = [f for f in source.get("files", []) if isinstance(f, dict) and f.get("file")]
    if not files:
        return name
    first = files[0]
    return f"{name}-{Path(str(first['file'])).stem}" + (f"-{str(first['md5'])[:8]}" if first.get("md5") else "")


def cmd_evaluate(args: argparse.Namespace) -> int:
    from fude.evaluate import confusion_csv, evaluate_with_probs, format_report, save_predictions
    from fude.files import atomic_write, atomic_write_json
    from fude.recognizer import load_model
    from fude.runtime import set_threads

    configure_logging(sys.stderr)  # the warning that the data overlap the model's training data
    set_threads(args.threads, since=args.started)
    rec = load_model(args.model, precision=args.precision, backend=args.backend)
    data = load_data(data_args_dict(args), "test", class_map=rec.class_map)
    result, probs = evaluate_with_probs(rec, data, tta=args.tta, batch_size=args.batch_size)
    result.update({"model": str(args.model), "data": data.source})
    if args.save_predictions:
        files = save_predictions(args.save_predictions, probs, data.class_map, data.labels, k=args.top_k)
        print(f"predictions saved in {files[0]} and {files[1]}", file=sys.stderr)
    out = Path(args.out) if args.out else _run_folder_output(args.model, data, "eval")
    if out is not None and out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file; give a folder for confusion_matrix.csv and metrics.json")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write(out / "confusion_matrix.csv", confusion_csv(result, data.class_map).encode())
        atomic_write_json(out / "metrics.json", result)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print(format_report(result))
        print(f"\nconfusion matrix and metrics saved in {out}" if out else
              "\n(--out DIR saves the confusion matrix as CSV and the metrics as JSON)")
    return 0


def _analysis(args: argparse.Namespace, with_data: bool = True, with_train_labels: bool = True):
    """The :class:`~fude.report.Analysis` that ``report`` and ``plot`` draw from."""
    from fude.datasets import DatasetError, load_dataset
    from fude.models import resolve_model_dir
    from fude.recognizer import load_model
    from fude.report import Analysis
    from fude.train import read_metrics

    rec = load_model(args.model)
    data = load_data(data_args_dict(args), "test", class_map=rec.class_map) if with_data else None
    src, train_labels = rec.config.get("data") or {}, None
    try:  # the labels the model was trained on, when they name a registered dataset that is at hand
        if with_train_labels:
            train_labels = load_dataset(src["name"], src["split"], args.data_dir, download=False).labels
    except (KeyError, DatasetError):
        pass
    compare = None
    if getattr(args, "compare", None):
        model, _, dataset = args.compare.partition(":")
        if not dataset:
            raise ValueError(f"--compare wants MODEL:DATASET (e.g. mnist:mnist), got {args.compare!r}")
        compare = load_model(model), load_dataset(dataset, "test", args.data_dir)
    return Analysis(rec, data, str(args.model), tta=args.tta, history=read_metrics(resolve_model_dir(args.model)) or None,
                    train_labels=train_labels, compare=compare, umap_points=args.umap_points)


def cmd_report(args: argparse.Namespace) -> int:
    from fude.report import build_report
    from fude.runtime import set_threads

    configure_logging(sys.stderr)
    set_threads(args.threads, since=args.started)
    a = _analysis(args)
    _warn_overlap(a)
    out = (Path(args.out) if args.out else _run_folder_output(args.model, a.data, "report")
           or Path(f"report-{Path(str(args.model)).name}-{data_tag(a.data.source)}"))
    path = build_report(a, out)
    print(f"report written to {path} (open it in a browser); the figures are PNGs beside it")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from fude.report import draw_figure

    out = Path(args.out or f"{args.kind}.png")
    a = _analysis(args, with_data=args.kind != "curves", with_train_labels=args.kind == "distribution")
    if a.data is not None:
        _warn_overlap(a)
    fig = draw_figure(args.kind, a)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    print(f"{args.kind} written to {out}")
    return 0


def _warn_overlap(a) -> None:
    from fude.evaluate import overlap_warning, training_overlap

    if training_overlap(a.rec, a.data):
        print(f"warning: {overlap_warning(a.rec)}", file=sys.stderr)


def cmd_baseline(args: argparse.Namespace) -> int:
    from fude.baselines import run_baseline
    from fude.datasets import load_dataset
    from fude.evaluate import format_report

    d = data_args_dict(args)
    if not d["dataset"] or any(d[k] for k in ("images", "csv", "image_folder")):
        raise ValueError("fude baseline fits on a registered dataset's --train-split and tests on its --split; "
                         "for your own files use cross-validation: fude cv --model knn --csv ...")
    train = load_dataset(d["dataset"], args.train_split, d["data_dir"], download=not d["no_download"])
    test = load_dataset(d["dataset"], d["split"] or "test", d["data_dir"], download=not d["no_download"])
    result = run_baseline(args.method, train, test, args.components, args.seed, args.max_train)
    from fude.evaluate import splits_overlap

    scored = d["split"] or "test"
    overlap = splits_overlap((d["dataset"], args.train_split), (d["dataset"], scored))
    result.update({"model": args.method, "data": test.source, "overlaps_training_data": overlap})
    if overlap:
        print(f"warning: the {scored} split overlaps the {args.train_split} split the baseline was fit on: "
              "the scores measure memory, not generalisation", file=sys.stderr)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print(f"{args.method}: fit on {result['n_train']:,} images in {result['fit_seconds']:.1f} s")
        print(format_report(result))
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    from fude.models import create_model
    from fude.recognizer import load_model
    from fude.summary import format_summary, model_summary

    if args.arch:
        from fude.cli.args import json_option

        model_cfg = json_option(args.model_config, "--model-config")
        net, title = create_model(args.arch, num_classes=args.classes, **model_cfg), f"{args.arch} (untrained)"
    else:
        net, title = load_model(args.model).net, f"model {args.model}"
    s = model_summary(net)
    print(json.dumps(s) if args.json else format_summary(s, title))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from fude.export import check_onnx, export_into_model, export_onnx
    from fude.models import resolve_model_dir
    from fude.recognizer import load_model

    if args.in_model:
        if args.out or has_data_source(data_args_dict(args)):
            raise ValueError("--in-model writes <model folder>/model.onnx, checked on random inputs: drop --out and "
                             "the data source")
        path, check = export_into_model(args.model)
        print(f"{path} written ({path.stat().st_size / 1e6:.2f} MB) and its sha256 recorded in config.json; "
              f"onnxruntime vs PyTorch on {check['n']:,} random inputs: max abs logit difference "
              f"{check['max_abs_diff']:.2e}, same top-1 on {check['same_top1']:.2%}")
        return 0
    rec = load_model(args.model, backend="torch")
    out = Path(args.out or f"{resolve_model_dir(args.model).resolve().name}.onnx")  # named after the model folder
    export_onnx(rec, out)
    d = data_args_dict(args)
    images = load_data(d, "test", class_map=rec.class_map).images if has_data_source(d) else None
    check = check_onnx(rec, out, images)
    print(f"ONNX model written to {out} ({out.stat().st_size / 1e6:.2f} MB); onnxruntime vs PyTorch on "
          f"{check['n']:,} images: max abs logit difference {check['max_abs_diff']:.2e}, "
          f"same top-1 on {check['same_top1']:.2%}")
    return 0
