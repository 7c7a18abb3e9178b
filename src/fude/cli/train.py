"""``fude train``, ``fude finetune`` and ``fude cv``: flags from :class:`~fude.train.TrainConfig`,
the run folder's rules from :mod:`fude.train.run`."""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sys
import time
from pathlib import Path

from fude.cli.args import (EXIT_INTERRUPTED, FILE_SOURCES, add_config_args, add_data_args, add_threads_arg,
                           configure_logging, data_args_dict, json_option, load_data)

LR_HELP = "0.2; 0.05 for stroke-conv1d"  # fude.train.config.ARCH_LR
RESUME_FLAGS = {"resume", "threads", "quiet", "json", "test_split", "help"}  # what --resume may be given with
COMMANDS = {  # sub-command: its line in `fude --help` (fude.cli.build_parser)
    "train": "train a model; writes a run folder",
    "finetune": "fine-tune a trained model to new data or a new class set",
    "cv": "stratified k-fold cross-validation of a training recipe or a baseline",
}


def _term_as_interrupt(signum, frame):
    raise KeyboardInterrupt


def add_train_args(t: argparse.ArgumentParser, finetune: bool = False) -> None:
    from fude.models import ARCHS
    from fude.train import TrainConfig

    add_data_args(t, default_dataset="mnist")
    g = t.add_argument_group("recipe (fude.train.TrainConfig)")
    add_config_args(g, TrainConfig, {"arch": {"choices": list(ARCHS)}, "lr": {"default": None, "default_help": LR_HELP}},
                    skip=("arch",) if finetune else ())  # fine-tuning keeps the source model's architecture
    if not finetune:
        from fude.train import RECIPES

        recipes = "; ".join(f"{name}: {recipe_flags(name)}" for name in RECIPES)
        g.add_argument("--recipe", choices=list(RECIPES), help="start from a named recipe instead of the defaults "
                       "(the flags given still win, and --model-config adds to its network): " + recipes)
    g.add_argument("--model-config", help='JSON of model config fields, e.g. \'{"widths": [32, 64, 128]}\'')
    g.add_argument("--no-augment", action="store_true", help="turn off random affine and random erasing (not "
                   "--elastic)")
    g.add_argument("--elastic", type=float, default=0.0, metavar="ALPHA", help="add elastic distortion of this "
                   "strength in pixels (Simard et al. 2003 used 34, with a Gaussian of 4 pixels; default: 0, off)")
    g.add_argument("--folds", type=int, default=0, help="stratified K-fold cross-validation instead (K >= 2; "
                   "default: 0, off)")
    g.add_argument("--test-split", metavar="SPLIT", help="after training, score the model on this split of "
                   "--dataset (e.g. test) in the same process: no second start-up and data read")
    add_threads_arg(t)
    t.add_argument("--out", help="run folder (default: runs/<dataset>-<arch>-<time>)")
    t.add_argument("--overwrite", action="store_true", help="replace the run already in --out")
    t.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run from its last checkpoint, with "
                   "its own recipe and data (only --threads, --quiet and --json may be given with it)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.add_argument("--json", action="store_true", help="print the final metrics as one JSON document on stdout "
                   "(the messages go to stderr)")
    t.set_defaults(func=cmd_train, flags={s: a.dest for a in t._actions for s in a.option_strings})


def register(sub) -> None:
    t = sub.add_parser("train", help=COMMANDS["train"])
    add_train_args(t)
    ft = sub.add_parser("finetune", help=COMMANDS["finetune"])
    ft.add_argument("--from", dest="init_from", required=True, help="shipped model or run folder to start from")
    ft.add_argument("--freeze", type=int, default=0, help="keep the first N blocks fixed (the new head always "
                    "trains; default: 0)")
    add_train_args(ft, finetune=True)

    c = sub.add_parser("cv", help=COMMANDS["cv"])
    what = c.add_mutually_exclusive_group(required=True)
    what.add_argument("--arch", help="an architecture, trained with the default recipe (fude-cnn, fude-cnn-l, ...)")
    what.add_argument("--model", help="a run folder or shipped model: its recipe")
    what.add_argument("--method", help="a classical baseline: dummy, knn, pca-knn, svm")
    add_data_args(c)
    c.add_argument("--folds", type=int, default=5, help="number of folds (default: 5)")
    c.add_argument("--epochs", type=int, help="override the recipe's epochs")
    c.add_argument("--seed", type=int, default=0, help="fold shuffling (and training) seed (default: 0)")
    c.add_argument("--components", type=int, default=40, help="pca-knn: principal components (default: 40)")
    c.add_argument("--out", help="folder for the folds' models and cv.json (default: runs/cv-<data>-<what>-<time>)")
    add_threads_arg(c)
    c.add_argument("--quiet", action="store_true", help="no progress bars")
    c.add_argument("--json", action="store_true", help="print the result as JSON")
    c.set_defaults(func=cmd_cv)


def config_from_args(args: argparse.Namespace):
    """The TrainConfig that ``fude train``'s (or ``finetune``'s) flags describe.

    Raises:
        ValueError: a value the config refuses, or a ``--model-config`` that is not a JSON object.
    """
    from dataclasses import asdict, fields, replace

    from fude.datasets.augment import AugmentConfig
    from fude.models import arch_spec
    from fude.train import TrainConfig, default_lr

    init_from, freeze = getattr(args, "init_from", ""), getattr(args, "freeze", 0)
    if init_from:  # fine-tuning: the architecture is the source model's
        from fude.recognizer import load_model

        args.arch = load_model(init_from).net.arch
    recipe = getattr(args, "recipe", None)
    if recipe:
        args = _with_recipe(args)
    flags = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if hasattr(args, f.name)}
    augment = replace(AugmentConfig.off() if args.no_augment else AugmentConfig(), elastic=args.elastic)
    changes = {**flags, "lr": args.lr or default_lr(args.arch), "init_from": init_from, "freeze": freeze,
               "model_config": json_option(args.model_config, "--model-config"), "augment": asdict(augment)}
    try:  # a recipe's model_config takes --model-config's fields on top (TrainConfig.from_recipe)
        cfg = TrainConfig.from_recipe(recipe, **changes) if recipe else TrainConfig(**changes)
    except ValueError as e:
        if not recipe:
            raise
        raise ValueError(f"{e} (--recipe {recipe} stands for {recipe_flags(recipe)})") from None
    if not init_from:  # a config the network refuses fails now, before any folder is touched
        from fude.models import create_model

        arch_spec(cfg.arch)
        create_model(cfg.arch, **{k: v for k, v in cfg.model_config.items() if k not in ("num_classes",)})
    return cfg


def recipe_in_use(name: str | None) -> dict | None:
    """The recipe this training run belongs to, as run.json and config.json record it: the one
    ``fude recipe`` is running (its steps run with ``FUDE_RECIPE`` set), else ``--recipe NAME``'s."""
    import os

    from fude.recipes import RECIPE_ENV, recipe_record

    if os.environ.get(RECIPE_ENV):
        try:
            given = json.loads(os.environ[RECIPE_ENV])
            return {"name": str(given["name"]), "sha256": str(given["sha256"])}
        except (ValueError, KeyError, TypeError):
            raise ValueError(f"${RECIPE_ENV} is set but is not {{\"name\": ..., \"sha256\": ...}}: unset it") from None
    return recipe_record(name) if name else None


def recipe_flags(name: str) -> str:
    """The ``fude train`` flags that the recipe ``name`` (:data:`fude.train.RECIPES`) stands for."""
    from fude.train import RECIPES

    flags = []
    for key, value in RECIPES[name].items():
        if key == "augment":
            flags.append("--no-augment")
        elif key == "model_config":
            flags.append(f"--model-config '{json.dumps(value)}'")
        else:
            flags.append(f"--{key.replace('_', '-')} {value:g}")
    return " ".join(flags)


def _with_recipe(args: argparse.Namespace) -> argparse.Namespace:
    """``fude train``'s command line (``args.argv``) read again with the ``--recipe``'s values as the
    defaults: a flag given on it still wins, however it is spelt (``--lr=0.3``, ``--label-smoothing``
    abbreviated). The recipe's ``model_config`` is merged by :func:`config_from_args`."""
    from fude.train import RECIPES

    recipe = RECIPES[args.recipe]
    again = argparse.ArgumentParser(prog="fude train")
    add_train_args(again)
    again.set_defaults(**{k: v for k, v in recipe.items() if k not in ("augment", "model_config")},
                       no_augment=recipe.get("augment") == "off")
    return again.parse_args(args.argv[1:])


def _given(args: argparse.Namespace) -> list[str]:
    """The flags on the command line (``args.argv``) other than those ``--resume`` goes with."""
    given = [token.split("=")[0] for token in getattr(args, "argv", []) if token.startswith("-")]
    return [flag for flag in dict.fromkeys(given) if args.flags.get(flag) not in RESUME_FLAGS | {None}]


def cmd_train(args: argparse.Namespace) -> int:
    from fude.runtime import resolve_device, set_threads
    from fude.train import cross_validate_recipe, distributed, train
    from fude.train.run import check_new_run, epochs_done, fixed_threads, read_run, start_run

    signal.signal(signal.SIGTERM, _term_as_interrupt)
    say = sys.stderr if args.json else sys.stdout  # with --json, stdout holds the one JSON document
    if args.resume:
        from fude.train import TrainConfig

        extra = _given(args)
        if extra:
            raise ValueError(f"--resume continues {args.resume} with its own recipe and data; it cannot also take "
                             + ", ".join(extra)
                             + " (start a new run with --out, or replace this one with --overwrite)")
        out = Path(args.resume)
        run = read_run(out)
        cfg, data_args, folds, command = TrainConfig.from_dict(run["train"]), run["data"], run["folds"], run["command"]
        recipe = run.get("recipe")
        # a run given --threads N resumes on N threads (bit-identical to a run never stopped) unless told otherwise
        args.threads = args.threads or fixed_threads(run)
    else:
        cfg, data_args, folds = config_from_args(args), data_args_dict(args), args.folds
        command = "fude " + shlex.join(sys.argv[1:])
        recipe = recipe_in_use(getattr(args, "recipe", None))
        name = data_args["dataset"] or "data"
        out = Path(args.out) if args.out else Path("runs") / f"{name}-{cfg.arch}-{time.strftime('%Y%m%d-%H%M%S')}"
    if args.test_split:
        _check_test_split(data_args, args.test_split, folds)
    world = distributed.init(resolve_device(cfg.device))  # under torchrun: join the other processes
    configure_logging(say, quiet_ranks=not world.main)
    if world.active and not args.out and not args.resume:
        raise ValueError("with torchrun, give --out: every process must write to the same run folder")
    if not args.resume:
        check_new_run(out, args.overwrite)
    distributed.barrier(world)  # every process has checked the folder before rank 0 changes it
    threads = set_threads(args.threads, world.local_size if resolve_device(cfg.device).type == "cpu" else 1,
                          since=args.started)
    data = load_data(data_args, "train")
    extra_config = {"command": command, "data": data.source, "threads": threads, **({"recipe": recipe} if recipe else {})}
    new_folder = not out.exists()
    if world.main:
        if not args.resume:
            start_run(out, cfg, data_args, folds, command, args.overwrite, args.threads, recipe)
        print(f"run folder: {out}", file=say)
    distributed.barrier(world)
    t0 = time.perf_counter()
    try:
        if folds:
            result = cross_validate_recipe(cfg, data, folds, out, progress=not args.quiet, extra_config=extra_config)
        else:
            result = train(cfg, data, out, resume=bool(args.resume), progress=not args.quiet, extra_config=extra_config,
                           adapt_threads=not args.threads)
    except KeyboardInterrupt:
        print(f"\ninterrupted; the checkpoint holds {epochs_done(out)} finished epoch(s). Continue with: "
              f"fude train --resume {out}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception:
        if world.main and not args.resume:
            _undo_start(out, new_folder)
        raise
    finally:
        distributed.shutdown(world)
    if not world.main:
        return 0
    if not folds:
        print(f"done in {time.perf_counter() - t0:.1f} s wall; model saved in {out}", file=say)
        if args.test_split:
            result["test"] = _score(out, data_args, args.test_split, say)
    if args.json:
        print(json.dumps(result))
    return 0


def _check_test_split(data_args: dict, split: str, folds: int) -> None:
    """Refuse a ``--test-split`` that could not be scored, before any training."""
    from fude.datasets.registry import DATASETS

    files = [f"--{k.replace('_', '-')}" for k in FILE_SOURCES if data_args.get(k)]
    if files or not data_args.get("dataset"):
        raise ValueError("--test-split scores on a split of a registered --dataset; this run reads "
                         + (files[0] if files else "no dataset") + " (score it with fude evaluate --model RUN ...)")
    if folds:
        raise ValueError("--test-split scores the one finished model; with --folds there is one per fold "
                         "(score them with fude evaluate --model RUN/fold-K)")
    spec = DATASETS.get(data_args["dataset"])
    unknown = [part for part in split.split("+") if spec is not None and part not in spec.splits]
    if unknown:
        raise ValueError(f"--test-split {split}: dataset {data_args['dataset']!r} has no split {unknown[0]!r}; "
                         f"splits: {', '.join(spec.splits)}")


def _score(out: Path, data_args: dict, split: str, say) -> dict:
    """The finished model's accuracy on ``split`` of the run's registered dataset (``--test-split``)."""
    from fude.evaluate import evaluate_scores
    from fude.recognizer import load_model

    rec = load_model(out)
    data = load_data({**data_args, "split": split}, split, class_map=rec.class_map)
    result = evaluate_scores(rec, data)
    score = {"split": split, "n": result["n"], "accuracy": result["accuracy"],
             "balanced_accuracy": result["balanced_accuracy"], "overlaps_training_data": result["overlaps_training_data"]}
    print(f"{data_args['dataset']} {split}: accuracy {score['accuracy']:.4f}, balanced accuracy "
          f"{score['balanced_accuracy']:.4f} on {score['n']:,} images", file=say)
    return score


def _undo_start(out: Path, new_folder: bool) -> None:
    """A run that failed before its first checkpoint leaves nothing that blocks the next attempt
    with the same ``--out``: its run.json and empty history go (and the folder, if it made it)."""
    from fude.train.run import CHECKPOINT

    if any(out.glob(CHECKPOINT)) or any(out.glob(f"fold-*/{CHECKPOINT}")):
        return  # a finished epoch: the run can be resumed
    for name in ("run.json", "metrics.jsonl"):
        (out / name).unlink(missing_ok=True)
    if new_folder:
        import shutil

        shutil.rmtree(out, ignore_errors=True)


def cmd_cv(args: argparse.Namespace) -> int:
    from fude.baselines import BASELINES, baseline_folds
    from fude.models import ARCHS
    from fude.recognizer import load_model
    from fude.runtime import set_threads
    from fude.train import TrainConfig, cross_validate, cross_validate_recipe

    signal.signal(signal.SIGTERM, _term_as_interrupt)
    configure_logging(sys.stderr)
    set_threads(args.threads, since=args.started)
    if args.model in BASELINES or args.model in ARCHS:  # the older spelling: --model for all three
        args.method, args.arch = (args.model, None) if args.model in BASELINES else (None, args.model)
    if args.method and args.method not in BASELINES:
        raise ValueError(f"unknown baseline {args.method!r}; baselines: {', '.join(BASELINES)}")
    if args.arch and args.arch not in ARCHS:
        raise ValueError(f"unknown architecture {args.arch!r}; architectures: {', '.join(ARCHS)}")
    data = load_data(data_args_dict(args), "train")
    name = data.source.get("name", "data")
    tag = args.method or args.arch or Path(args.model).name
    out = Path(args.out) if args.out else Path("runs") / f"cv-{name}-{tag}-{time.strftime('%Y%m%d-%H%M%S')}"
    if args.method:
        result = cross_validate(data, args.folds, args.seed, baseline_folds(args.method, data, args.components,
                                                                             args.seed), out, {"method": args.method})
    else:
        if args.arch:
            cfg = TrainConfig(arch=args.arch, seed=args.seed)
        else:
            cfg = TrainConfig.from_dict({**load_model(args.model).config["train"], "seed": args.seed})
        if args.epochs:
            cfg = cfg.replace(epochs=args.epochs)
        print(f"folds in {out}", file=sys.stderr)
        try:
            result = cross_validate_recipe(cfg, data, args.folds, out, progress=not args.quiet,
                                           extra_config={"data": data.source})
        except KeyboardInterrupt:
            print(f"\ninterrupted; finished folds are kept. Run the same command with --out {out} to go on.",
                  file=sys.stderr)
            return EXIT_INTERRUPTED
    print(json.dumps(result) if args.json else
          f"{args.folds}-fold accuracy {result['mean']:.4f} ± {result['std']:.4f} "
          f"(folds {' '.join(f'{a:.4f}' for a in result['folds'])})")
    return 0
