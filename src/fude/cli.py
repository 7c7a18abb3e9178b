"""The ``fude`` command: a thin map from sub-command to package functions.

    fude train     train a model and write a run folder (resume with --resume)
    fude finetune  start from a trained model with a new head, some blocks frozen
    fude evaluate  accuracy, balanced accuracy, per-class report, confusion matrix
    fude predict   top-k characters for image files, or a dataset (a Kaggle submission file)
    fude summary   layer table, parameters and FLOPs of a model
    fude report    one HTML report with every figure (and the figures as PNG)
    fude plot      one figure
    fude baseline  dummy, 4-NN, PCA + 4-NN or RBF SVM beside the CNNs
    fude cv        stratified k-fold cross-validation of a training recipe or a baseline
    fude export    write a model as ONNX, checked against PyTorch with onnxruntime
    fude synth     generate training drawings from KanjiVG strokes (official npz layout)
    fude predict-strokes  top-k characters for drawings stored as strokes
    fude serve     the drawing page and HTTP API
    fude samples   counts of the collected drawings, or export them as a training set
    fude datasets  list the registered datasets, or download one
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import signal
import sys
import time
from dataclasses import asdict
from pathlib import Path

EXIT_ERROR = 1  # bad input or a failed file
EXIT_INTERRUPTED = 130  # the shell's code for SIGINT


def add_data_args(p: argparse.ArgumentParser, default_dataset: str | None = None) -> None:
    g = p.add_argument_group("data (one source)")
    g.add_argument("--dataset", default=default_dataset, help="registered dataset: mnist, kmnist, k49 "
                   f"(default: {default_dataset})")
    g.add_argument("--split", default=None, help="dataset split: train, test (kmnist also: dev); "
                   "default: train for training, test for evaluation")
    g.add_argument("--images", help="images file: official npz (arr_0) or IDX (.gz or raw)")
    g.add_argument("--labels", help="labels file for --images: npz or IDX")
    g.add_argument("--csv", help="Kaggle CSV: label,pixel0..pixel783 (label optional)")
    g.add_argument("--sequences", help="stroke sequences (N, T, 7) float32 npz, as fude synth --sequences writes, "
                   "for the stroke-* models; labels from --labels")
    g.add_argument("--image-folder", help="folder with one sub-folder of images per class")
    g.add_argument("--box", type=int, default=20, help="--image-folder: pixels the ink of a non-28x28 image is "
                   "fitted into (20 as MNIST; 28 fills the frame as Kuzushiji-MNIST)")
    g.add_argument("--classmap", help="class map CSV (index,codepoint,char) for --images/--csv")
    g.add_argument("--data-dir", help="dataset cache and local mirror (default: $FUDE_DATA_DIR or ~/.cache/fude)")
    g.add_argument("--no-download", action="store_true", help="never use the network; fail if files are missing")


def data_args_dict(args: argparse.Namespace) -> dict:
    keys = ("dataset", "split", "images", "sequences", "labels", "csv", "image_folder", "box", "classmap", "data_dir",
            "no_download")
    return {k: getattr(args, k) for k in keys}


def load_data(d: dict, default_split: str, class_map=None):
    """Load the data named by the ``--dataset/--images/--csv/--image-folder`` options."""
    from fude import datasets

    cmap = d.get("classmap") or class_map
    if d.get("images"):
        return datasets.load_pair(d["images"], d.get("labels"), cmap)
    if d.get("sequences"):
        return datasets.load_sequences(d["sequences"], d.get("labels"), cmap)
    if d.get("labels"):
        raise datasets.DatasetError("--labels needs --images or --sequences")
    if d.get("csv"):
        return datasets.load_csv(d["csv"], cmap)
    if d.get("image_folder"):
        return datasets.load_image_folder(d["image_folder"], box=d.get("box", 20))
    if not d.get("dataset"):
        raise datasets.DatasetError("no data given: use --dataset NAME, --images/--labels, --csv or --image-folder")
    return datasets.load_dataset(d["dataset"], d.get("split") or default_split, d.get("data_dir"),
                                 download=not d.get("no_download"))


def _term_as_interrupt(signum, frame):
    raise KeyboardInterrupt


# --------------------------------------------------------------------------- train

def cmd_train(args: argparse.Namespace) -> int:
    from fude import distributed
    from fude.models import atomic_write
    from fude.runtime import resolve_device, set_threads
    from fude.train import TrainConfig, cross_validate, default_lr, train

    signal.signal(signal.SIGTERM, _term_as_interrupt)
    if args.resume:
        out = Path(args.resume)
        try:
            run = json.loads((out / "run.json").read_text())
        except (OSError, ValueError) as e:
            print(f"error: cannot resume {out}: no readable run.json ({e})", file=sys.stderr)
            return EXIT_ERROR
        cfg, data_args, folds = TrainConfig.from_dict(run["train"]), run["data"], run.get("folds", 0)
        command = run["command"]
    else:
        model_cfg = json.loads(args.model_config) if args.model_config else {}
        from fude.augment import AugmentConfig

        init_from, freeze = getattr(args, "init_from", ""), getattr(args, "freeze", 0)
        if init_from:  # fine-tuning: the architecture is the source model's
            from fude.models import load_model

            args.arch = load_model(init_from).net.arch
        augment = AugmentConfig.off() if args.no_augment else AugmentConfig(elastic=args.elastic)
        cfg = TrainConfig(arch=args.arch, model=model_cfg, epochs=args.epochs, init_from=init_from, freeze=freeze,
                          batch_size=args.batch_size, lr=args.lr or default_lr(args.arch), warmup=args.warmup,
                          label_smoothing=args.label_smoothing, val_split=args.val_split, seed=args.seed,
                          device=args.device, precision=args.precision, early_stopping=args.early_stopping,
                          monitor=args.monitor, class_weights=args.class_weights, sampler=args.sampler,
                          augment=asdict(augment), ema=args.ema)
        data_args, folds = data_args_dict(args), args.folds
        command = "fude " + shlex.join(sys.argv[1:])
        name = data_args["dataset"] or "data"
        out = Path(args.out) if args.out else Path("runs") / f"{name}-{cfg.arch}-{time.strftime('%Y%m%d-%H%M%S')}"
    world = distributed.init(resolve_device(cfg.device))  # under torchrun: join the other processes
    if world.active and not args.out and not args.resume:
        raise ValueError("with torchrun, give --out: every process must write to the same run folder")
    if not args.resume and not args.overwrite and any((out / f).exists() for f in ("checkpoint.json", "run.json")):
        print(f"error: {out} already holds a run; continue it with --resume {out}, replace it with --overwrite, "
              f"or choose another --out", file=sys.stderr)
        return EXIT_ERROR
    distributed.barrier(world)  # every process has checked the folder before rank 0 changes it
    threads = set_threads(args.threads, world.local_size if resolve_device(cfg.device).type == "cpu" else 1)
    data = load_data(data_args, "train")
    extra = {"command": command, "data": data.source, "threads": threads}
    if world.main:
        out.mkdir(parents=True, exist_ok=True)
        if args.overwrite and not args.resume:  # the old run goes as a whole, never half-mixed with the new one
            for name in ("model.safetensors", "config.json", "checkpoint.safetensors", "checkpoint.json", "cv.json"):
                (out / name).unlink(missing_ok=True)
            shutil.rmtree(out / "best", ignore_errors=True)
        if not args.resume:
            atomic_write(out / "run.json", json.dumps({"train": asdict(cfg), "data": data_args, "folds": folds,
                                                       "command": command}, indent=1).encode())
        print(f"run folder: {out}")
    distributed.barrier(world)
    t0 = time.perf_counter()
    try:
        if folds:
            result = cross_validate(cfg, data, folds, out, progress=not args.quiet, extra_config=extra,
                                    log=print if world.main else (lambda *_: None))
            if args.json and world.main:
                print(json.dumps(result))
            return 0
        result = train(cfg, data, out, resume=bool(args.resume), progress=not args.quiet, extra_config=extra)
    except KeyboardInterrupt:
        done = json.loads((out / "checkpoint.json").read_text())["epoch"] if (out / "checkpoint.json").exists() else 0
        print(f"\ninterrupted; the checkpoint holds {done} finished epoch(s). Continue with: fude train --resume {out}",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        distributed.shutdown(world)
    if not world.main:
        return 0
    print(f"done in {time.perf_counter() - t0:.1f} s wall; model saved in {out}")
    if args.json:
        print(json.dumps(result))
    return 0


# --------------------------------------------------------------------------- evaluate

def cmd_evaluate(args: argparse.Namespace) -> int:
    from fude.evaluate import confusion_csv, evaluate_with_probs, format_report, save_predictions
    from fude.models import atomic_write, load_model, resolve_model_dir
    from fude.runtime import set_threads

    set_threads(args.threads)
    rec = load_model(args.model, precision=args.precision)
    data = load_data(data_args_dict(args), "test", class_map=rec.class_map)
    result, probs = evaluate_with_probs(rec, data, tta=args.tta, batch_size=args.batch_size)
    result.update({"model": str(args.model), "data": data.source})
    if args.save_predictions:
        files = save_predictions(args.save_predictions, probs, data.class_map, data.labels, k=args.top_k)
        print(f"predictions saved in {files[0]} and {files[1]}", file=sys.stderr)
    out = Path(args.out) if args.out else None
    model_dir = resolve_model_dir(args.model)
    if out is None and (model_dir / "run.json").exists():  # a run folder of the user's: keep results with it
        out = model_dir / f"eval-{data.source.get('name', 'data')}-{data.source.get('split', '')}".rstrip("-")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write(out / "confusion_matrix.csv", confusion_csv(result, data.class_map).encode())
        atomic_write(out / "metrics.json", json.dumps(result, indent=1, ensure_ascii=False).encode())
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print(format_report(result))
        print(f"\nconfusion matrix and metrics saved in {out}" if out else
              "\n(--out DIR saves the confusion matrix as CSV and the metrics as JSON)")
    return 0


# --------------------------------------------------------------------------- predict

def cmd_predict(args: argparse.Namespace) -> int:
    from fude.models import load_model

    rec = load_model(args.model, precision=args.precision)
    data_args = data_args_dict(args)
    from_data = any(data_args[k] for k in ("dataset", "images", "csv", "image_folder"))
    if from_data == bool(args.files):
        raise ValueError("give either image files or one data source (--csv, --images, --dataset, --image-folder)")
    if args.submission and not from_data:
        raise ValueError("--submission needs a data source (--csv, --images, --dataset), not image files")
    if from_data:
        return _predict_dataset(args, rec, data_args)
    return _predict_files(args, rec)


def _predict_files(args: argparse.Namespace, rec) -> int:
    import numpy as np

    from fude.preprocess import ImageError, load_image, to_dataset_image

    answers: list[dict] = []
    images = []
    for file in args.files:
        try:
            images.append(to_dataset_image(load_image(file), box=rec.box))
            answers.append({"file": file})
        except ImageError as e:
            msg = str(e) if str(e).startswith(file) else f"{file}: {e}"
            answers.append({"file": file, "error": msg})
    if images:
        tops = iter(rec.predict(np.stack(images), k=args.top_k))
        for a in answers:
            if "error" not in a:
                a["top"] = next(tops)
    failed = [a for a in answers if "error" in a]
    if args.json:
        print(json.dumps(answers, ensure_ascii=False))
    else:
        for a in answers:
            if "error" not in a:
                print(f"{a['file']}: {_guesses(a['top'])}")
    for a in failed:
        print(f"error: {a['error']}", file=sys.stderr)
    return EXIT_ERROR if failed else 0


def _guesses(top: list[dict]) -> str:
    return "  ".join(f"{g['char']} {g['codepoint']} {g['probability']:.1%}" for g in top)


def _predict_dataset(args: argparse.Namespace, rec, data_args: dict) -> int:
    """Predict every image of a data source; with --submission write the Kaggle file."""
    from fude.evaluate import predict_proba, submission_csv
    from fude.models import atomic_write

    data = load_data(data_args, "test", class_map=rec.class_map)
    probs = predict_proba(rec, data.images, tta=args.tta)
    if args.submission:
        atomic_write(Path(args.submission), submission_csv(probs.argmax(1)).encode())
        print(f"{len(data):,} predictions written to {args.submission} (ImageId,Label; ImageId from 1)",
              file=sys.stderr)
        return 0
    tops = rec.top_k(probs, args.top_k)
    if args.json:
        print(json.dumps([{"image": i, "top": t} for i, t in enumerate(tops, start=1)], ensure_ascii=False))
    else:
        for i, t in enumerate(tops, start=1):
            print(f"{i}: {_guesses(t)}")
    return 0


# --------------------------------------------------------------------------- summary

def cmd_summary(args: argparse.Namespace) -> int:
    from fude.models import create_model, load_model
    from fude.summary import format_summary, model_summary

    if args.arch:
        model_cfg = json.loads(args.model_config) if args.model_config else {}
        net, title = create_model(args.arch, num_classes=args.classes, **model_cfg), f"{args.arch} (untrained)"
    else:
        net, title = load_model(args.model).net, f"model {args.model}"
    s = model_summary(net)
    print(json.dumps(s) if args.json else format_summary(s, title))
    return 0


# --------------------------------------------------------------------------- report, plot

PLOTS = ("distribution", "samples", "curves", "scores", "precision-recall", "confusion", "confusion-normalised",
         "confused-pairs", "misclassified", "umap")


def _history(model_dir: Path) -> list[dict] | None:
    from fude.train import read_metrics

    return read_metrics(model_dir) or None


def _training_labels(rec, data_dir):
    """Labels of the data ``rec`` was trained on, when it names a registered dataset that is at hand."""
    from fude.datasets import DatasetError, load_dataset

    src = rec.config.get("data") or {}
    try:
        return load_dataset(src["name"], src["split"], data_dir, download=False).labels
    except (KeyError, DatasetError):
        return None


def _compare(spec: str | None, data_dir):
    if not spec:
        return None
    from fude.datasets import load_dataset
    from fude.models import load_model

    model, _, dataset = spec.partition(":")
    if not dataset:
        raise ValueError(f"--compare wants MODEL:DATASET (e.g. mnist:mnist), got {spec!r}")
    return load_model(model), load_dataset(dataset, "test", data_dir)


def cmd_report(args: argparse.Namespace) -> int:
    from fude.models import load_model, resolve_model_dir
    from fude.report import build_report
    from fude.runtime import set_threads

    set_threads(args.threads)
    rec = load_model(args.model)
    data = load_data(data_args_dict(args), "test", class_map=rec.class_map)
    model_dir = resolve_model_dir(args.model)
    tag = f"{data.source.get('name', 'data')}-{data.source.get('split', '')}".rstrip("-")
    if args.out:
        out = Path(args.out)
    elif (model_dir / "run.json").exists():
        out = model_dir / f"report-{tag}"
    else:
        out = Path(f"report-{Path(str(args.model)).name}-{tag}")
    path = build_report(rec, data, out, str(args.model), tta=args.tta, history=_history(model_dir),
                        train_labels=_training_labels(rec, args.data_dir), compare=_compare(args.compare, args.data_dir),
                        umap_points=args.umap_points, log=lambda m: print(m, file=sys.stderr))
    print(f"report written to {path} (open it in a browser); the figures are PNGs beside it")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from fude import plots
    from fude.evaluate import predict_proba
    from fude.models import load_model, resolve_model_dir

    rec = load_model(args.model)
    out = Path(args.out or f"{args.kind}.png")
    if args.kind == "curves":
        history = _history(resolve_model_dir(args.model))
        if not history:
            raise ValueError(f"{args.model} has no metrics.jsonl: learning curves need a run folder of fude train")
        fig = plots.learning_curves(history)
    else:
        data = load_data(data_args_dict(args), "test", class_map=rec.class_map)
        x, y, cmap = data.images, data.labels, data.class_map
        if y is None:
            raise ValueError(f"plot {args.kind} needs labelled data")
        if args.kind == "distribution":
            train = _training_labels(rec, args.data_dir)
            fig = plots.class_distribution({"train": train, "evaluated": y} if train is not None else {"data": y}, cmap)
        elif args.kind == "samples":
            fig = plots.sample_grid(x, y, cmap)
        elif args.kind == "umap":
            from fude.report import umap_panels

            compare = _compare(args.compare, args.data_dir)
            fig = plots.umap_map(umap_panels([(rec, data)] + ([compare] if compare else []), args.umap_points))
        else:
            probs = predict_proba(rec, x, args.tta)
            pred = probs.argmax(1)
            from sklearn.metrics import confusion_matrix

            cm = confusion_matrix(y, pred, labels=range(len(cmap)))
            fig = {"scores": lambda: plots.per_class_bars(y, pred, cmap),
                   "precision-recall": lambda: plots.precision_recall_scatter(y, pred, cmap),
                   "confusion": lambda: plots.confusion_matrix(cm, cmap),
                   "confusion-normalised": lambda: plots.confusion_matrix(cm, cmap, normalize=True),
                   "confused-pairs": lambda: plots.confused_pairs_gallery(x, y, pred, cmap,
                                                                          plots.most_confused_pairs(cm, cmap, 8)),
                   "misclassified": lambda: plots.misclassified_gallery(x, y, probs, cmap)}[args.kind]()
    fig.savefig(out, dpi=110)
    print(f"{args.kind} written to {out}")
    return 0


# --------------------------------------------------------------------------- baseline, cv

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
    result.update({"model": args.method, "data": test.source})
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print(f"{args.method}: fit on {result['n_train']:,} images in {result['fit_seconds']:.1f} s")
        print(format_report(result))
    return 0


def cmd_cv(args: argparse.Namespace) -> int:
    import numpy as np

    from fude.baselines import BASELINES, fit_predict
    from fude.models import MODELS, atomic_write, load_model
    from fude.runtime import set_threads
    from fude.train import TrainConfig, cross_validate, cv_folds

    signal.signal(signal.SIGTERM, _term_as_interrupt)
    set_threads(args.threads)
    data = load_data(data_args_dict(args), "train")
    if data.labels is None:
        raise ValueError("cross-validation needs labelled data")
    name = data.source.get("name", "data")
    out = Path(args.out) if args.out else Path("runs") / (
        f"cv-{name}-{Path(args.model).name}-{time.strftime('%Y%m%d-%H%M%S')}")
    if args.model in BASELINES:
        accs = []
        for k, (tr, te) in enumerate(cv_folds(data.labels, args.folds, args.seed), start=1):
            pred, fit_s, _ = fit_predict(args.model, data.subset(tr), data.images[te], args.components, args.seed)
            accs.append(float((pred == data.labels[te]).mean()))
            print(f"fold {k}/{args.folds}: train {len(tr):,}, test {len(te):,}, accuracy {accs[-1]:.4f} "
                  f"(fit {fit_s:.1f} s)", file=sys.stderr)
        result = {"folds": accs, "mean": float(np.mean(accs)), "std": float(np.std(accs)), "k": args.folds,
                  "method": args.model}
        out.mkdir(parents=True, exist_ok=True)
        atomic_write(out / "cv.json", json.dumps(result, indent=1).encode())
    else:
        if args.model in MODELS:
            cfg = TrainConfig(arch=args.model, seed=args.seed)
        else:
            cfg = TrainConfig.from_dict({**load_model(args.model).config["train"], "seed": args.seed})
        if args.epochs:
            cfg = TrainConfig.from_dict({**asdict(cfg), "epochs": args.epochs})
        print(f"folds in {out}", file=sys.stderr)
        try:
            result = cross_validate(cfg, data, args.folds, out, progress=not args.quiet,
                                    extra_config={"data": data.source}, log=lambda m: print(m, file=sys.stderr))
        except KeyboardInterrupt:
            print(f"\ninterrupted; finished folds are kept. Run the same command with --out {out} to go on.",
                  file=sys.stderr)
            return EXIT_INTERRUPTED
    print(json.dumps(result) if args.json else
          f"{args.folds}-fold accuracy {result['mean']:.4f} ± {result['std']:.4f} "
          f"(folds {' '.join(f'{a:.4f}' for a in result['folds'])})")
    return 0


# --------------------------------------------------------------------------- export

def cmd_export(args: argparse.Namespace) -> int:
    from fude.export import check_onnx, export_onnx
    from fude.models import load_model

    rec = load_model(args.model)
    out = Path(args.out or f"{Path(str(args.model)).name}.onnx")
    export_onnx(rec, out)
    images = None
    if any(v for k, v in data_args_dict(args).items() if k in ("dataset", "images", "csv", "image_folder")):
        images = load_data(data_args_dict(args), "test", class_map=rec.class_map).images
    check = check_onnx(rec, out, images)
    print(f"ONNX model written to {out} ({out.stat().st_size / 1e6:.2f} MB); onnxruntime vs PyTorch on "
          f"{check['n']:,} images: max abs logit difference {check['max_abs_diff']:.2e}, "
          f"same top-1 on {check['same_top1']:.2%}")
    return 0


# --------------------------------------------------------------------------- strokes

def cmd_predict_strokes(args: argparse.Namespace) -> int:
    from fude.kanjivg import stroke_count_warning, stroke_counts
    from fude.models import load_model
    from fude.strokes import StrokeError, read_drawing

    rec = load_model(args.model)
    counts = stroke_counts()
    answers, failed = [], 0
    for file in args.files:
        try:
            char = read_drawing(file)
            top = rec.predict_strokes(char.strokes, k=args.top_k, canvas=char.canvas)
        except StrokeError as e:
            msg = str(e) if str(e).startswith(file) else f"{file}: {e}"
            answers.append({"file": file, "error": msg})
            failed += 1
            continue
        a = {"file": file, "strokes": len(char.strokes), "top": top}
        warning = stroke_count_warning(char.strokes, char.label or top[0]["char"], counts)
        if warning:
            a["warning"] = warning
        if char.label:
            a["label"] = char.label
        answers.append(a)
    if args.json:
        print(json.dumps(answers, ensure_ascii=False))
    else:
        for a in answers:
            if "top" in a:
                print(f"{a['file']}: {_guesses(a['top'])}")
    for a in answers:
        if "warning" in a and not args.json:
            print(f"warning: {a['file']}: {a['warning']}", file=sys.stderr)
        if "error" in a:
            print(f"error: {a['error']}", file=sys.stderr)
    return EXIT_ERROR if failed else 0


def cmd_synth(args: argparse.Namespace) -> int:
    from fude.classmap import ClassMap
    from fude.datasets import default_data_dir, save_pair
    from fude.kanjivg import load_kanjivg
    from fude.synth import SynthConfig, synth_images, synth_sequences

    folder = Path(args.kanjivg) if args.kanjivg else default_data_dir(args.data_dir) / "kanjivg_hiragana"
    chars = load_kanjivg(str(folder))
    if args.chars:
        missing = [c for c in args.chars if c not in chars]
        if missing:
            raise ValueError(f"no KanjiVG strokes in {folder} for {''.join(missing)}")
        chars = {c: chars[c] for c in sorted(set(args.chars))}
    t0 = time.perf_counter()
    out = Path(args.out)
    cfg = SynthConfig(reorder=args.reorder, reverse=args.reverse)
    if args.sequences:
        data, labels = synth_sequences(chars, args.per_char, seed=args.seed, length=args.sequences, cfg=cfg)
        kind, option, arch = "seqs", "--sequences", " --arch stroke-conv1d"
    else:
        data, labels = synth_images(chars, args.per_char, seed=args.seed, cfg=cfg)
        kind, option, arch = "imgs", "--images", ""
    files, labs, cmap = save_pair(out, args.name, data, labels, ClassMap(tuple(chars)), kind=kind)
    print(f"{len(data):,} drawings of {len(chars)} characters in {time.perf_counter() - t0:.1f} s, written to {out}; "
          f"train with: fude train {option} {files} --labels {labs} --classmap {cmap}{arch}")
    return 0


# --------------------------------------------------------------------------- serve, samples

def cmd_serve(args: argparse.Namespace) -> int:
    from fude.serve import run

    run(args.host, args.port, args.models, args.db, args.workers)
    return 0


def cmd_samples(args: argparse.Namespace) -> int:
    from fude.samples import SampleStore, export
    from fude.serve import default_db

    path = Path(args.db) if args.db else default_db()
    if not path.exists():
        raise ValueError(f"no sample database at {path}; fude serve creates it when the first sample is saved")
    store = SampleStore(path)
    if args.action == "export":
        if not args.out:
            raise ValueError("samples export needs --out DIR")
        counts = export(store, args.out)
        print(f"{counts['samples']:,} samples of {counts['classes']} characters written to {args.out} (stroke JSON in "
              f"strokes/, training set in samples-imgs.npz, samples-labels.npz, samples_classmap.csv)")
    else:
        print(json.dumps(store.stats(), ensure_ascii=False))
    return 0


# --------------------------------------------------------------------------- datasets

def cmd_datasets(args: argparse.Namespace) -> int:
    from fude.datasets import DATASETS, default_data_dir, load_dataset

    if args.action == "download":
        for split in DATASETS[args.name].splits:
            if all(f.url for f in DATASETS[args.name].splits[split]):
                d = load_dataset(args.name, split, args.data_dir)
                print(f"{args.name} {split}: {len(d):,} images, verified, in {default_data_dir(args.data_dir)}")
        return 0
    for spec in DATASETS.values():
        print(f"{spec.name:8s} {spec.description}; splits: {', '.join(spec.splits)}")
    print(f"data directory: {default_data_dir(args.data_dir)}")
    return 0


# --------------------------------------------------------------------------- parser

def add_precision_arg(p: argparse.ArgumentParser) -> None:
    """``--precision``, the same for training and inference (:func:`fude.runtime.resolve_precision`)."""
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"],
                   help="autocast of the forward passes; auto (default): bf16 where the hardware runs it fast "
                   "(GPU, CPUs with AMX/AVX512-BF16), else fp32")


def add_train_args(t: argparse.ArgumentParser, default_arch: str, models) -> None:
    add_data_args(t, default_dataset="mnist")
    t.add_argument("--arch", default=default_arch, choices=list(models), help="model architecture")
    t.add_argument("--model-config", help='JSON of model config fields, e.g. \'{"widths": [32, 64, 128]}\'')
    t.add_argument("--epochs", type=int, default=8, help="passes over the training data")
    t.add_argument("--batch-size", type=int, default=256, help="images per optimizer step")
    t.add_argument("--lr", type=float, help="peak learning rate (SGD, Nesterov momentum 0.9; default: 0.2, "
                   "0.05 for stroke-conv1d)")
    t.add_argument("--warmup", type=float, default=0.15, help="share of all steps over which the learning rate "
                   "rises linearly from a tenth of its peak to the peak; it then falls linearly to 0 (one-cycle)")
    t.add_argument("--label-smoothing", type=float, default=0.1, help="label smoothing of the cross-entropy")
    t.add_argument("--no-augment", action="store_true", help="turn off random affine and random erasing")
    t.add_argument("--elastic", type=float, default=0.0, metavar="ALPHA", help="add elastic distortion of this "
                   "strength in pixels (Simard et al. 2003 used 34, with a Gaussian of 4 pixels; default: 0, off)")
    t.add_argument("--ema", type=float, default=0.0, metavar="DECAY", help="the model is an exponential moving "
                   "average of the weights, updated every step with this decay (e.g. 0.999; default: 0, off)")
    t.add_argument("--val-split", type=float, default=0.1, help="stratified share held out for validation")
    t.add_argument("--folds", type=int, default=0, help="stratified K-fold cross-validation instead (K >= 2)")
    t.add_argument("--early-stopping", type=int, default=0, metavar="PATIENCE",
                   help="stop after PATIENCE epochs without a better --monitor and restore the best epoch (0: off)")
    t.add_argument("--monitor", default="val_accuracy", choices=["val_accuracy", "val_balanced_accuracy", "val_loss"],
                   help="validation metric that picks the best epoch")
    t.add_argument("--class-weights", default="none", choices=["none", "balanced"],
                   help="balanced: weight each class's loss by n / (classes * count), as scikit-learn")
    t.add_argument("--sampler", default="shuffle", choices=["shuffle", "balanced"],
                   help="balanced: draw batches so every class is seen equally often")
    t.add_argument("--seed", type=int, default=0, help="random seed; same seed, same run")
    t.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    add_precision_arg(t)
    t.add_argument("--threads", type=int, default=0, help="CPU threads (0: one per core)")
    t.add_argument("--out", help="run folder (default: runs/<dataset>-<arch>-<time>)")
    t.add_argument("--overwrite", action="store_true", help="replace the run already in --out")
    t.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run from its last checkpoint")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.add_argument("--json", action="store_true", help="print the final metrics as JSON")
    t.set_defaults(func=cmd_train)


def build_parser() -> argparse.ArgumentParser:
    from fude import __version__
    from fude.baselines import BASELINES
    from fude.models import DEFAULT_ARCH, MODELS

    p = argparse.ArgumentParser(prog="fude", description="Read handwritten Japanese characters and digits.")
    p.add_argument("--version", action="version", version=f"fude {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a model; writes a run folder",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_train_args(t, DEFAULT_ARCH, MODELS)
    ft = sub.add_parser("finetune", help="fine-tune a trained model to new data or a new class set",
                        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ft.add_argument("--from", dest="init_from", required=True, help="shipped model or run folder to start from")
    ft.add_argument("--freeze", type=int, default=0, help="keep the first N blocks fixed (the new head always trains)")
    add_train_args(ft, DEFAULT_ARCH, MODELS)

    e = sub.add_parser("evaluate", help="accuracy, per-class report and confusion matrix of a model")
    e.add_argument("--model", default="kmnist", help="shipped model (mnist, kmnist) or run folder (default: kmnist)")
    add_data_args(e)
    e.add_argument("--tta", type=int, default=0, choices=[0, 1, 2], help="test-time augmentation level (pixel shifts)")
    e.add_argument("--batch-size", type=int, default=512, help="images per forward pass")
    add_precision_arg(e)
    e.add_argument("--threads", type=int, default=0, help="CPU threads (0: one per core)")
    e.add_argument("--out", help="folder for confusion_matrix.csv and metrics.json (default: in the run folder)")
    e.add_argument("--save-predictions", metavar="FILE", help="write per-image predictions to FILE.csv (true and "
                   "predicted class and character, top-k probabilities) and all probabilities to FILE.npy")
    e.add_argument("--top-k", type=int, default=5, help="guesses per image in --save-predictions (default: 5)")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.set_defaults(func=cmd_evaluate)

    rp = sub.add_parser("report", help="one self-contained HTML report with every figure, and the figures as PNG")
    rp.add_argument("--model", default="kmnist", help="shipped model (mnist, kmnist) or run folder (default: kmnist)")
    add_data_args(rp)
    rp.add_argument("--out", help="folder for report.html and the PNGs (default: <run>/report-<data>, or "
                    "report-<model>-<data>)")
    rp.add_argument("--tta", type=int, default=0, choices=[0, 1, 2], help="test-time augmentation level")
    rp.add_argument("--umap-points", type=int, default=5000, help="images per UMAP map (0: no UMAP maps)")
    rp.add_argument("--compare", metavar="MODEL:DATASET", help="draw this model's UMAP maps beside a second "
                    "model's on its dataset's test split, e.g. mnist:mnist")
    rp.add_argument("--threads", type=int, default=0, help="CPU threads (0: one per core)")
    rp.set_defaults(func=cmd_report)

    pl = sub.add_parser("plot", help="draw one figure as PNG (or SVG, PDF: by the --out suffix)")
    pl.add_argument("kind", choices=list(PLOTS), help="the figure")
    pl.add_argument("--model", default="kmnist", help="shipped model or run folder (default: kmnist)")
    add_data_args(pl)
    pl.add_argument("--out", help="output file (default: <kind>.png)")
    pl.add_argument("--tta", type=int, default=0, choices=[0, 1, 2], help="test-time augmentation level")
    pl.add_argument("--umap-points", type=int, default=5000, help="umap: images in the map")
    pl.add_argument("--compare", metavar="MODEL:DATASET", help="umap: a second map beside, e.g. mnist:mnist")
    pl.set_defaults(func=cmd_plot)

    b = sub.add_parser("baseline", help="a classical baseline (scikit-learn), with fude evaluate's metrics")
    b.add_argument("--method", required=True, choices=list(BASELINES), help="dummy (most frequent class), knn "
                   "(4-NN on pixels), pca-knn (4-NN on principal components), svm (RBF kernel)")
    add_data_args(b, default_dataset="mnist")
    b.add_argument("--train-split", default="train", help="the registered dataset's split to fit on (default: train)")
    b.add_argument("--components", type=int, default=40, help="pca-knn: principal components (default: 40)")
    b.add_argument("--max-train", type=int, help="fit on a stratified draw of at most this many images")
    b.add_argument("--seed", type=int, default=0, help="random seed (PCA, SVM, --max-train draw)")
    b.add_argument("--json", action="store_true", help="print one JSON object, as fude evaluate --json")
    b.set_defaults(func=cmd_baseline)

    c = sub.add_parser("cv", help="stratified k-fold cross-validation of a training recipe or a baseline")
    c.add_argument("--model", required=True, help="an architecture (fude-cnn, fude-cnn-l, keras-cnn: default "
                   "recipe), a run folder or shipped model (its recipe), or a baseline (dummy, knn, pca-knn, svm)")
    add_data_args(c)
    c.add_argument("--folds", type=int, default=5, help="number of folds (default: 5)")
    c.add_argument("--epochs", type=int, help="override the recipe's epochs")
    c.add_argument("--seed", type=int, default=0, help="fold shuffling (and training) seed")
    c.add_argument("--components", type=int, default=40, help="pca-knn: principal components")
    c.add_argument("--out", help="folder for the folds' models and cv.json (default: runs/cv-<data>-<model>-<time>)")
    c.add_argument("--threads", type=int, default=0, help="CPU threads (0: one per core)")
    c.add_argument("--quiet", action="store_true", help="no progress bars")
    c.add_argument("--json", action="store_true", help="print the result as JSON")
    c.set_defaults(func=cmd_cv)

    r = sub.add_parser("predict", help="top-k characters for image files (PNG, JPEG, ...) or for a dataset")
    r.add_argument("files", nargs="*", help="image files: photo, scan or drawing of one character each")
    r.add_argument("--model", default="kmnist", help="shipped model (mnist, kmnist) or run folder (default: kmnist)")
    add_data_args(r)
    r.add_argument("--submission", metavar="FILE", help="with a data source: write the Kaggle submission CSV "
                   "(ImageId,Label; ImageId from 1, Label the predicted class index)")
    r.add_argument("--tta", type=int, default=0, choices=[0, 1, 2], help="test-time augmentation level (data sources)")
    add_precision_arg(r)
    r.add_argument("--top-k", type=int, default=5, help="guesses per image (default: 5)")
    r.add_argument("--json", action="store_true", help="print a JSON list, one object per file or image")
    r.set_defaults(func=cmd_predict)

    m = sub.add_parser("summary", help="layer table, parameter counts and FLOPs per image of a model")
    m.add_argument("--model", default="kmnist", help="shipped model (mnist, kmnist) or run folder (default: kmnist)")
    m.add_argument("--arch", choices=list(MODELS), help="an untrained architecture instead of --model")
    m.add_argument("--model-config", help="with --arch: JSON of model config fields")
    m.add_argument("--classes", type=int, default=10, help="with --arch: number of classes (default: 10)")
    m.add_argument("--json", action="store_true", help="print one JSON object")
    m.set_defaults(func=cmd_summary)

    x = sub.add_parser("export", help="write a model as ONNX and check it against PyTorch with onnxruntime")
    x.add_argument("--model", default="kmnist", help="shipped model or run folder (default: kmnist)")
    x.add_argument("--format", default="onnx", choices=["onnx"], help="output format")
    x.add_argument("--out", help="output file (default: <model>.onnx)")
    add_data_args(x)
    x.set_defaults(func=cmd_export)

    ps = sub.add_parser("predict-strokes", help="top-k characters for drawings stored as strokes (JSON or npz)")
    ps.add_argument("files", nargs="+", help='stroke files: {"strokes": [[[x, y], ...], ...]} JSON, or the app\'s '
                    '{"1": [[x, y], ...]} layout as JSON or npz')
    ps.add_argument("--model", default="hiragana", help="shipped model or run folder (default: hiragana)")
    ps.add_argument("--top-k", type=int, default=5, help="guesses per drawing (default: 5)")
    ps.add_argument("--json", action="store_true", help="print a JSON list, one object per file")
    ps.set_defaults(func=cmd_predict_strokes)

    sy = sub.add_parser("synth", help="generate varied training drawings from KanjiVG strokes")
    sy.add_argument("--kanjivg", help="folder of KanjiVG SVGs (default: <data dir>/kanjivg_hiragana)")
    sy.add_argument("--data-dir", help="data directory (default: $FUDE_DATA_DIR or ~/.cache/fude)")
    sy.add_argument("--chars", help="only these characters, e.g. あいう (default: every file)")
    sy.add_argument("--per-char", type=int, default=300, help="drawings per character (default: 300)")
    sy.add_argument("--seed", type=int, default=0, help="random seed; same seed, same drawings")
    sy.add_argument("--name", default="hiragana-synth", help="file name prefix (default: hiragana-synth)")
    sy.add_argument("--sequences", type=int, default=0, metavar="T", help="write the drawings as point sequences of "
                    "T points (for the stroke-* sequence models) instead of 28x28 images")
    sy.add_argument("--reorder", type=float, default=0.0, metavar="P", help="chance that a drawing's strokes come "
                    "in a random order (default: 0)")
    sy.add_argument("--reverse", type=float, default=0.0, metavar="P", help="chance that a stroke is drawn from its "
                    "end to its start (default: 0)")
    sy.add_argument("--out", required=True, help="output folder")
    sy.set_defaults(func=cmd_synth)

    sv = sub.add_parser("serve", help="the drawing page (GET /) and HTTP API (/docs) with uvicorn")
    sv.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    sv.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    sv.add_argument("--workers", type=int, default=1, help="server processes, each with its own copy of the models "
                    "(default: 1; on a machine with C cores serving many people, up to C)")
    sv.add_argument("--models", help="comma-separated shipped models or run folders (default: $FUDE_MODELS or "
                    "hiragana,hiragana-seq,kmnist,mnist)")
    sv.add_argument("--db", help="sample database (default: $FUDE_SAMPLES_DB or ~/.local/share/fude/samples.sqlite)")
    sv.set_defaults(func=cmd_serve)

    sm = sub.add_parser("samples", help="the drawings people confirmed on the page: counts, or export")
    sm.add_argument("action", nargs="?", default="stats", choices=["stats", "export"])
    sm.add_argument("--db", help="sample database (default: $FUDE_SAMPLES_DB or ~/.local/share/fude/samples.sqlite)")
    sm.add_argument("--out", help="export: output folder")
    sm.set_defaults(func=cmd_samples)

    d = sub.add_parser("datasets", help="list the registered datasets, or download one")
    d.add_argument("action", nargs="?", default="list", choices=["list", "download"])
    d.add_argument("name", nargs="?", help="dataset to download")
    d.add_argument("--data-dir", help="dataset cache and local mirror (default: $FUDE_DATA_DIR or ~/.cache/fude)")
    d.set_defaults(func=cmd_datasets)
    return p


def main(argv: list[str] | None = None) -> int:
    from fude.datasets import DatasetError
    from fude.models import ModelError
    from fude.preprocess import ImageError

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "datasets" and args.action == "download" and not args.name:
        parser.error("datasets download needs a dataset name")
    try:
        return args.func(args)
    except (DatasetError, ModelError, ImageError, ValueError) as e:  # StrokeError is a ValueError
        print(f"error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def run() -> int:
    """The ``fude`` command and ``python -m fude``: :func:`main`, then an exit without the
    interpreter's last garbage collection, which walks every object PyTorch created (0.25-0.3 s
    after ``import torch`` on a 2-core CPU, a twentieth of the quickest MNIST run). Objects are
    still freed by reference counting and files closed as usual (``gc.freeze``)."""
    import gc

    try:
        return main()
    finally:  # --help, --version and usage errors leave main() by SystemExit
        gc.freeze()


if __name__ == "__main__":
    sys.exit(run())
