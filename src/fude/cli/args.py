"""What several commands share: the data-source options, flags built from config dataclasses,
logging to the terminal, and the one-line form of a guess list."""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import MISSING, fields

EXIT_ERROR = 1  # bad input or a failed file
EXIT_INTERRUPTED = 130  # the shell's code for SIGINT
FILE_SOURCES = ("images", "sequences", "csv", "image_folder")  # the data sources other than a --dataset
DATA_KEYS = ("dataset", "split", "images", "sequences", "labels", "csv", "image_folder", "box", "classmap", "data_dir",
             "no_download")


def int_in(low: int, high: int | None = None):
    """An argparse type: an integer in [low, high] (no upper bound when ``high`` is None); anything
    else is a usage error that names the range."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{value} is out of range: give {low} to {high}" if high is not None
                                             else f"{value} is out of range: give {low} or more")
        return value
    parse.__name__ = "integer"  # argparse names the type in its message
    return parse


def add_data_args(p: argparse.ArgumentParser, default_dataset: str | None = None) -> None:
    """The options that name one data source (a registered dataset, files, a CSV or a folder)."""
    from fude.datasets.base import INK_BOX

    g = p.add_argument_group("data (one source)")
    from fude.datasets.registry import DATASETS

    g.add_argument("--dataset", default=default_dataset, help=f"registered dataset: {', '.join(DATASETS)}"
                   + (f" (default: {default_dataset})" if default_dataset else ""))
    g.add_argument("--split", default=None, help="dataset split: train, test (kmnist also: dev); "
                   "default: train for training, test for evaluation")
    g.add_argument("--images", help="images file: official npz (arr_0) or IDX (.gz or raw)")
    g.add_argument("--labels", help="labels file for --images: npz or IDX")
    g.add_argument("--csv", help="Kaggle CSV: label,pixel0..pixel783 (label optional)")
    g.add_argument("--sequences", help="stroke sequences (N, T, 7) float32 npz, as fude synth --sequences writes, "
                   "for the stroke-* models; labels from --labels")
    g.add_argument("--image-folder", help="folder with one sub-folder of images per class")
    g.add_argument("--box", type=int, default=INK_BOX, help="--image-folder: pixels the ink of a non-28x28 image is "
                   "fitted into (20 as MNIST; 28 fills the frame as Kuzushiji-MNIST; default: 20)")
    g.add_argument("--classmap", help="class map CSV (index,codepoint,char) for --images/--csv")
    g.add_argument("--data-dir", help="dataset cache and local mirror (default: $FUDE_DATA_DIR or ~/.cache/fude)")
    g.add_argument("--no-download", action="store_true", help="never use the network; fail if files are missing")


def data_args_dict(args: argparse.Namespace) -> dict:
    """The data-source options as a dict (what ``run.json`` records)."""
    return {k: getattr(args, k) for k in DATA_KEYS}


def has_data_source(d: dict) -> bool:
    """Whether the options name a source of images (a dataset, an images file, a CSV or a folder)."""
    return any(d.get(k) for k in ("dataset", "images", "csv", "image_folder"))


_AHEAD: dict[tuple, object] = {}  # (dataset, split, --data-dir) -> the Future of a split read by prefetch()


class _PreParser(argparse.ArgumentParser):
    def error(self, message: str):  # a guess that fails says nothing: the real parser will
        raise ValueError(message)


def prefetch(argv: list[str]) -> None:
    """``fude train --dataset NAME``: start reading the training split (and the ``--test-split``)
    on a thread, before the full parser is built. Building it imports PyTorch, about a second on a
    small CPU, while the md5 checks, the decompression of the files and the training split's pixel
    statistics (:meth:`fude.datasets.Dataset.image_stats`), which let go of Python's lock, run
    beside it. The options are read by a small parser of their own; only files already on disk
    are read (no download); :func:`load_data` takes a split read
    this way when it asks for the same one, and reads it again itself when the read failed (a
    missing file it may download, a damaged one it reports), so this only ever saves time."""
    if not argv or argv[0] != "train":
        return
    pre = _PreParser(add_help=False, allow_abbrev=False)
    for key in ("dataset", "split", "data_dir", "test_split", "resume", *FILE_SOURCES):
        pre.add_argument("--" + key.replace("_", "-"))
    try:
        known, _ = pre.parse_known_args(argv[1:])
    except ValueError:
        return
    if not known.dataset or known.resume or any(getattr(known, k) for k in FILE_SOURCES):
        return
    from concurrent.futures import ThreadPoolExecutor

    from fude import datasets  # imported here: the thread only reads

    def read(split: str, stats: bool):
        data = datasets.load_dataset(known.dataset, split, known.data_dir, download=False)
        if stats and data.kind == "image":
            data.image_stats()  # what training needs before its first step, kept on the dataset
        return data

    pool = ThreadPoolExecutor(1, thread_name_prefix="fude-prefetch")
    train_split = known.split or "train"
    for split in dict.fromkeys(s for s in (train_split, known.test_split) if s):
        _AHEAD[(known.dataset, split, known.data_dir)] = pool.submit(read, split, split == train_split)
    pool.shutdown(wait=False)


def load_data(d: dict, default_split: str, class_map=None):
    """Load the data named by the ``--dataset/--images/--csv/--image-folder`` options (a
    registered dataset's split from :func:`prefetch` when it read it).

    Raises:
        fude.datasets.DatasetError: no source, or a source that cannot be read.
    """
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
        return datasets.load_image_folder(d["image_folder"], box=d.get("box", datasets.INK_BOX))
    if not d.get("dataset"):
        raise datasets.DatasetError("no data given: use --dataset NAME, --images/--labels, --csv or --image-folder")
    split = d.get("split") or default_split
    ahead = _AHEAD.pop((d["dataset"], split, d.get("data_dir")), None)
    if ahead is not None:
        try:
            return ahead.result()
        except Exception:  # noqa: BLE001 - read again below: a file to download, or an error to report
            pass
    return datasets.load_dataset(d["dataset"], split, d.get("data_dir"), download=not d.get("no_download"))


def add_precision_arg(p: argparse.ArgumentParser) -> None:
    """``--precision``, the same for training and inference (:func:`fude.runtime.resolve_precision`)."""
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"],
                   help="autocast of the forward passes; auto (default): bf16 where the hardware runs it fast "
                   "(GPU, CPUs with AMX/AVX512-BF16), else fp32")


def add_backend_arg(p: argparse.ArgumentParser) -> None:
    """``--backend`` of inference (:func:`fude.recognizer.load_model`, :func:`fude.recognizer.reading_backend`)."""
    p.add_argument("--backend", default="auto", choices=["auto", "torch", "onnxruntime"],
                   help="what runs the forward passes; auto (default): reading files, the model's ONNX file in "
                   "onnxruntime where it has one (no PyTorch to start); otherwise PyTorch, which hands large fp32 "
                   "calls of image models to onnxruntime once their work repays its set-up")


def add_threads_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=int, default=0, help="CPU threads (default: 0, one per core that other "
                   "programs leave free; training re-checks as it goes)")


def add_config_args(p: argparse.ArgumentParser, config_cls, overrides: dict | None = None,
                    skip: tuple[str, ...] = ()) -> list[str]:
    """One flag per field of the dataclass ``config_cls`` whose metadata has a ``help`` (and not
    ``flag=False``): ``--batch-size`` for ``batch_size``, typed as the field's default, with its
    ``choices`` and ``metavar``, and the default named once in the help. ``overrides`` maps a field
    name to argparse keywords that replace the field's (e.g. registry ``choices``, or ``default=None``
    with a ``default_help`` for a default that depends on other flags); the fields in ``skip`` get
    no flag. Returns the field names."""
    names = []
    for f in fields(config_cls):
        meta = dict(f.metadata)
        if "help" not in meta or not meta.get("flag", True) or f.name in skip:
            continue
        default = f.default if f.default is not MISSING else f.default_factory()
        kw = {"type": type(default), "default": default, "help": meta["help"],
              **{k: meta[k] for k in ("choices", "metavar") if k in meta}, **(overrides or {}).get(f.name, {})}
        shown = kw.pop("default_help", kw["default"])
        kw["help"] += f" (default: {shown})"
        if "choices" in kw:
            kw["choices"] = list(kw["choices"])
        p.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, **kw)
        names.append(f.name)
    return names


class Lines(logging.Formatter):
    """A message as a bare line; a warning or error says so first (``warning: ...``)."""

    def format(self, record: logging.LogRecord) -> str:
        line = record.getMessage()
        return f"{record.levelname.lower()}: {line}" if record.levelno >= logging.WARNING else line


def configure_logging(stream=None, quiet_ranks: bool = False) -> None:
    """fude's messages (the ``fude`` logger, INFO) as bare lines on ``stream`` (default stdout);
    ``quiet_ranks``: warnings only (torchrun processes other than rank 0)."""
    logger = logging.getLogger("fude")
    for h in list(logger.handlers):
        logger.removeHandler(h)
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(Lines())
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING if quiet_ranks else logging.INFO)
    logger.propagate = False


def json_option(text: str | None, flag: str) -> dict:
    """A JSON-object option (``--model-config``) parsed, or ``{}``.

    Raises:
        ValueError: not JSON, or not an object, naming the flag.
    """
    import json

    if not text:
        return {}
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise ValueError(f"{flag}: not valid JSON ({e}); expected an object such as '{{\"widths\": [32, 64, 128]}}'") from None
    if not isinstance(value, dict):
        raise ValueError(f"{flag}: expected a JSON object of config fields, got {text!r}")
    return value


def guesses(top: list[dict]) -> str:
    """A guess list on one line: ``お U+304A 98.1%  ...``."""
    return "  ".join(f"{g['char']} {g['codepoint']} {g['probability']:.1%}" for g in top)


def print_answers(answers: list[dict], as_json: bool) -> int:
    """Print the answers that have ``top`` (or, a line read whole, ``text`` and each character's
    ``top``) unless ``as_json``, and each ``error`` and ``warning`` on stderr; the exit code: 1 if
    any file failed."""
    import json

    if as_json:
        print(json.dumps(answers, ensure_ascii=False))
    else:
        for a in answers:
            if "top" in a:
                print(f"{a['file']}: {guesses(a['top'])}")
            elif "text" in a:
                print(f"{a['file']}: {a['text']}")
                for i, c in enumerate(a["characters"], start=1):
                    print(f"  {i}: {guesses(c['top'])}")
    for a in answers:
        if "warning" in a and not as_json:
            print(f"warning: {a['file']}: {a['warning']}", file=sys.stderr)
        if "error" in a:
            print(f"error: {a['error']}", file=sys.stderr)
    return EXIT_ERROR if any("error" in a for a in answers) else 0
