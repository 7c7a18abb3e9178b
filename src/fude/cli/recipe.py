"""``fude recipe``: make a shipped model again from its recipe file (``fude/resources/recipes``), or
run a recipe file of the user's (:mod:`fude.recipes`). Its steps run as ``fude`` processes, so this
command itself loads nothing heavy."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time

COMMANDS = {  # sub-command: its line in `fude --help` (fude.cli.build_parser)
    "recipe": "make a shipped model again from its recipe file (or run a recipe file of yours)",
}


def register(sub) -> None:
    r = sub.add_parser("recipe", help=COMMANDS["recipe"])
    from fude.recipes import shipped_names

    r.add_argument("name", help=f"a shipped recipe ({', '.join(shipped_names())}) or a recipe file's path")
    r.add_argument("--set", action="append", metavar="VAR=VALUE", help="change one of the recipe's vars, e.g. "
                   "--set out=runs/mine (see --show)")
    r.add_argument("--show", action="store_true", help="print what the recipe is and its commands; run nothing")
    r.set_defaults(func=cmd_recipe)


def shipped_training_seconds(recipe) -> float:
    """The training seconds recorded in the config of each shipped model a shipped recipe makes (the
    model named as the recipe, and its companion named by the recipe's ``seq_name``), summed; 0 for
    another recipe."""
    from importlib import resources

    total = 0.0
    for name in {recipe.name, recipe.vars.get("seq_name", "")} - {""}:
        try:
            config = json.loads(resources.files("fude.pretrained").joinpath(name, "config.json").read_text("utf-8"))
            total += float((config.get("result") or {}).get("seconds") or 0)
        except (OSError, ValueError, TypeError):
            continue
    return total


def cmd_recipe(args: argparse.Namespace) -> int:
    """``fude recipe NAME``: print the recipe, or run its steps as ``fude`` processes, in order."""
    import os
    import subprocess

    from fude.recipes import RECIPE_ENV, load_recipe

    if os.environ.get(RECIPE_ENV) and not args.show:
        raise ValueError("a recipe's step cannot run a recipe (fude recipe was started by the steps of another)")
    recipe = load_recipe(args.name)
    changes = {}
    for item in args.set or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set {item!r}: give VAR=VALUE, e.g. --set out=runs/mine")
        changes[key] = value
    steps = recipe.commands(changes)
    estimate = shipped_training_seconds(recipe)
    if args.show:
        print(f"{recipe.name} (sha256 {recipe.sha256[:16]}): {recipe.about}")
        if estimate:
            print(f"training: about {estimate / 60:.0f} min on a CPU when the shipped model was made (generating "
                  "data adds to it)")
        if recipe.train:
            print(f"train: {json.dumps(recipe.train)}")
        for k, step in enumerate(steps, start=1):
            print(f"{k}. fude {shlex.join(step)}")
        return 0
    if not steps:
        raise ValueError(f"recipe {recipe.name} has no steps; use its fields with fude train --recipe {recipe.name}")
    env = {**os.environ, RECIPE_ENV: json.dumps({"name": recipe.name, "sha256": recipe.sha256})}
    if estimate:
        print(f"[{recipe.name}] its training steps took {estimate / 60:.0f} min when the shipped model was made (on a "
              "CPU; generating data adds to it, a GPU takes less)", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    for k, step in enumerate(steps, start=1):
        print(f"[{recipe.name} {k}/{len(steps)}] fude {shlex.join(step)}", file=sys.stderr, flush=True)
        code = subprocess.run([sys.executable, "-m", "fude", *step], env=env).returncode
        if code != 0:
            print(f"error: step {k} of recipe {recipe.name} failed (exit {code}); fix it and run the recipe again "
                  "(finished synth shards are kept)", file=sys.stderr)
            return code if 0 < code < 128 else 1
    print(f"recipe {recipe.name}: {len(steps)} steps in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return 0
