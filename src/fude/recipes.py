"""Recipes as files: how each shipped model (and the ``fast`` MNIST recipe) is made, one JSON file
each in ``fude/resources/recipes/`` (as nanoGPT keeps its configurations in ``config/``), run by
``fude recipe NAME``. Reading them needs nothing but the standard library.

A recipe file holds:

    about   what it makes and how, in words
    train   (optional) TrainConfig fields that differ from the defaults: ``fude train --recipe NAME``
            starts from them
    vars    (optional) names for the parts of the steps a user may change (``--set out=runs/x``);
            a value may name other vars: ``{runs}/ja``
    steps   ``fude`` command lines, each a list of arguments, ``{var}`` replaced

``fude recipe`` runs the steps in order as ``fude`` processes; every run it trains records the
recipe's name and the sha256 of its file in ``run.json`` and ``config.json`` (``recipe``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

RECIPE_ENV = "FUDE_RECIPE"  # set by `fude recipe` for its steps: {"name", "sha256"} as JSON
VAR = re.compile(r"\{(\w+)\}")
MAX_ARGUMENT = 4096  # characters: the longest argument a recipe's vars may fill (a path is a few hundred)


@dataclass(frozen=True)
class Recipe:
    """One recipe file (see the module doc).

    Attributes:
        name: the file's name without ``.json``.
        about: what the recipe makes.
        train: TrainConfig fields (``{}`` if the file has none).
        vars: the default value of each var.
        steps: the ``fude`` command lines, with ``{var}`` placeholders.
        sha256: of the file's bytes: what a trained run records.
    """

    name: str
    about: str
    train: dict = field(default_factory=dict)
    vars: dict = field(default_factory=dict)
    steps: list = field(default_factory=list)
    sha256: str = ""

    def commands(self, changes: dict[str, str] | None = None) -> list[list[str]]:
        """The steps with every ``{var}`` replaced (``changes`` over the file's values).

        Raises:
            ValueError: a change to a var the recipe does not have, or a step naming a var that
                is not defined (or names itself in a loop).
        """
        unknown = set(changes or {}) - set(self.vars)
        if unknown:
            raise ValueError(f"recipe {self.name} has no var {', '.join(sorted(unknown))}; its vars: "
                             f"{', '.join(self.vars) or 'none'}")
        for key, value in (changes or {}).items():
            if str(value).startswith("-") and not _is_number(str(value)):
                raise ValueError(f"--set {key}={value}: a value may not start with '-' (it would be read as an option)")
        values = {**self.vars, **(changes or {})}
        done: dict[str, str] = {}

        def var(name: str, chain: tuple[str, ...]) -> str:
            """The value of ``name`` with its vars filled, each var filled once (a chain of any
            depth is fine; a var that comes back to itself is a loop)."""
            if name in done:
                return done[name]
            if name in chain:
                raise ValueError(f"recipe {self.name}: the vars {' -> '.join((*chain, name))} name each other in a loop")
            if name not in values:
                raise ValueError(f"recipe {self.name}: {{{name}}} is named but is not one of its vars")
            done[name] = fill(str(values[name]), (*chain, name))
            return done[name]

        def fill(text: str, chain: tuple[str, ...] = ()) -> str:
            out = VAR.sub(lambda m: var(m.group(1), chain), text)
            if len(out) > MAX_ARGUMENT:
                raise ValueError(f"recipe {self.name}: its vars fill an argument past {MAX_ARGUMENT:,} characters")
            return out

        steps = [[fill(arg) for arg in step] for step in self.steps]
        for k, step in enumerate(steps, start=1):
            if step[0] == "recipe":
                raise ValueError(f"recipe {self.name}: step {k} runs a recipe; a recipe's steps are fude commands "
                                 "(train, synth, configure, ...), never another recipe")
        return steps


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def shipped_names() -> list[str]:
    """The recipes that ship with fude (``fude/resources/recipes/*.json``), by name."""
    folder = resources.files("fude.resources").joinpath("recipes")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".json"))


def load_recipe(name_or_path: str | os.PathLike) -> Recipe:
    """A shipped recipe by name, or a recipe file of the user's by path.

    Raises:
        ValueError: no such recipe (the shipped ones named), or a file that is not a recipe (what
            is wrong with it named).
    """
    path = Path(name_or_path)
    if path.suffix == ".json" or path.exists():
        from fude.files import read_input

        try:
            data = read_input(path, 1 << 20, "recipe file (JSON)")
        except OSError as e:
            raise ValueError(f"cannot read the recipe {path}: {e.strerror or e}") from None
        name = path.stem
    else:
        name = str(name_or_path)
        if name not in shipped_names():
            raise ValueError(f"unknown recipe {name!r}; known: {', '.join(shipped_names())} (or give a recipe file's path)")
        data = resources.files("fude.resources").joinpath("recipes", f"{name}.json").read_bytes()
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as e:
        raise ValueError(f"recipe {name}: not valid JSON ({e})") from None
    if not isinstance(doc, dict) or set(doc) - {"about", "train", "vars", "steps"}:
        raise ValueError(f"recipe {name}: expected an object with about, train, vars and steps"
                         + (f"; unknown keys {sorted(set(doc) - {'about', 'train', 'vars', 'steps'})}"
                            if isinstance(doc, dict) else ""))
    steps, vars_, train = doc.get("steps", []), doc.get("vars", {}), doc.get("train", {})
    if not (isinstance(steps, list) and all(isinstance(s, list) and s and all(isinstance(a, str) for a in s) for s in steps)):
        raise ValueError(f"recipe {name}: steps must be a list of command lines, each a list of strings")
    if not (isinstance(vars_, dict) and all(isinstance(v, (str, int, float)) for v in vars_.values())):
        raise ValueError(f"recipe {name}: vars must be an object of names to strings")
    if not isinstance(train, dict):
        raise ValueError(f"recipe {name}: train must be an object of TrainConfig fields")
    return Recipe(name, str(doc.get("about", "")), train, {k: str(v) for k, v in vars_.items()}, steps,
                  hashlib.sha256(data).hexdigest())


def recipe_record(name: str) -> dict:
    """What a run records of the recipe ``name`` it was trained by: ``{"name", "sha256"}``."""
    return {"name": name, "sha256": load_recipe(name).sha256}


def training_recipes() -> dict[str, dict]:
    """The shipped recipes that hold TrainConfig fields (``fude train --recipe NAME``): name -> fields."""
    return {name: recipe.train for name in shipped_names() if (recipe := load_recipe(name)).train}
