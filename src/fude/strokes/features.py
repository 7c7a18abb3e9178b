"""Features of strokes: normalising, B-spline resampling, point-sequence features for the sequence
models, and anti-aliased rasterisation into the datasets' image layout."""

from __future__ import annotations

import numpy as np

from fude.datasets.base import IMAGE_SIZE, INK_BOX
from fude.strokes import bspline
from fude.strokes.formats import StrokeError


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


def _parameterised(points: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """The stroke's distinct points and their chord-length parameters in [0, 1] (strictly
    increasing), or (its point, None) for a tap."""
    pts = _dedupe(np.asarray(points, dtype=np.float64))
    chord = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
    keep = np.concatenate([[True], np.diff(chord) > 0])  # the spline parameter must strictly increase
    pts, chord = pts[keep], chord[keep]
    if len(pts) == 1 or not chord[-1] > 0:
        return pts[:1], None
    u = chord / chord[-1]
    keep = np.concatenate([[True], np.diff(u) > 0])  # steps lost in the division: a parameter repeated
    return pts[keep], u[keep]


def _polyline(pts: np.ndarray, u: np.ndarray, t: np.ndarray) -> np.ndarray:
    return np.column_stack([np.interp(t, u, pts[:, 0]), np.interp(t, u, pts[:, 1])])


def resample_stroke(points: np.ndarray, n: int = 32, smoothing: float = 0.0) -> np.ndarray:
    """``n`` points ``(n, 2)`` spaced evenly in the spline parameter along a B-spline through the
    stroke (the interpolating spline of SciPy's ``splprep(s=0)``/``splev``, computed in NumPy by
    :mod:`fude.strokes.bspline`; Dierckx, "Curve and Surface Fitting with Splines", 1993).

    The spline is parameterised by cumulative chord length, so the points are close to evenly
    spaced along the curve. Points that do not move the pen along the chord (repeats, and steps
    too small to change the cumulative length in floating point) are dropped first; a tap (one
    distinct point) gives ``n`` copies of it; two or three points use a spline of degree 1 or 2.
    Where no spline can be fitted through what is left, the points are spaced along the polyline
    instead. ``smoothing`` is splprep's ``s`` per point (0: through every point; above 0 a
    smoothing spline, which needs SciPy: the ``train`` extra).
    """
    if smoothing > 0:
        pts, u = _parameterised(points)
        if u is None:
            return np.repeat(pts, n, axis=0)
        from scipy.interpolate import splev, splprep

        t = np.linspace(0, 1, n)
        try:
            tck, _ = splprep(pts.T, u=u, k=min(3, len(pts) - 1), s=smoothing * len(pts))
            out = np.column_stack(splev(t, tck))
            if np.isfinite(out).all():
                return out
        except ValueError:  # knots that cannot be placed in so short a span
            pass
        return _polyline(pts, u, t)
    return resample_many([points], [n])[0]


def resample_many(strokes: list[np.ndarray], counts: list[int]) -> list[np.ndarray]:
    """:func:`resample_stroke` of each stroke to its count of points, the splines of all strokes
    fitted together (:func:`fude.strokes.bspline.through_many`: the same numbers, a few array
    operations per drawing instead of per stroke)."""
    out: list = [None] * len(strokes)
    splines = []  # (index, points, parameters, where to evaluate) of the strokes of 4 points and more
    for j, (points, n) in enumerate(zip(strokes, counts)):
        pts, u = _parameterised(points)
        if u is None:
            out[j] = np.repeat(pts, n, axis=0)
        elif len(pts) <= 3:  # degree len - 1 and no inner knot: the polynomial through the points (Lagrange)
            t = np.linspace(0, 1, n)
            weights = np.ones((n, len(pts)))
            for a in range(len(pts)):
                for b in range(len(pts)):
                    if a != b:
                        weights[:, a] *= (t - u[b]) / (u[a] - u[b])
            out[j] = weights @ pts
        else:
            splines.append((j, pts, u, np.linspace(0, 1, n)))
    fitted = bspline.through_many([(u, pts, t) for _, pts, u, t in splines], k=3)
    for (j, pts, u, t), curve in zip(splines, fitted):
        out[j] = curve if curve is not None and np.isfinite(curve).all() else _polyline(pts, u, t)
    return out


def resample(strokes: list[np.ndarray], n: int = 32, smoothing: float = 0.0) -> list[np.ndarray]:
    """:func:`resample_stroke` for every stroke."""
    if smoothing > 0:
        return [resample_stroke(s, n, smoothing) for s in strokes]
    return resample_many(strokes, [n] * len(strokes))


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

    Columns (``SEQUENCE_FEATURES`` of them): x, y (normalised to the unit box), dx, dy (step from the previous point; the first
    point of a stroke steps from the previous stroke's end, the pen travelling up), pen_up (1 on the
    last point of each stroke), sin and cos of the step's direction (0, 0 for no movement).

    Raises:
        StrokeError: more strokes than ``length``.
    """
    norm = normalise(strokes)
    counts = [n_per_stroke] * len(norm) if length is None else share_points(norm, length)
    pts = np.concatenate(resample_many(norm, counts))
    d = np.diff(pts, axis=0, prepend=pts[:1])
    pen_up = np.zeros(len(pts))
    pen_up[np.cumsum(counts) - 1] = 1
    step = np.linalg.norm(d, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        sin = np.where(step > 0, d[:, 1] / step, 0.0)
        cos = np.where(step > 0, d[:, 0] / step, 0.0)
    return np.column_stack([pts, d, pen_up, sin, cos]).astype(np.float32)


JOIN_TURN_DEGREES = 20.0
"""A stroke's vertex gets a round join where it turns by more than this: below it the notch a join
fills is under 2% of the stroke's half-width deep (half-width x (1 - cos(turn / 2)))."""


def rasterise(strokes: list[np.ndarray], size: int = IMAGE_SIZE, box: float = INK_BOX, width: float = 2.2,
              supersample: int = 4, round_joints: bool = True) -> np.ndarray:
    """Draw strokes as an anti-aliased image: uint8 ``(size, size)``, bright ink on black (the
    datasets' layout).

    The character is scaled, keeping its aspect ratio, so that its longer side spans ``box`` pixels
    (20 of 28 as MNIST's digits; 28 fills the frame as Kuzushiji-MNIST) and centred; strokes are
    ``width`` pixels wide with round caps, drawn at ``supersample`` times the size and reduced with a
    box filter (Pillow). Round joins are discs of the stroke's width at the vertices where it turns
    by more than :data:`JOIN_TURN_DEGREES` (Pillow's own ``joint="curve"`` draws one at every
    vertex: five times the cost on a densely sampled stroke, for the same picture);
    ``round_joints=False`` leaves them out.
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
        discs = [pts[0], pts[-1]] if len(pts) > 1 else [pts[0]]  # round caps (and dots)
        line = _dedupe(pts)
        if len(line) > 1:
            draw.line(line.ravel().tolist(), fill=255, width=int(round(w)))
            if round_joints and len(line) > 2:
                discs += list(line[1:-1][_turns(line) > np.radians(JOIN_TURN_DEGREES)])
        for x, y in discs:
            draw.ellipse([x - r, y - r, x + r, y + r], fill=255)
    return np.array(img.resize((size, size), Image.Resampling.BOX), dtype=np.uint8)  # a writable copy


def _turns(line: np.ndarray) -> np.ndarray:
    """The turn (radians, 0 to pi) at each inner vertex of a polyline with no repeated point."""
    step = np.diff(line, axis=0)
    u = step / np.hypot(step[:, 0], step[:, 1])[:, None]
    return np.arccos(np.clip((u[1:] * u[:-1]).sum(1), -1.0, 1.0))


def stroke_length(stroke: np.ndarray) -> float:
    """Length of the polyline through the points (same units as the points)."""
    return float(np.linalg.norm(np.diff(stroke, axis=0), axis=1).sum()) if len(stroke) > 1 else 0.0
