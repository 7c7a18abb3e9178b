"""Online handwriting: strokes, their file formats, resampling, sequence features and rasterisation.

A *stroke* is a float64 array ``(n, 2)`` of ``(x, y)`` points in drawing order, pen down from the
first point to the last; a *character* is a list of strokes in writing order. Coordinates are in
any unit with y pointing **down** (screen convention) unless a file says otherwise.

File formats:

- fude's JSON: ``{"strokes": [[[x, y], ...], ...], "label": "あ", "canvas": {"width": W,
  "height": H, "y_up": false}}`` (``label`` and ``canvas`` optional; ``y_up: true`` means y points
  up and is flipped on reading);
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

MAX_STROKES = 64  # more than any kana or common kanji needs (the most complex common kanji: ~30)
MAX_POINTS = 20_000  # over all strokes of one character
SEQUENCE_FEATURES = 7  # columns of sequence_features: x, y, dx, dy, pen_up, sin, cos
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
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise StrokeError(f"{path}: not a readable JSON file ({e})") from e
    return from_json_dict(doc, str(path))


def read_drawing(path: str | os.PathLike) -> Character:
    """A drawing file in any supported layout: fude's stroke JSON, or the drawing app's dict layout
    (``{"1": [[x, y], ...], ...}``, keys stroke numbers, coordinates in [-1, 1], y up) as JSON or
    as npz (read with ``allow_pickle=False``).

    Raises:
        StrokeError: unreadable, or bad strokes.
    """
    p = Path(path)
    if p.suffix == ".npz":
        try:
            with np.load(p, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except (OSError, ValueError) as e:
            raise StrokeError(f"{p}: not a readable npz of strokes ({e})") from e
        return from_app_dict(arrays)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise StrokeError(f"{p}: not a readable JSON file ({e})") from e
    if isinstance(doc, dict) and "strokes" not in doc and doc and all(str(k).isdigit() for k in doc):
        return from_app_dict(doc)
    return from_json_dict(doc, str(p))


def from_json_dict(doc, where: str = "strokes") -> Character:
    """A :class:`Character` from the parsed JSON object; ``y_up`` canvases are flipped to y down."""
    if not isinstance(doc, dict) or not isinstance(doc.get("strokes"), list):
        raise StrokeError(f'{where}: expected an object with a "strokes" list of [[x, y], ...] strokes')
    try:
        strokes = check_strokes(doc["strokes"])
    except StrokeError as e:
        raise StrokeError(f"{where}: {e}") from e
    canvas = doc.get("canvas") or {}
    if not isinstance(canvas, dict):
        raise StrokeError(f'{where}: "canvas" must be an object {{"width", "height", "y_up"}}')
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
    from fude.models import atomic_write

    doc = {"strokes": [np.round(s, 4).tolist() for s in char.strokes]}
    if char.label is not None:
        doc["label"] = char.label
    if char.canvas:
        doc["canvas"] = {**char.canvas, "y_up": False}
    atomic_write(Path(path), json.dumps(doc, ensure_ascii=False).encode())


def from_app_dict(d: dict) -> Character:
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
    strokes = check_strokes([d[k] for k in keys])
    return Character([np.column_stack([s[:, 0] + 1, 1 - s[:, 1]]) for s in strokes], None,
                     {"width": 2.0, "height": 2.0})


def bounds(strokes: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(min corner, max corner) of all points, each ``(2,)``."""
    pts = np.concatenate(strokes)
    return pts.min(0), pts.max(0)


def normalise(strokes: list[np.ndarray]) -> list[np.ndarray]:
    """Translate and scale into the unit box [0, 1]² keeping the aspect ratio, centred on the
    longer side's free axis. A single dot goes to the centre (0.5, 0.5)."""
    lo, hi = bounds(strokes)
    side = float((hi - lo).max())
    if side == 0:
        return [np.full_like(s, 0.5) for s in strokes]
    offset = (1 - (hi - lo) / side) / 2  # centre the shorter axis
    return [(s - lo) / side + offset for s in strokes]


def _dedupe(points: np.ndarray) -> np.ndarray:
    keep = np.ones(len(points), bool)
    keep[1:] = np.any(np.diff(points, axis=0) != 0, axis=1)
    return points[keep]


def resample_stroke(points: np.ndarray, n: int = 32, smoothing: float = 0.0) -> np.ndarray:
    """``n`` points ``(n, 2)`` spaced evenly in the spline parameter along a B-spline through the
    stroke (SciPy ``splprep``/``splev``; Dierckx, "Curve and Surface Fitting with Splines", 1993).

    The spline is parameterised by cumulative chord length, so the points are close to evenly
    spaced along the curve. Repeated consecutive points are dropped first; a tap (one distinct
    point) gives ``n`` copies of it; two or three distinct points use a spline of degree 1 or 2.
    ``smoothing`` is splprep's ``s`` per point (0: through every point).
    """
    from scipy.interpolate import splev, splprep

    pts = _dedupe(np.asarray(points, dtype=np.float64))
    if len(pts) == 1:
        return np.repeat(pts, n, axis=0)
    chord = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
    u = chord / chord[-1]
    k = min(3, len(pts) - 1)
    tck, _ = splprep(pts.T, u=u, k=k, s=smoothing * len(pts))
    return np.column_stack(splev(np.linspace(0, 1, n), tck))


def resample(strokes: list[np.ndarray], n: int = 32, smoothing: float = 0.0) -> list[np.ndarray]:
    """:func:`resample_stroke` for every stroke."""
    return [resample_stroke(s, n, smoothing) for s in strokes]


def share_points(strokes: list[np.ndarray], total: int) -> list[int]:
    """Split ``total`` points among the strokes in proportion to their lengths, at least one each
    (so a tap gets one), by largest remainder; sums to ``total``.

    Raises:
        StrokeError: more strokes than ``total``.
    """
    if len(strokes) > total:
        raise StrokeError(f"{len(strokes)} strokes do not fit in a sequence of {total} points")
    lengths = np.array([stroke_length(s) for s in strokes])
    if lengths.sum() == 0:  # all taps
        lengths[:] = 1.0
    share = lengths / lengths.sum() * (total - len(strokes))
    counts = 1 + np.floor(share).astype(int)
    counts[np.argsort(-(share - np.floor(share)), kind="stable")[: total - counts.sum()]] += 1
    return counts.tolist()


def sequence_features(strokes: list[np.ndarray], n_per_stroke: int = 16, length: int | None = None) -> np.ndarray:
    """Point-sequence features for sequence models: ``(T, 7)`` float32.

    Each stroke is resampled along its B-spline (:func:`resample_stroke`) to ``n_per_stroke``
    points, so T = strokes × n_per_stroke; or, with ``length``, the character gets exactly
    ``length`` points in all, shared among the strokes by their lengths (:func:`share_points`),
    so that every drawing gives the same T = ``length`` (what batched models need).

    Columns: x, y (normalised to the unit box), dx, dy (step from the previous point; the first
    point of a stroke steps from the previous stroke's end, the pen travelling up), pen_up (1 on the
    last point of each stroke), sin and cos of the step's direction (0, 0 for no movement).

    Raises:
        StrokeError: more strokes than ``length``.
    """
    norm = normalise(strokes)
    counts = [n_per_stroke] * len(norm) if length is None else share_points(norm, length)
    pts = np.concatenate([resample_stroke(s, c) for s, c in zip(norm, counts)])
    d = np.diff(pts, axis=0, prepend=pts[:1])
    pen_up = np.zeros(len(pts))
    pen_up[np.cumsum(counts) - 1] = 1
    step = np.linalg.norm(d, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        sin = np.where(step > 0, d[:, 1] / step, 0.0)
        cos = np.where(step > 0, d[:, 0] / step, 0.0)
    return np.column_stack([pts, d, pen_up, sin, cos]).astype(np.float32)


def rasterise(strokes: list[np.ndarray], size: int = 28, box: float = 20, width: float = 2.2,
              supersample: int = 4) -> np.ndarray:
    """Draw strokes as an anti-aliased image: uint8 ``(size, size)``, bright ink on black (the
    datasets' layout).

    The character is scaled, keeping its aspect ratio, so that its longer side spans ``box`` pixels
    (20 of 28 as MNIST's digits; 28 fills the frame as Kuzushiji-MNIST) and centred; strokes are
    ``width`` pixels wide with round caps and joins, drawn at ``supersample`` times the size and
    reduced with a box filter (Pillow).
    """
    from PIL import Image, ImageDraw

    big = size * supersample
    scale = box * supersample
    margin = (big - scale) / 2
    img = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(img)
    w = max(1.0, width * supersample)
    r = w / 2
    for s in normalise(strokes):
        pts = s * scale + margin - 0.5  # Pillow puts pixel centres on integer coordinates
        if len(_dedupe(pts)) > 1:
            draw.line([tuple(p) for p in pts], fill=255, width=int(round(w)), joint="curve")
        for x, y in (pts[0], pts[-1]) if len(pts) > 1 else (pts[0],):  # round caps (and dots)
            draw.ellipse([x - r, y - r, x + r, y + r], fill=255)
    return np.array(img.resize((size, size), Image.Resampling.BOX), dtype=np.uint8)  # a writable copy


def stroke_length(stroke: np.ndarray) -> float:
    """Length of the polyline through the points (same units as the points)."""
    return float(np.linalg.norm(np.diff(stroke, axis=0), axis=1).sum()) if len(stroke) > 1 else 0.0

