"""A writer's memory: a recognizer that reads one person's hand better with every character they
confirm (``rec.writer()``).

Each confirmed drawing is kept as its features — what the networks see before their heads, the
picture network's and its companion's side by side, unit length (:meth:`BaseRecognizer.read_many`)
— with the character it was confirmed as. A new drawing is read by the recognizer as always, and
its nearest memories (cosine similarity of features) vote for their characters, each vote
``exp((similarity - 1) / temperature)``: a drawing like one learnt gets a strong vote, a drawing
unlike anything learnt none. The votes are added to the recognizer's probabilities (times
``weight``) before the reading's priors, small-kana split and filter, so a drawing learnt once helps
at once, and one wrong confirmation is outvoted by the network and by the right ones. This is
k-nearest-neighbour adaptation in a network's feature space, as in writer adaptation of
handwriting recognisers (e.g. Connell & Jain, "Writer adaptation for online handwriting
recognition", IEEE PAMI 2002) and few-shot "prototype" classifiers. NumPy only: it works on the
core install, with either backend.

A memory is saved as one ``.npz`` file (no pickle): the features (float16), the confirmed code
points and a JSON header naming the model it was made with (its weights' checksums) and a sha256 of
the arrays; a file made with another model, or damaged, is refused with one line.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fude.recognizer.reading import StrokeReader

FORMAT = "fude-writer"
VERSION = 1
MAX_MEMORIES = 50_000  # the oldest are forgotten past this (a person confirms ~50 characters an hour)
RECENT = 64  # drawings read lately whose features are kept, so that learning one just read costs no network run


class WriterError(ValueError):
    """A writer's memory file that cannot be used: damaged, not one, or made with another model."""


@dataclass(frozen=True)
class WriterSettings:
    """How memories vote (see the module); chosen on replayed writers (``bench/accuracy/writer_replay.py
    --grid``: the synthetic casual writers of its tuning seeds, with no drop allowed on Tomoe's tuning
    half).

    Attributes:
        neighbours: the most similar memories that vote.
        temperature: how fast a vote fades as the similarity drops below 1.
        weight: the votes' weight against the recognizer's probabilities (which sum to 1).
    """

    neighbours: int = 2
    temperature: float = 0.1
    weight: float = 3.0


def model_fingerprint(rec) -> str:
    """The first 16 hex digits of the SHA-256 of a recognizer's and its companion's recorded weight
    checksums (their ``config.json``'s ``weights_sha256``): which networks made a memory's features."""
    parts = [rec.config.get("weights_sha256")]
    if rec.companion is not None:
        parts.append(rec.companion.config.get("weights_sha256"))
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


class Writer:
    """One writer's memory over a recognizer: the same reading doors as the recognizer
    (:meth:`predict_strokes`, :meth:`predict_strokes_many`, :meth:`predict_line`, same arguments and
    answers), reading with what it learnt (:meth:`learn`).

    Args:
        rec: the recognizer (:func:`fude.load_model`), whose networks give features (every shipped
            model does, on either backend).
        path: a memory file to start from (:meth:`save`), or None for an empty memory.
        settings: how memories vote.

    Raises:
        WriterError: ``path`` is damaged, not a memory file, or made with another model.
    """

    def __init__(self, rec, path: str | os.PathLike | None = None, settings: WriterSettings = WriterSettings()) -> None:
        self.rec = rec
        self.settings = settings
        self.model = model_fingerprint(rec)
        self._feats, self._labels, self._n = np.zeros((0, 0), np.float32), np.zeros(0, np.int64), 0
        self._reader = StrokeReader(self, rec.settings)
        self._recent: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self.index = {c: i for i, c in enumerate(rec.class_map.chars)}  # character -> class index
        if path is not None:
            self._load(Path(path))

    @property
    def class_map(self):
        return self.rec.class_map

    def __len__(self) -> int:
        return len(self.labels)

    # ------------------------------------------------------------------ scoring (the reader's scorer)

    def strokes_proba_many(self, drawings: list[list[np.ndarray]]) -> np.ndarray:
        """The recognizer's probabilities float32 ``(N, K)`` for checked drawings, with the
        memories' votes added (see the module)."""
        probs, feats = self.rec.read_many(drawings, features=True)
        for strokes, f in zip(drawings, feats):
            self._remember(strokes, f)
        return self.blend(probs, feats)

    def strokes_proba(self, strokes: list[np.ndarray]) -> np.ndarray:
        return self.strokes_proba_many([strokes])[0]

    def blend(self, probs: np.ndarray, feats: np.ndarray) -> np.ndarray:
        """``probs`` float32 ``(N, K)`` with the votes of the memories nearest each of ``feats``
        (``(N, D)``, unit rows), renormalised."""
        if not len(self.labels):
            return probs
        s = self.settings
        sims = feats @ self.features.T  # (N, n)
        m = min(s.neighbours, sims.shape[1])
        near = np.argpartition(-sims, m - 1, axis=1)[:, :m] if m < sims.shape[1] else \
            np.broadcast_to(np.arange(sims.shape[1]), sims.shape)
        rows = np.arange(len(sims))[:, None]
        votes = np.zeros_like(probs)
        np.add.at(votes, (np.broadcast_to(rows, near.shape), self.labels[near]),
                  np.exp((sims[rows, near] - 1.0) / s.temperature))
        out = probs + s.weight * votes
        return (out / out.sum(axis=1, keepdims=True)).astype(np.float32)

    # ------------------------------------------------------------------ learning

    def learn(self, strokes, label: str) -> None:
        """Remember ``strokes`` (a drawing, as :meth:`predict_strokes` takes it) as the writer's
        ``label``. A drawing read in the last few calls costs no network run (its features are kept).

        Raises:
            fude.strokes.StrokeError: empty, malformed, non-finite or too many strokes.
            ValueError: ``label`` is not one of the recognizer's characters.
        """
        from fude.strokes import check_strokes

        if label not in self.index:
            raise ValueError(f"{label!r} is not one of this model's {len(self.index):,} characters")
        strokes = check_strokes(strokes)
        f = self._recent.get(_digest(strokes))
        if f is None:
            f = self.rec.read_many([strokes], features=True)[1][0]
        self.add(f[None], np.array([self.index[label]]))

    def forget(self) -> None:
        """Forget everything learnt."""
        self._feats, self._labels, self._n = np.zeros((0, 0), np.float32), np.zeros(0, np.int64), 0

    def add(self, feats: np.ndarray, labels: np.ndarray) -> None:
        """Append memories whose features are known already (a server's database, a replay):
        ``feats`` float ``(n, D)`` unit rows of :meth:`BaseRecognizer.read_many` features, ``labels``
        int ``(n,)`` class indices. The arrays grow by doubling (learning stays O(1) a drawing), and
        past :data:`MAX_MEMORIES` the oldest go."""
        feats, labels = np.asarray(feats, np.float32), np.asarray(labels, np.int64)
        n, extra = len(self.labels), len(labels)
        if n + extra > MAX_MEMORIES:
            keep = max(0, MAX_MEMORIES - extra)
            self._feats = np.concatenate([self.features[n - keep:], feats])[-MAX_MEMORIES:]
            self._labels = np.concatenate([self.labels[n - keep:], labels])[-MAX_MEMORIES:]
            self._n = len(self._labels)
            return
        if self._feats.shape[1] != feats.shape[1] or n + extra > len(self._labels):
            size = max(64, 2 * (n + extra))
            grown, grown_labels = np.zeros((size, feats.shape[1]), np.float32), np.zeros(size, np.int64)
            if n:
                grown[:n], grown_labels[:n] = self.features, self.labels
            self._feats, self._labels = grown, grown_labels
        self._feats[n: n + extra], self._labels[n: n + extra] = feats, labels
        self._n = n + extra

    @property
    def features(self) -> np.ndarray:
        """float32 ``(n, D)``: the learnt drawings' features, unit rows, oldest first."""
        return self._feats[: self._n]

    @property
    def labels(self) -> np.ndarray:
        """int64 ``(n,)``: the class index each learnt drawing was confirmed as."""
        return self._labels[: self._n]

    def _remember(self, strokes: list[np.ndarray], f: np.ndarray) -> None:
        self._recent[_digest(strokes)] = f
        while len(self._recent) > RECENT:
            self._recent.popitem(last=False)

    # ------------------------------------------------------------------ reading doors

    def predict_strokes(self, strokes, k: int = 5, canvas: dict | None = None, script: str = "all",
                        chars: str | None = None) -> list[dict]:
        """As :meth:`fude.recognizer.BaseRecognizer.predict_strokes`, with the memory."""
        return self._reader.predict_strokes(strokes, k, canvas, script, chars)

    def predict_strokes_many(self, requests: list[dict]) -> list[list[dict] | Exception]:
        """As :meth:`fude.recognizer.BaseRecognizer.predict_strokes_many`, with the memory."""
        return self._reader.predict_many(requests)

    def predict_line(self, strokes, k: int = 5, script: str = "all", chars: str | None = None,
                     abandoned=None) -> dict:
        """As :meth:`fude.recognizer.BaseRecognizer.predict_line`, with the memory."""
        from fude.recognizer.line import read_line

        return read_line(self, strokes, k, script, chars, abandoned=abandoned)

    # ------------------------------------------------------------------ on disk

    def save(self, path: str | os.PathLike) -> Path:
        """Write the memory to ``path`` (one ``.npz`` file, atomically; see the module)."""
        from fude.files import atomic_write

        feats = self.features.astype(np.float16)
        points = np.array([ord(self.class_map.chars[i]) for i in self.labels], np.int32)
        header = {"format": FORMAT, "version": VERSION, "model": self.model, "count": int(len(points)),
                  "features": int(feats.shape[1]) if len(points) else 0, "sha256": _arrays_sha256(feats, points)}
        buf = io.BytesIO()
        np.savez(buf, header=np.frombuffer(json.dumps(header).encode(), np.uint8), features=feats, codepoints=points)
        atomic_write(Path(path), buf.getvalue())
        return Path(path)

    def _load(self, path: Path) -> None:
        try:
            with np.load(path, allow_pickle=False) as z:
                header = json.loads(z["header"].tobytes().decode())
                feats, points = z["features"], z["codepoints"]
        except FileNotFoundError:
            raise WriterError(f"{path}: no such file") from None
        except (OSError, ValueError, KeyError, UnicodeDecodeError, EOFError, zipfile.BadZipFile) as e:
            raise WriterError(f"{path}: not a writer's memory file, or damaged ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise WriterError(f"{path}: not a writer's memory file")
        if header.get("version") != VERSION:
            raise WriterError(f"{path}: a memory of format version {header.get('version')!r}; this fude reads {VERSION}")
        if header.get("model") != self.model:
            raise WriterError(f"{path}: made with another model ({header.get('model')}), not this one ({self.model}); "
                              f"a memory is read only with the model that made it")
        if _arrays_sha256(feats, points) != header.get("sha256") or feats.dtype != np.float16 \
                or points.dtype != np.int32 or feats.ndim != 2 or len(feats) != len(points):
            raise WriterError(f"{path}: damaged (its arrays do not match the checksum written with them)")
        chars = [chr(int(p)) if 0 <= p <= 0x10FFFF else "" for p in points]
        if any(c not in self.index for c in chars):
            raise WriterError(f"{path}: holds characters this model does not read")
        if len(points):
            self.add(feats.astype(np.float32), np.array([self.index[c] for c in chars], np.int64))


def _digest(strokes: list[np.ndarray]) -> bytes:
    h = hashlib.blake2b(digest_size=16)
    for s in strokes:
        h.update(np.ascontiguousarray(s, np.float64).tobytes())
        h.update(b"|")
    return h.digest()


def _arrays_sha256(feats: np.ndarray, points: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(feats).tobytes() + np.ascontiguousarray(points).tobytes()).hexdigest()
