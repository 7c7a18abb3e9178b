"""The ``fude`` command: a thin map from sub-command to package functions.

    fude train     train a model and write a run folder (resume with --resume)
    fude finetune  start from a trained model with a new head, some blocks frozen
    fude cv        stratified k-fold cross-validation of a training recipe or a baseline
    fude evaluate  accuracy, balanced accuracy, per-class report, confusion matrix
    fude report    one HTML report with every figure (and the figures as PNG)
    fude plot      one figure
    fude baseline  dummy, 4-NN, PCA + 4-NN or RBF SVM beside the CNNs
    fude summary   layer table, parameters and FLOPs of a model
    fude export    write a model as ONNX, checked against PyTorch with onnxruntime
    fude predict   top-k characters for image files, or a dataset (a Kaggle submission file)
    fude predict-strokes  top-k characters for drawings stored as strokes
    fude serve     the drawing page and HTTP API
    fude samples   counts of the collected drawings, or export them as a training set
    fude synth     generate training drawings from KanjiVG strokes (official npz layout)
    fude datasets  list the registered datasets, or download one

Each sub-command's flags and handler live together: train.py (train, finetune, cv), analyse.py
(evaluate, report, plot, baseline, summary, export), read.py (predict, predict-strokes, serve,
samples), data.py (synth, datasets); args.py holds what they share.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import NoReturn

from fude.cli import analyse, data, read, recipe, train
from fude.cli.args import EXIT_ERROR, EXIT_INTERRUPTED, prefetch
from fude.cores import sample as sample_cores
from fude.errors import DatasetError, ImageError, ModelError

# what the train extra (pip install "fude[train]") adds to the core install, by the module imported
EXTRA_MODULES = {"torch": "PyTorch", "safetensors": "safetensors", "sklearn": "scikit-learn", "tqdm": "tqdm",
                 "matplotlib": "matplotlib", "matplotlib_fontja": "matplotlib-fontja", "umap": "umap-learn",
                 "svg": "svg.path", "skimage": "scikit-image", "fontTools": "fonttools", "scipy": "SciPy"}

COMMAND_MODULES = (train, recipe, analyse, read, data)  # each: COMMANDS (name -> help line) and register(sub)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``fude`` parser, with every sub-command's options (``command`` None), or with only
    ``command``'s (any other string: the rest are listed by name and help line alone). Building a
    sub-command's options reads the package's registries (architectures, recipe fields), which
    imports PyTorch: ``fude --version``, ``fude --help`` and a mistyped command then answer in a
    fraction of the time."""
    from fude import __version__

    p = argparse.ArgumentParser(prog="fude", description="Read handwritten Japanese characters and digits.")
    p.add_argument("--version", action="version", version=f"fude {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        if command is None or command in module.COMMANDS:
            module.register(sub)
        else:
            for name, line in module.COMMANDS.items():
                sub.add_parser(name, help=line)
    return p


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default: the command line) and run the sub-command; fude's own errors end in
    one ``error:`` line on stderr and exit code 1, Ctrl-C in 130."""
    argv = list(sys.argv[1:] if argv is None else argv)
    started = sample_cores()  # the thread count is measured from here, over PyTorch's import
    prefetch(argv)  # before PyTorch is imported (by the parser's building)
    try:
        parser = build_parser(argv[0] if argv else "")
    except ModuleNotFoundError as e:  # a command of the train extra on the core install
        return missing_extra(e)
    args = parser.parse_args(argv)
    args.argv = argv  # what was typed: a flag given its default value is still a flag given
    args.started = started
    if args.command == "datasets" and args.action == "download" and not args.name:
        parser.error("datasets download needs a dataset name")
    try:
        return args.func(args)
    except BrokenPipeError:  # the reader went away (`fude ... | head`): nothing more to say to it
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR
    except (DatasetError, ModelError, ImageError, ValueError) as e:  # StrokeError is a ValueError
        print(f"error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except ModuleNotFoundError as e:
        return missing_extra(e)
    except OSError as e:  # a file or folder the command could not read or write
        where = f"{e.filename}: " if e.filename else ""
        print(f"error: {where}{e.strerror or e}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def missing_extra(e: ModuleNotFoundError) -> int:
    """One ``error:`` line for a command that needs a package the core install leaves out (PyTorch,
    scikit-learn, matplotlib, ...: the ``train`` extra); a module missing for another reason is raised."""
    top = (e.name or "").split(".")[0]
    if top not in EXTRA_MODULES:
        raise e
    from fude.errors import TRAIN_EXTRA

    print(f"error: this command needs {EXTRA_MODULES[top]}, which the core install (reading only) leaves out: "
          f"{TRAIN_EXTRA} (in fude's source folder)", file=sys.stderr)
    return EXIT_ERROR


def run() -> NoReturn:
    """The ``fude`` command and ``python -m fude``: :func:`main`, then the interpreter's exit
    without its teardown. Python's exit joins the threads, runs the ``atexit`` functions (logging's
    flush among them) and flushes stdout and stderr, which :func:`leave` does too; then it takes
    apart every module and object, and the C++ libraries theirs, which after PyTorch was loaded is
    a noticeable share of the quickest commands that the user gains nothing from (README
    "Benchmarks"): the operating system frees all of it at once. Files fude writes are closed when
    written."""
    try:
        code = main()
    except SystemExit as e:  # --help, --version and usage errors leave main() this way
        code = e.code
    leave(code)


def leave(code: int | str | None) -> NoReturn:
    """End the process as ``sys.exit(code)`` would, less the interpreter's teardown (see
    :func:`run`); where this Python lacks the pieces used here, by ``sys.exit`` itself."""
    import atexit
    import threading

    shutdown, exitfuncs = getattr(threading, "_shutdown", None), getattr(atexit, "_run_exitfuncs", None)
    if shutdown is None or exitfuncs is None:
        sys.exit(code)
    if code is not None and not isinstance(code, int):  # sys.exit's rule: a message, then status 1
        print(code, file=sys.stderr)
        code = 1
    shutdown()  # non-daemon threads finish, as at any exit
    exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):  # the reader went away, or the stream was closed
            code = code or EXIT_ERROR
    os._exit(code or 0)


if __name__ == "__main__":
    run()
