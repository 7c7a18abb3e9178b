"""Collected drawings: labelled strokes people confirmed on the drawing page, kept in SQLite.

One row per sample, written in its own transaction with the database in WAL mode and
``synchronous=FULL``, so a confirmed sample survives a crash of the server and several writers can
add samples at once (SQLite serialises them). :func:`export` turns the database into stroke JSON
files and a training set in the official npz layout.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

import numpy as np

from fude.classmap import ClassMap
from fude.datasets import IMAGE_SIZE, INK_BOX, save_pair
from fude.strokes import Character, check_strokes, rasterise, write_json

SCHEMA = """
CREATE TABLE IF NOT EXISTS samples (
    id INTEGER PRIMARY KEY,
    label TEXT NOT NULL,        -- the character the person confirmed
    strokes TEXT NOT NULL,      -- JSON [[[x, y], ...], ...], y down
    canvas TEXT,                -- JSON {"width", "height"} or NULL
    guess TEXT,                 -- the model's top-1 when the person confirmed, or NULL
    model TEXT,                 -- the model that guessed
    client_id TEXT,             -- an opaque id of the drawing page's browser, or NULL
    created REAL NOT NULL,      -- Unix time, seconds
    request_id TEXT             -- the client's id for this sample: a retry with it is stored once, or NULL
)
"""
# databases made before request_id existed get the column; the index makes a retry a no-op
MIGRATIONS = ("ALTER TABLE samples ADD COLUMN request_id TEXT",)
INDEX = "CREATE UNIQUE INDEX IF NOT EXISTS samples_request_id ON samples (request_id) WHERE request_id IS NOT NULL"


MAX_DB_BYTES = 2 * 2**30  # the sample database stops taking samples at this size (a sample is ~2-10 KB)


class StoreFull(Exception):
    """The sample database has reached :data:`MAX_DB_BYTES`."""


class SampleStore:
    """A SQLite file of samples (created on first use, with its folder)."""

    def __init__(self, path: str | os.PathLike, max_bytes: int = MAX_DB_BYTES) -> None:
        """Raises:
            ValueError: ``path`` is a folder, not a SQLite database, or cannot be made or written."""
        self.path = Path(path)
        self.max_bytes = max_bytes
        if self.path.is_dir():
            raise ValueError(f"{self.path} is a folder; the sample database is a file (e.g. {self.path / 'samples.sqlite'})")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = self._connect()
            try:
                with db:
                    db.execute("PRAGMA journal_mode=WAL")
                    db.execute(SCHEMA)
                    columns = {row[1] for row in db.execute("PRAGMA table_info(samples)")}
                    if "request_id" not in columns:
                        db.execute(MIGRATIONS[0])
                    db.execute(INDEX)
            finally:
                db.close()
        except (sqlite3.Error, OSError) as e:
            raise ValueError(f"{self.path}: not a sample database fude can open ({e})") from None

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30)
        db.execute("PRAGMA synchronous=FULL")
        return db

    def add(self, strokes, label: str, canvas: dict | None = None, guess: str | None = None,
            model: str | None = None, client_id: str | None = None, request_id: str | None = None
            ) -> tuple[int, bool]:
        """Store one confirmed sample in one transaction; returns its id and whether it is new (a
        ``request_id`` seen before stores nothing and returns the first sample's id).

        Raises:
            fude.strokes.StrokeError: bad strokes. ValueError: an empty label. StoreFull: the
                database has reached ``max_bytes``.
        """
        strokes = check_strokes(strokes)
        if not label:
            raise ValueError("a sample needs its label: the character that was drawn")
        size = sum(p.stat().st_size for p in (self.path, self.path.with_name(self.path.name + "-wal")) if p.exists())
        if size >= self.max_bytes:
            raise StoreFull(f"the sample database is full ({size / 2**30:.1f} GB of {self.max_bytes / 2**30:.1f})")
        row = (label, json.dumps([np.round(s, 3).tolist() for s in strokes]), json.dumps(canvas) if canvas else None,
               guess, model, client_id, time.time(), request_id)
        db = self._connect()
        try:
            with db:  # one transaction: committed whole, or not at all
                cur = db.execute("INSERT OR IGNORE INTO samples (label, strokes, canvas, guess, model, client_id, "
                                 "created, request_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)
                if cur.rowcount == 1:
                    return int(cur.lastrowid), True
                first = db.execute("SELECT id FROM samples WHERE request_id = ?", (request_id,)).fetchone()
            return int(first[0]), False
        finally:
            db.close()

    def stats(self) -> dict:
        """``{"total": n, "per_label": {label: count}}``, labels in code-point order."""
        db = self._connect()
        try:
            rows = db.execute("SELECT label, COUNT(*) FROM samples GROUP BY label ORDER BY label").fetchall()
        finally:
            db.close()
        return {"total": sum(n for _, n in rows), "per_label": dict(rows)}

    def rows(self) -> list[dict]:
        db = self._connect()
        db.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in db.execute("SELECT * FROM samples ORDER BY id")]
        finally:
            db.close()


def export(store: SampleStore, out: str | os.PathLike, box: int = INK_BOX) -> dict:
    """Write every sample as stroke JSON (``out/strokes/<id>.json``) and all of them as a training
    set in the official npz layout (``out/samples-imgs.npz``, ``out/samples-labels.npz``,
    ``out/samples_classmap.csv``; images rasterised as :meth:`~fude.recognizer.Recognizer.predict_strokes`
    does, classes in code-point order). A sample whose label is not one character is written as
    stroke JSON but left out of the training set (a class is one character). Returns counts:
    ``{"samples", "classes", "left_out"}``."""
    out = Path(out)
    (out / "strokes").mkdir(parents=True, exist_ok=True)
    rows = store.rows()
    # a class is one character: a label of several (or one that a spreadsheet would take for a
    # formula, which needs two) stays a stroke file but is not a class of the training set
    single = [r for r in rows if len(r["label"]) == 1]
    chars = sorted({r["label"] for r in single})
    index = {c: i for i, c in enumerate(chars)}
    images = np.zeros((len(single), IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    k = 0
    for r in rows:
        strokes = [np.asarray(s, dtype=np.float64) for s in json.loads(r["strokes"])]
        canvas = json.loads(r["canvas"]) if r["canvas"] else {}
        write_json(out / "strokes" / f"{r['id']}.json", Character(strokes, r["label"], canvas))
        if len(r["label"]) == 1:
            images[k] = rasterise(strokes, box=box)
            k += 1
    labels = np.array([index[r["label"]] for r in single], dtype=np.uint8 if len(chars) <= 256 else np.int64)
    save_pair(out, "samples", images, labels, ClassMap(tuple(chars)))
    return {"samples": len(rows), "classes": len(chars), "left_out": len(rows) - len(single)}
