"""``fude predict``, ``predict-strokes``, ``serve`` and ``samples``: reading characters from image
files, data sources and drawings, on the command line and on the drawing page."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from fude.scripts import SCRIPT_FILTERS
from fude.cli.analyse import model_help
from fude.cli.args import (add_backend_arg, add_data_args, add_precision_arg, data_args_dict, guesses, has_data_source,
                           int_in, load_data, print_answers)

COMMANDS = {  # sub-command: its line in `fude --help` (fude.cli.build_parser)
    "predict": "top-k characters for image files (PNG, JPEG, ...) or for a dataset",
    "predict-strokes": "top-k characters for drawings stored as strokes (JSON or npz)",
    "serve": "the drawing page (GET /) and HTTP API (/docs) with uvicorn",
    "samples": "the drawings people confirmed on the page: counts, or export",
    "configure": "set a model folder's reading settings (companion, priors, stroke weighing) in its config.json",
}


def register(sub) -> None:
    from fude.models import DEFAULT_DATASET_MODEL, DEFAULT_IMAGE_MODEL, DEFAULT_STROKE_MODEL, SERVED_MODELS

    r = sub.add_parser("predict", help=COMMANDS["predict"])
    r.add_argument("files", nargs="*", help="image files: photo, scan or drawing of one character each")
    r.add_argument("--model", help=model_help(f"{DEFAULT_IMAGE_MODEL} for picture files, every kana and kanji; "
                                              f"{DEFAULT_DATASET_MODEL} for a data set"))
    add_data_args(r)
    r.add_argument("--submission", metavar="FILE", help="with a data source: write the Kaggle submission CSV "
                   "(ImageId,Label; ImageId from 1, Label the predicted class index)")
    r.add_argument("--tta", type=int, default=0, choices=[0, 1, 2], help="test-time augmentation level (data sources)")
    add_precision_arg(r)
    add_backend_arg(r)
    r.add_argument("--top-k", type=int_in(1, 1000), default=5, help="guesses per image, 1 to 1000 (default: 5)")
    r.add_argument("--json", action="store_true", help="print a JSON list, one object per file or image")
    r.set_defaults(func=cmd_predict)

    ps = sub.add_parser("predict-strokes", help=COMMANDS["predict-strokes"])
    ps.add_argument("files", nargs="+", help='stroke files: {"strokes": [[[x, y], ...], ...]} JSON, or the app\'s '
                    '{"1": [[x, y], ...]} layout as JSON or npz')
    ps.add_argument("--model", default=DEFAULT_STROKE_MODEL, help=model_help(DEFAULT_STROKE_MODEL)
                    + f"; {DEFAULT_STROKE_MODEL} reads every kana and kanji")
    ps.add_argument("--script", choices=list(SCRIPT_FILTERS), default="all", help="only guesses of this script "
                    "(kana: hiragana and katakana; default: all)")
    ps.add_argument("--chars", help="only guesses among these characters, e.g. the kana of a lesson: あいうえお")
    ps.add_argument("--top-k", type=int_in(1, 1000), default=5, help="guesses per drawing, 1 to 1000 (default: 5)")
    ps.add_argument("--line", action="store_true", help="each file is a word written left to right: read its "
                    "characters together (JSON: text, and per character its strokes and top-k)")
    add_precision_arg(ps)
    add_backend_arg(ps)
    ps.add_argument("--writer", metavar="FILE", help="read with this writer's memory (rec.writer(FILE): the drawings "
                    "they confirmed, made with this model)")
    ps.add_argument("--learn", action="store_true", help="with --writer: after reading each file that has a label, "
                    "learn it and save the memory to FILE (made when missing): `fude samples export` writes such files")
    ps.add_argument("--json", action="store_true", help="print a JSON list, one object per file")
    ps.set_defaults(func=cmd_predict_strokes)

    sv = sub.add_parser("serve", help=COMMANDS["serve"])
    sv.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    sv.add_argument("--port", type=int_in(1, 65535), default=8000, help="port, 1 to 65535 (default: 8000)")
    sv.add_argument("--workers", type=int_in(1, 64), default=1, help="server processes, each with its own copy of the models "
                    "(default: 1; on a machine with C cores serving many people, up to C)")
    sv.add_argument("--models", help="comma-separated shipped models or run folders (default: $FUDE_MODELS or "
                    f"{SERVED_MODELS})")
    sv.add_argument("--db", help="sample database (default: $FUDE_SAMPLES_DB or ~/.local/share/fude/samples.sqlite)")
    sv.add_argument("--read-timeout", type=float, default=10.0, metavar="SECONDS", help="time a client has to send "
                    "a request's headers and body before its connection is closed (default: 10)")
    sv.set_defaults(func=cmd_serve)

    sm = sub.add_parser("samples", help=COMMANDS["samples"])
    sm.add_argument("action", nargs="?", default="stats", choices=["stats", "export", "memory"],
                    help="stats (counts), export (stroke JSON and a training set), memory (one writer's memory "
                         "file from the drawings they confirmed, for predict-strokes --writer)")
    sm.add_argument("--db", help="sample database (default: $FUDE_SAMPLES_DB or ~/.local/share/fude/samples.sqlite)")
    sm.add_argument("--out", help="export: output folder; memory: the memory file to write")
    sm.add_argument("--writer", help="memory: the writer's id (the page's client_id)")
    sm.add_argument("--model", default=DEFAULT_STROKE_MODEL, help=f"memory: the model it reads with (default: "
                    f"{DEFAULT_STROKE_MODEL})")
    sm.set_defaults(func=cmd_samples)

    co = sub.add_parser("configure", help=COMMANDS["configure"], description="Set how a model folder reads "
                        "drawings (fude.recognizer.RecognizerConfig, saved in its config.json under 'recognizer'); "
                        "settings not given keep their value. Prints the settings.")
    co.add_argument("model", help="model folder (as fude train writes)")
    co.add_argument("--companion", help="a second model of the same classes whose probabilities are averaged in "
                    "(a shipped name or a folder relative to the model's); 'none' removes it")
    co.add_argument("--companion-weight", action="append", default=[], metavar="W|SCRIPT=W", help="the companion's "
                    "share in (0, 1), for every class or for one script (hiragana, katakana, kanji, digit, other, "
                    "default); repeatable")
    co.add_argument("--script-prior", action="append", default=[], metavar="GROUP=F", help="multiply a script's "
                    "classes by F (hiragana, katakana, kanji, digit, other, uncommon-kanji); repeatable; 'none' clears")
    co.add_argument("--frequency-prior", type=float, metavar="A", help="weigh kanji by their KANJIDIC2 frequency "
                    "rank r: ((r + 100) / 101) ** -A (0: off)")
    co.add_argument("--extra-stroke-factor", type=float, metavar="F", help="factor per stroke drawn beyond a "
                    "character's most, in (0, 1] (1: off)")
    co.add_argument("--stroke-slack", type=float, metavar="S", help="share of a character's strokes a drawing may "
                    "exceed without weighing (a writer who splits strokes)")
    co.add_argument("--small-kana-side", type=float, metavar="X", help="share of the canvas below which a drawing "
                    "leans to the small kana")
    co.add_argument("--picture-pen", type=float, metavar="X", help="a picture's ink thinner than this share of "
                    "its size is thickened to it before it is read (0: off)")
    co.add_argument("--box", type=float, help="pixels the ink's longer side is fitted into")
    co.set_defaults(func=cmd_configure)


def cmd_predict(args: argparse.Namespace) -> int:
    from fude.recognizer import load_model, reading_backend

    from fude.models import DEFAULT_DATASET_MODEL, DEFAULT_IMAGE_MODEL

    data_args = data_args_dict(args)
    from_data = has_data_source(data_args)
    args.model = args.model or (DEFAULT_DATASET_MODEL if from_data else DEFAULT_IMAGE_MODEL)
    # image files: the model's ONNX file where it has one (no PyTorch to start); a data source is
    # evaluated in PyTorch (test-time augmentation, bf16 batches)
    backend = args.backend if from_data else reading_backend(args.model, args.backend, args.precision)
    rec = load_model(args.model, precision=args.precision, backend=backend)
    if from_data == bool(args.files):
        raise ValueError("give either image files or one data source (--csv, --images, --dataset, --image-folder)")
    if args.submission and not from_data:
        raise ValueError("--submission needs a data source (--csv, --images, --dataset), not image files")
    if from_data:
        return _predict_dataset(args, rec, data_args)
    return _predict_files(args, rec)


def _predict_files(args: argparse.Namespace, rec) -> int:
    import numpy as np

    from fude.datasets.preprocess import ImageError, load_image, read_picture

    answers: list[dict] = []
    images, shares = [], []
    for file in args.files:
        try:
            image, share = read_picture(load_image(file), box=rec.box, frame=rec.input_size, pen=rec.settings.picture_pen)
            images.append(image)
            shares.append(share)
            answers.append({"file": file})
        except ImageError as e:
            answers.append({"file": file, "error": str(e) if str(e).startswith(file) else f"{file}: {e}"})
    if images:
        tops = iter(rec.predict(np.stack(images), k=args.top_k, ink_share=shares))
        for a in answers:
            if "error" not in a:
                a["top"] = next(tops)
    return print_answers(answers, args.json)


def _predict_dataset(args: argparse.Namespace, rec, data_args: dict) -> int:
    """Predict every image of a data source; with --submission write the Kaggle file."""
    from fude.evaluate import predict_proba, submission_csv
    from fude.files import atomic_write

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
            print(f"{i}: {guesses(t)}")
    return 0


def cmd_predict_strokes(args: argparse.Namespace) -> int:
    from fude.recognizer import load_model, reading_backend
    from fude.scripts import allowed
    from fude.strokes import MAX_LINE_POINTS, MAX_LINE_STROKES, StrokeError, read_drawing
    from fude.strokes.kanjivg import stroke_count_warning, stroke_counts

    rec = load_model(args.model, precision=args.precision,
                     backend=reading_backend(args.model, args.backend, args.precision))
    allowed(rec.class_map.chars, args.script, args.chars)  # a filter that leaves nothing: one error, not one per file
    if args.learn and not args.writer:
        raise ValueError("--learn needs --writer FILE: the memory to learn into")
    hand = None
    if args.writer:
        hand = rec.writer(args.writer if not args.learn or Path(args.writer).exists() else None)
        reader = hand
    else:
        reader = rec
    counts = stroke_counts()
    answers = []
    for file in args.files:
        try:
            char = read_drawing(file, *((MAX_LINE_STROKES, MAX_LINE_POINTS) if args.line else ()))
            if args.line:
                answers.append({"file": file, **reader.predict_line(char.strokes, k=args.top_k, script=args.script,
                                                                    chars=args.chars)})
                continue
            top = reader.predict_strokes(char.strokes, k=args.top_k, canvas=char.canvas, script=args.script,
                                         chars=args.chars)
            if args.learn and char.label:
                hand.learn(char.strokes, char.label)
        except StrokeError as e:
            answers.append({"file": file, "error": str(e) if str(e).startswith(file) else f"{file}: {e}"})
            continue
        a = {"file": file, "strokes": len(char.strokes), "top": top}
        warning = stroke_count_warning(char.strokes, char.label or top[0]["char"], counts)
        if warning:
            a["warning"] = warning
        if char.label:
            a["label"] = char.label
        answers.append(a)
    if args.learn:
        hand.save(args.writer)
        print(f"{len(hand):,} drawings in the writer's memory {args.writer}", file=sys.stderr)
    return print_answers(answers, args.json)


def cmd_serve(args: argparse.Namespace) -> int:
    from fude.serve import run

    run(args.host, args.port, args.models, args.db, args.workers, args.read_timeout)
    return 0


def cmd_samples(args: argparse.Namespace) -> int:
    from fude.serve import default_db
    from fude.serve.samples import SampleStore, export

    path = Path(args.db) if args.db else default_db()
    if not path.exists():
        raise ValueError(f"no sample database at {path}; fude serve creates it when the first sample is saved")
    store = SampleStore(path)
    if args.action == "memory":
        return _writer_memory(args, store)
    if args.action == "export":
        if not args.out:
            raise ValueError("samples export needs --out DIR")
        counts = export(store, args.out)
        print(f"{counts['samples']:,} samples of {counts['classes']} characters written to {args.out} (stroke JSON in "
              f"strokes/, training set in samples-imgs.npz, samples-labels.npz, samples_classmap.csv)"
              + (f"; {counts['left_out']:,} labelled with more than one character are stroke files only"
                 if counts["left_out"] else ""))
    else:
        print(json.dumps(store.stats(), ensure_ascii=False))
    return 0


def _writer_memory(args: argparse.Namespace, store) -> int:
    """``fude samples memory``: learn every drawing ``--writer`` confirmed into a new memory file."""
    import numpy as np

    from fude.recognizer import load_model, reading_backend

    if not args.writer or not args.out:
        raise ValueError("samples memory needs --writer ID (the page's client_id) and --out FILE")
    rec = load_model(args.model, backend=reading_backend(args.model))
    hand, skipped = rec.writer(), 0
    for row in store.rows():
        if row["client_id"] != args.writer:
            continue
        if row["label"] not in hand.index:
            skipped += 1
            continue
        hand.learn([np.asarray(s, dtype=np.float64) for s in json.loads(row["strokes"])], row["label"])
    if not len(hand):
        raise ValueError(f"no confirmed drawing of writer {args.writer!r} in {store.path} that {args.model} reads")
    hand.save(args.out)
    print(f"{len(hand):,} drawings of writer {args.writer} learnt into {args.out}"
          + (f" ({skipped} labelled with characters {args.model} does not read left out)" if skipped else ""))
    return 0


def configure_settings(current, args: argparse.Namespace):
    """``current`` (a :class:`~fude.recognizer.RecognizerConfig`) with ``fude configure``'s options.

    Raises:
        ValueError: a value that is not a number, or out of its range (named).
    """
    from dataclasses import replace

    changes: dict = {}
    if args.companion is not None:
        changes["companion"] = None if args.companion.lower() == "none" else args.companion
    if args.companion_weight:
        weights: dict = {}  # a bare W is every script's weight (default), SCRIPT=W one script's, in any order
        for item in args.companion_weight:
            name, eq, value = item.rpartition("=")
            weights[name if eq else "default"] = _float(value, "--companion-weight")
        changes["companion_weight"] = weights["default"] if list(weights) == ["default"] else weights
    if args.script_prior:
        prior = {}
        for item in args.script_prior:
            if item.lower() == "none":
                prior = {}
                continue
            name, eq, value = item.partition("=")
            if not eq:
                raise ValueError(f"--script-prior {item!r}: expected GROUP=FACTOR, e.g. hiragana=1.5")
            prior[name] = _float(value, "--script-prior")
        changes["script_prior"] = prior
    for key in ("frequency_prior", "extra_stroke_factor", "stroke_slack", "small_kana_side", "picture_pen", "box"):
        if getattr(args, key) is not None:
            changes[key] = getattr(args, key)
    return replace(current, **changes)


def _float(text: str, flag: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{flag}: {text!r} is not a number") from None


def cmd_configure(args: argparse.Namespace) -> int:
    from fude.models import ModelError, build_from_config, read_config
    from fude.recognizer import RecognizerConfig, companion_location, companion_problem, load_model, save_recognizer_config

    folder = Path(args.model)
    if not (folder / "config.json").is_file():
        raise ModelError(f"{folder}: not a model folder (no config.json); fude configure changes a folder that "
                         "fude train wrote, never a shipped model")
    config = read_config(folder)
    try:
        settings = configure_settings(RecognizerConfig.from_model_config(config), args)
    except ValueError as e:
        raise ModelError(f"{folder / 'config.json'}: {e}") from e
    if settings.companion is not None:  # checked before anything is written
        _, class_map = build_from_config(config)
        problem = companion_problem(load_model(companion_location(folder, settings.companion)), class_map)
        if problem:
            raise ModelError(f"companion {settings.companion!r}: {problem}")
    save_recognizer_config(folder, settings)
    print(json.dumps(settings.to_dict(), ensure_ascii=False, indent=1))
    return 0
