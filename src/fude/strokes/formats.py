"""Stroke data: the :class:`Character` type, its checks and limits, and its file formats.

A *stroke* is a float64 array ``(n, 2)`` of ``(x, y)`` points in drawing order, pen down from the
first point to the last; a *character* is a list of strokes in writing order. Coordinates are in
any unit with y pointing **down** (screen convention) unless a file says otherwise.

File formats:

- fude's JSON: ``{"strokes": [[[x, y], ...], ...], "label": "あ", "canvas": {"width": W,
  "height": H, "y_up": false}}`` (``label`` and ``canvas`` optional; ``y_up: true`` means y points
  up and is flipped on reading);
- Tomoe's dictionaries (``.tdic``, https://github.com/hiroyuki-komatsu/tomoe_data): many
  characters, each its stroke points on a 320 x 320 canvas, y down (:func:`read_tdic`);
- the drawing app's original layout: a dict ``{stroke_number: array (n, 2)}`` with coordinates in
  [-1, 1] and y pointing up (:func:`from_app_dict`). Pickles are never read from files: convert
  such data in the program that made it and pass the dict.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fude.files import atomic_write

MAX_STROKES = 64  # more than any kana or common kanji needs (the most complex common kanji: ~30)
MAX_POINTS = 20_000  # over all strokes of one character
MAX_LINE_STROKES = 256  # a word written in a row (fude.recognizer.line): eight characters of 30 strokes and more
MAX_LINE_POINTS = 100_000
MAX_FILE_BYTES = 16 * 2**20  # the largest stroke file read (100,000 points of JSON are ~3 MB)
MAX_COORD = 1e6  # largest coordinate magnitude accepted (pixels of any real canvas; beyond it spans overflow)


class StrokeError(ValueError):
    """Stroke data that is empty, malformed, not finite, or too large."""


@dataclass
class Character:
    """One handwritten character as strokes.

    Attributes:
        strokes: float64 arrays ``(n, 2)``, y down.
        label: the character, if known.
        canvas: ``{"width", "height"}`` of the drawing surface in the strokes' units, if known.
    """

    strokes: list[np.ndarray]
    label: str | None = None
    canvas: dict = field(default_factory=dict)


def check_strokes(strokes, max_strokes: int = MAX_STROKES, max_points: int = MAX_POINTS) -> list[np.ndarray]:
    """Validate and convert strokes to a list of float64 ``(n, 2)`` arrays.

    Raises:
        StrokeError: no strokes, a stroke with no points or of the wrong shape, a NaN or infinite
            coordinate or one beyond ±``MAX_COORD``, more than ``max_strokes`` strokes or
            ``max_points`` points in all.
    """
    if strokes is None or len(strokes) == 0:
        raise StrokeError("no strokes: a character needs at least one stroke of at least one point")
    if len(strokes) > max_strokes:
        raise StrokeError(f"{len(strokes)} strokes; at most {max_strokes} are accepted for one character")
    out, total = [], 0
    for i, s in enumerate(strokes):
        if isinstance(s, (list, tuple)):  # parsed JSON: a coordinate is a number, never "12" or true
            kinds = {type(v) for p in s if isinstance(p, (list, tuple)) for v in p}
            bad = [k for k in kinds if issubclass(k, (bool, np.bool_)) or not issubclass(k, (int, float, np.number))]
            if bad:
                raise StrokeError(f"stroke {i}: a coordinate is a {bad[0].__name__}; expected [x, y] number pairs")
        try:
            a = np.asarray(s, dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise StrokeError(f"stroke {i}: not a list of [x, y] number pairs ({e})") from e
        if a.ndim != 2 or a.shape[1] != 2:
            raise StrokeError(f"stroke {i}: expected points of shape (n, 2), got shape {a.shape}")
        if len(a) == 0:
            raise StrokeError(f"stroke {i} has no points")
        if not np.isfinite(a).all():
            raise StrokeError(f"stroke {i}: NaN or infinite coordinate at point {int(np.argmin(np.isfinite(a).all(1)))}")
        if np.abs(a).max() > MAX_COORD:
            raise StrokeError(f"stroke {i}: coordinate {a.flat[np.abs(a).argmax()]} at point "
                              f"{int(np.abs(a).max(1).argmax())}; coordinates must lie within ±{MAX_COORD:g}")
        total += len(a)
        if total > max_points:
            raise StrokeError(f"more than {max_points:,} points in all; resample the strokes before sending them")
        out.append(a)
    return out


def read_json(path: str | os.PathLike) -> Character:
    """Read fude's stroke JSON (see the module doc).

    Raises:
        StrokeError: not JSON, no ``strokes`` list, or bad strokes (see :func:`check_strokes`).
    """
    path = Path(path)
    return from_json_dict(_json_file(path), str(path))


def _json_file(path: Path):
    """The parsed JSON of ``path``.

    Raises:
        StrokeError: unreadable, not UTF-8, not JSON, or nested too deep for the parser.
    """
    from fude.files import read_input

    try:
        return json.loads(read_input(path, MAX_FILE_BYTES, "stroke file").decode("utf-8"))
    except RecursionError:
        raise StrokeError(f"{path}: JSON nested too deep; expected {{\"strokes\": [[[x, y], ...], ...]}}") from None
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise StrokeError(f"{path}: not a readable JSON file ({e})") from e


TDIC_CANVAS = 320  # Tomoe's coordinates run over 0..320 on both axes


def load_tomoe(data_dir: str | os.PathLike | None = None, download: bool = True) -> list[Character]:
    """Tomoe's templates (the registered ``tomoe`` collection: ``all.tdic``, 3,038 characters of one
    writer, https://github.com/hiroyuki-komatsu/tomoe_data), from the data directory, downloaded
    and md5-checked when missing (:func:`fude.datasets.stroke_source`); see :func:`read_tdic`.

    Raises:
        DatasetError: not there and not downloadable, or a file with another md5.
    """
    from fude.datasets import stroke_source

    return read_tdic(stroke_source("tomoe", data_dir, download))


def read_tdic(path: str | os.PathLike) -> list[Character]:
    """Every character of a Tomoe dictionary file: blocks of a character line, ``:<strokes>``, then
    one line per stroke ``<n> (x1 y1) (x2 y2) ...`` (its turning points), blocks separated by blank
    lines. Each :class:`Character` has its label and a 320 x 320 canvas.

    Raises:
        StrokeError: unreadable, or a block that is not in this layout (the message gives its line).
    """
    import re

    from fude.files import read_input

    path = Path(path)
    try:
        lines = read_input(path, 8 * MAX_FILE_BYTES, "Tomoe dictionary").decode("utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise StrokeError(f"{path}: not a readable Tomoe dictionary ({e})") from e
    out, i = [], 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        label = lines[i].strip()
        try:
            if i + 1 >= len(lines) or not lines[i + 1].startswith(":"):
                raise ValueError("expected ':<number of strokes>' after the character")
            n = int(lines[i + 1][1:])
            strokes = []
            for line in lines[i + 2: i + 2 + n]:
                count, _, rest = line.partition(" ")
                pts = [(float(x), float(y)) for x, y in re.findall(r"\(\s*(-?[\d.]+)\s+(-?[\d.]+)\s*\)", rest)]
                if len(pts) != int(count):
                    raise ValueError(f"a stroke line says {count} points and has {len(pts)}")
                strokes.append(np.array(pts, dtype=np.float64))
            out.append(Character(check_strokes(strokes), label, {"width": TDIC_CANVAS, "height": TDIC_CANVAS}))
        except (ValueError, StrokeError) as e:
            raise StrokeError(f"{path}:{i + 1}: not a Tomoe character block ({e})") from e
        i += 2 + n
    return out


def read_drawing(path: str | os.PathLike, max_strokes: int = MAX_STROKES, max_points: int = MAX_POINTS) -> Character:
    """A drawing file in any supported layout: fude's stroke JSON, or the drawing app's dict layout
    (``{"1": [[x, y], ...], ...}``, keys stroke numbers, coordinates in [-1, 1], y up) as JSON or
    as npz (read with ``allow_pickle=False``); at most ``max_strokes`` strokes and ``max_points``
    points (a line of several characters: :data:`MAX_LINE_STROKES`, :data:`MAX_LINE_POINTS`).

    Raises:
        StrokeError: unreadable, or bad strokes.
    """
    p = Path(path)
    if p.suffix == ".npz":
        import io
        import zipfile

        from fude.files import read_input

        try:
            with np.load(io.BytesIO(read_input(p, MAX_FILE_BYTES, "stroke file (npz)")), allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
            raise StrokeError(f"{p}: not a readable npz of strokes ({e})") from e
        return from_app_dict(arrays, max_strokes, max_points)
    doc = _json_file(p)
    if isinstance(doc, dict) and "strokes" not in doc and doc and all(str(k).isdigit() for k in doc):
        return from_app_dict(doc, max_strokes, max_points)
    return from_json_dict(doc, str(p), max_strokes, max_points)


def from_json_dict(doc, where: str = "strokes", max_strokes: int = MAX_STROKES,
                   max_points: int = MAX_POINTS) -> Character:
    """A :class:`Character` from the parsed JSON object; ``y_up`` canvases are flipped to y down."""
    if not isinstance(doc, dict) or not isinstance(doc.get("strokes"), list):
        raise StrokeError(f'{where}: expected an object with a "strokes" list of [[x, y], ...] strokes')
    try:
        strokes = check_strokes(doc["strokes"], max_strokes, max_points)
    except StrokeError as e:
        raise StrokeError(f"{where}: {e}") from e
    canvas = doc.get("canvas") or {}
    if not isinstance(canvas, dict):
        raise StrokeError(f'{where}: "canvas" must be an object {{"width", "height", "y_up"}}')
    for key in ("width", "height"):
        value = canvas.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not 0 < value <= MAX_COORD):
            raise StrokeError(f'{where}: canvas "{key}" must be a number in (0, {MAX_COORD:g}], not {value!r:.40}')
    if canvas.get("y_up"):
        height = float(canvas.get("height") or 0)
        strokes = [np.column_stack([s[:, 0], height - s[:, 1]]) for s in strokes]
    label = doc.get("label")
    if label is not None and not isinstance(label, str):
        raise StrokeError(f'{where}: "label" must be a string')
    size = {k: float(canvas[k]) for k in ("width", "height") if isinstance(canvas.get(k), (int, float))}
    return Character(strokes, label, size)


def write_json(path: str | os.PathLike, char: Character) -> None:
    """Write ``char`` as fude's stroke JSON (y down), atomically."""
    doc = {"strokes": [np.round(s, 4).tolist() for s in char.strokes]}
    if char.label is not None:
        doc["label"] = char.label
    if char.canvas:
        doc["canvas"] = {**char.canvas, "y_up": False}
    atomic_write(Path(path), json.dumps(doc, ensure_ascii=False).encode())


def from_app_dict(d: dict, max_strokes: int = MAX_STROKES, max_points: int = MAX_POINTS) -> Character:
    """Strokes from the drawing app's layout ``{stroke_number: array (n, 2)}``, coordinates in
    [-1, 1] with y up. Strokes are taken in stroke-number order; y is flipped to point down and the
    canvas is the 2x2 square.

    Raises:
        StrokeError: not a dict, keys that are not stroke numbers, or bad strokes.
    """
    if not isinstance(d, dict) or not d:
        raise StrokeError("expected a non-empty dict {stroke_number: array of shape (n, 2)}")
    try:
        keys = sorted(d, key=lambda k: int(k))
    except (TypeError, ValueError) as e:
        raise StrokeError(f"stroke keys must be stroke numbers, got {list(d)[:5]}") from e
    strokes = check_strokes([d[k] for k in keys], max_strokes, max_points)
    return Character([np.column_stack([s[:, 0] + 1, 1 - s[:, 1]]) for s in strokes], None,
                     {"width": 2.0, "height": 2.0})
