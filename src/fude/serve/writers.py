"""Each writer's memory on the server (:mod:`fude.recognizer.writer`), kept in the samples database.

A writer is the page's own random id (``writer`` in a read, ``client_id`` in a confirmed sample).
Every confirmed sample of a writer is learnt into that writer's memory for the model that guessed
it: its features are stored in the ``writer_memory`` table (float16, with the model's fingerprint,
so a memory made with other weights is never read), in the sample's own transaction's wake; a read
that names the writer is read with their memory. Each server process keeps the memories it used
lately and, on every read, loads the rows other processes added since (``--workers``). Writers
never see one another's memory: rows are looked up by the writer's id only. ``forget`` deletes a
writer's memory (the samples stay, unlabelled by writer: their ``client_id`` is cleared too).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import OrderedDict

import numpy as np

from fude.recognizer.writer import Writer, model_fingerprint

SCHEMA = """
CREATE TABLE IF NOT EXISTS writer_memory (
    id INTEGER PRIMARY KEY,
    writer TEXT NOT NULL,       -- the page's random id
    model TEXT NOT NULL,        -- the served model's name
    fingerprint TEXT NOT NULL,  -- its weights' (fude.recognizer.writer.model_fingerprint)
    label TEXT NOT NULL,        -- the character confirmed
    features BLOB NOT NULL,     -- float16 (D,), unit length
    created REAL NOT NULL
)
"""
INDEX = "CREATE INDEX IF NOT EXISTS writer_memory_writer ON writer_memory (writer, model, id)"
CACHED = 256  # writers' memories kept in each server process


class WriterMemories:
    """The writers' memories of a server's models, in the samples database at ``path``."""

    def __init__(self, path, models: dict) -> None:
        self.path, self.models = path, models
        self.fingerprints = {name: model_fingerprint(rec) for name, rec in models.items()}
        self.chars = {name: frozenset(rec.class_map.chars) for name, rec in models.items()}
        self._cache: OrderedDict[tuple[str, str], tuple[Writer, int]] = OrderedDict()  # -> memory, last row id read
        self._lock = threading.Lock()
        db = self._connect()
        try:
            with db:
                db.execute(SCHEMA)
                db.execute(INDEX)
        finally:
            db.close()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30)
        db.execute("PRAGMA synchronous=FULL")
        return db

    def memory(self, writer: str, model: str) -> Writer:
        """``writer``'s memory for ``model``, up to date with every row in the database."""
        with self._lock:
            hand, last = self._cache.pop((writer, model), (None, 0))
            if hand is None:
                hand = self.models[model].writer()
            key = (writer, model, self.fingerprints[model])
            db = self._connect()
            try:
                total = db.execute("SELECT COUNT(*) FROM writer_memory WHERE writer = ? AND model = ? AND fingerprint = ?",
                                   key).fetchone()[0]
                if total < len(hand):
                    hand, last = self.models[model].writer(), 0  # forgotten by another process: start again
                rows = db.execute("SELECT id, label, features FROM writer_memory WHERE writer = ? AND model = ? "
                                  "AND fingerprint = ? AND id > ? ORDER BY id", (*key, last)).fetchall()
            finally:
                db.close()
            rows = [r for r in rows if r[1] in hand.index]
            if rows:
                hand.add(np.stack([np.frombuffer(r[2], np.float16) for r in rows]).astype(np.float32),
                         np.array([hand.index[r[1]] for r in rows]))
                last = rows[-1][0]
            self._cache[(writer, model)] = (hand, last)
            while len(self._cache) > CACHED:
                self._cache.popitem(last=False)
            return hand

    def learn(self, writer: str, model: str, strokes, label: str) -> bool:
        """Learn a confirmed drawing into ``writer``'s memory for ``model`` (one transaction);
        False when ``label`` is not one of the model's characters (nothing is stored)."""
        rec = self.models[model]
        if label not in self.chars[model]:
            return False
        features = rec.read_many([strokes], features=True)[1][0].astype(np.float16)
        db = self._connect()
        try:
            with db:
                db.execute("INSERT INTO writer_memory (writer, model, fingerprint, label, features, created) "
                           "VALUES (?, ?, ?, ?, ?, ?)",
                           (writer, model, self.fingerprints[model], label, features.tobytes(), time.time()))
        finally:
            db.close()
        return True

    def count(self, writer: str) -> dict[str, int]:
        """How many drawings ``writer``'s memory holds, per model."""
        db = self._connect()
        try:
            return dict(db.execute("SELECT model, COUNT(*) FROM writer_memory WHERE writer = ? GROUP BY model "
                                   "ORDER BY model", (writer,)).fetchall())
        finally:
            db.close()

    def forget(self, writer: str) -> int:
        """Delete ``writer``'s memory (every model) and unlink their samples from them; returns how many
        drawings the memory held."""
        db = self._connect()
        try:
            with db:
                n = db.execute("DELETE FROM writer_memory WHERE writer = ?", (writer,)).rowcount
                db.execute("UPDATE samples SET client_id = NULL WHERE client_id = ?", (writer,))
        finally:
            db.close()
        with self._lock:
            for key in [k for k in self._cache if k[0] == writer]:
                del self._cache[key]
        return n
