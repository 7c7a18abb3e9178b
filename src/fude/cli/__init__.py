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

from fude.cli import analyse, data, read, train
from fude.cli.args import EXIT_ERROR, EXIT_INTERRUPTED, prefetch


def build_parser() -> argparse.ArgumentParser:
    from fude import __version__

    p = argparse.ArgumentParser(prog="fude", description="Read handwritten Japanese characters and digits.")
    p.add_argument("--version", action="version", version=f"fude {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    for module in (train, analyse, read, data):
        module.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default: the command line) and run the sub-command; fude's own errors end in
    one ``error:`` line on stderr and exit code 1, Ctrl-C in 130."""
    argv = list(sys.argv[1:] if argv is None else argv)
    prefetch(argv)  # before PyTorch is imported (by the parser's building and these)
    from fude.datasets import DatasetError
    from fude.datasets.preprocess import ImageError
    from fude.models import ModelError

    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = argv  # what was typed: a flag given its default value is still a flag given
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
    except OSError as e:  # a file or folder the command could not read or write
        where = f"{e.filename}: " if e.filename else ""
        print(f"error: {where}{e.strerror or e}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def run() -> int:
    """The ``fude`` command and ``python -m fude``: :func:`main`, then an exit without the
    interpreter's last garbage collection, which walks every object PyTorch created (a noticeable
    share of the quickest commands; ``bench/mnist_speed.py``). Objects are still freed by reference
    counting and files closed as usual (``gc.freeze``)."""
    import gc

    try:
        code = main()
        sys.stdout.flush()  # here, where a closed pipe can still be answered quietly
        return code
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR
    finally:  # --help, --version and usage errors leave main() by SystemExit
        gc.freeze()


if __name__ == "__main__":
    sys.exit(run())
