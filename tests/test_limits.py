"""Bounded work and nothing deleted by mistake (issue 39): each test reproduces a case that broke
before its fix."""

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO

TINY = ["--dataset", "kmnist-sample", "--epochs", "1", "--batch-size", "128", "--threads", "1", "--quiet"]


def fude(*args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fude", *map(str, args)], capture_output=True, text=True, **kw)


# --------------------------------------------------------------------------- --overwrite replaces only a run

def test_overwrite_refuses_a_folder_that_holds_no_run(tmp_path):
    """`fude train --out DIR --overwrite` on a model folder that is not a run (a shipped model's
    copy, say) used to delete its config.json and best/: now it refuses, and nothing changes."""
    folder = tmp_path / "my-model"
    (folder / "best").mkdir(parents=True)
    (folder / "config.json").write_text('{"arch": "fude-cnn"}')
    (folder / "best" / "config.json").write_text("{}")
    (folder / "notes.txt").write_text("mine")
    before = {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    p = fude("train", *TINY, "--out", folder, "--overwrite")
    assert p.returncode == 1 and "Traceback" not in p.stderr, p.stderr
    assert "holds files but no fude run" in p.stderr and "config.json" in p.stderr, p.stderr
    assert {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before


def test_overwrite_still_replaces_a_run_and_fills_an_empty_folder(tmp_path):
    run, empty = tmp_path / "run", tmp_path / "empty"
    empty.mkdir()
    assert fude("train", *TINY, "--out", run).returncode == 0
    first = (run / "run.json").read_text()
    p = fude("train", *TINY, "--seed", "1", "--out", run, "--overwrite")
    assert p.returncode == 0, p.stderr
    assert (run / "run.json").read_text() != first and (run / "config.json").exists()
    assert fude("train", *TINY, "--out", empty, "--overwrite").returncode == 0
