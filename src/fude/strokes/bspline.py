"""Interpolating B-spline curves in NumPy: the spline through every point of a stroke, as SciPy's
``splprep(..., s=0)`` fits it, without SciPy (which the core install, reading only, leaves out).

The knots are FITPACK's for interpolation (P. Dierckx, "Curve and Surface Fitting with Splines",
1993, routine ``fpcurf``): ``k + 1`` copies of each end parameter and, between them, the data
parameters ``u[2:-2]`` for a cubic (odd degree: ``u[(k+1)/2 : m-(k+1)/2]``; even degree: the
midpoints of neighbouring parameters). The coefficients solve the collocation system
``B c = points``, where ``B[j, i]`` is the ``i``-th B-spline at ``u[j]`` (Cox-de Boor recursion,
Piegl & Tiller, "The NURBS Book", 1997, algorithm A2.2); the matrix is banded and totally
positive, so elimination without pivoting is stable (de Boor, "A Practical Guide to Splines",
1978, ch. XIII). For a cubic, every inner data parameter is a knot, where only three B-splines are
not zero: the system is tridiagonal but for its second and last-but-one rows, which one step each
makes tridiagonal too, and the Thomas algorithm solves it in O(m) for all of a drawing's strokes at
once (:func:`solve_cubic_many`), so a stroke's cost grows with its points, not their cube.
"""

from __future__ import annotations

import numpy as np

DENSE_UP_TO = 64  # points: batched dense LAPACK solves up to this (cost ~ m^3), the O(m) cubic solve above


def knots(u: np.ndarray, k: int) -> np.ndarray:
    """FITPACK's knots for the degree-``k`` spline interpolating at the increasing parameters ``u``
    (``m`` values, ``m > k``): float64 ``(m + k + 1,)``."""
    m = len(u)
    if k % 2:
        inner = u[(k + 1) // 2: m - (k + 1) // 2]
    else:
        inner = (u[k // 2: m - k // 2 - 1] + u[k // 2 + 1: m - k // 2]) / 2
    return np.concatenate([np.full(k + 1, u[0]), inner, np.full(k + 1, u[-1])])


def span(t: np.ndarray, k: int, x: np.ndarray) -> np.ndarray:
    """For each ``x``, the index ``i`` of the knot span it lies in (``t[i] <= x < t[i + 1]``; the
    degree-``k`` splines ``i - k .. i`` are the ones not zero there); ``x`` at the last knot belongs
    to the last span."""
    return np.clip(np.searchsorted(t, x, side="right") - 1, k, len(t) - k - 2)


def basis_in_spans(t: np.ndarray, k: int, x: np.ndarray, i: np.ndarray) -> np.ndarray:
    """The values of the degree-``k`` splines ``i - k .. i`` at each ``x``, given its span ``i``
    (:func:`span`; ``t`` may hold the knots of many curves one after another, ``i`` indexing into
    it): float64 ``(n, k + 1)``, column ``r`` for spline ``i - k + r``."""
    x = np.asarray(x, dtype=np.float64)
    values = np.ones((len(x), 1))
    for j in range(1, k + 1):  # degree j from degree j - 1, all j splines at once
        left = x[:, None] - t[i[:, None] + 1 - np.arange(j, 0, -1)]  # x - t[i + 1 - j + r], r = 0 .. j - 1
        right = t[i[:, None] + 1 + np.arange(j)] - x[:, None]  # t[i + 1 + r] - x
        temp = values / (right + left)
        new = np.zeros((len(x), j + 1))
        new[:, :j] = right * temp
        new[:, 1:] += left * temp
        values = new
    return values


def basis(t: np.ndarray, k: int, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The degree-``k`` B-splines of knots ``t`` that are not zero at each ``x``: the span ``i``
    (int ``(n,)``; the splines ``i - k .. i`` are the non-zero ones) and their values, float64
    ``(n, k + 1)``, column ``r`` for spline ``i - k + r``. ``x`` at the last knot belongs to the
    last span."""
    i = span(t, k, np.asarray(x, dtype=np.float64))
    return i, basis_in_spans(t, k, x, i)


def solve_cubic_many(band: np.ndarray, rhs: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Solve the cubic collocation systems of several curves at once, in O(m) each.

    Args:
        band: float64 ``(C, M, 7)``: row ``j`` of curve ``c`` holds the entry of column ``j + o - 3``
            at ``[c, j, o]``; curve ``c``'s system is its first ``sizes[c]`` rows (5 or more, with
            FITPACK's cubic knots: see the module), the rows after it are left to this function.
        rhs: float64 ``(C, M, d)``.
        sizes: int ``(C,)``.

    Returns:
        float64 ``(C, M, d)``: each curve's coefficients in its first ``sizes[c]`` rows (non-finite
        where its system is singular).

    Raises:
        ValueError: a system that is not of that shape (an entry outside the tridiagonal band
            other than the two that the cubic's second and last-but-one rows have).
    """
    band, rhs = band.copy(), rhs.astype(np.float64, copy=True)
    n_curves, size, _ = band.shape
    c = np.arange(n_curves)
    rows = np.arange(size)[None, :]
    band[rows >= sizes[:, None]] = [0, 0, 0, 1, 0, 0, 0]  # padding: the identity
    rhs[rows >= sizes[:, None]] = 0
    # row 1 reaches column 3 (offset +2): take it out with row 2 (columns 1..3); the last-but-one row
    # reaches column m - 4 (offset -2): take it out with the row above it (columns m - 4 .. m - 2)
    for row, helper, far, near in ((np.ones_like(sizes), np.full_like(sizes, 2), 5, 4), (sizes - 2, sizes - 3, 1, 2)):
        factor = band[c, row, far] / band[c, helper, near]
        shift = 1 if far == 5 else -1  # the helper row's offsets, seen from ``row``
        helper_band = band[c, helper]
        moved = np.zeros_like(helper_band)
        if shift > 0:
            moved[:, 1:] = helper_band[:, :-1]
        else:
            moved[:, :-1] = helper_band[:, 1:]
        band[c, row] -= factor[:, None] * moved
        rhs[c, row] -= factor[:, None] * rhs[c, helper]
        band[c, row, far] = 0.0
    if np.any(band[:, :, [0, 1, 5, 6]]):
        raise ValueError("not a cubic collocation system of FITPACK's knots: entries outside the band")
    lower, diag, upper = band[:, :, 2], band[:, :, 3].copy(), band[:, :, 4]
    with np.errstate(divide="ignore", invalid="ignore"):
        for j in range(1, size):  # Thomas: forward elimination
            w = lower[:, j] / diag[:, j - 1]
            diag[:, j] -= w * upper[:, j - 1]
            rhs[:, j] -= w[:, None] * rhs[:, j - 1]
        out = np.empty_like(rhs)
        out[:, -1] = rhs[:, -1] / diag[:, -1, None]
        for j in range(size - 2, -1, -1):  # back substitution
            out[:, j] = (rhs[:, j] - upper[:, j, None] * out[:, j + 1]) / diag[:, j, None]
    return out


def _banded_rows(spans: np.ndarray, values: np.ndarray, k: int, size: int) -> np.ndarray:
    """One curve's collocation rows as :func:`solve_cubic_many`'s band ``(size, 7)``."""
    band = np.zeros((size, 7))
    rows = np.arange(len(spans))
    for r in range(k + 1):
        band[rows, spans - k + r - rows + 3] = values[:, r]
    return band


def interpolate(u: np.ndarray, points: np.ndarray, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """The degree-``k`` spline through ``points`` (float ``(m, d)``) at the strictly increasing
    parameters ``u`` (``(m,)``, ``m > k``): its knots ``(m + k + 1,)`` and coefficients ``(m, d)``,
    float64.

    Raises:
        ValueError: fewer than ``k + 1`` points, parameters that do not increase, or a system
            that cannot be solved (parameters too close together to place knots between).
    """
    u, points = np.asarray(u, dtype=np.float64), np.asarray(points, dtype=np.float64)
    m = len(u)
    if m <= k or points.shape[0] != m:
        raise ValueError(f"a degree-{k} spline needs more than {k} points and one parameter each; got {m}")
    if not np.all(np.diff(u) > 0):
        raise ValueError("the parameters must strictly increase")
    t = knots(u, k)
    span, values = basis(t, k, u)
    if m <= DENSE_UP_TO or k != 3:
        matrix = np.zeros((m, m))
        for r in range(k + 1):
            matrix[np.arange(m), span - k + r] = values[:, r]
        try:
            coefficients = np.linalg.solve(matrix, points)
        except np.linalg.LinAlgError as e:
            raise ValueError(f"the collocation system is singular ({e})") from None
    else:
        coefficients = solve_cubic_many(_banded_rows(span, values, k, m)[None], points[None], np.array([m]))[0]
    if not np.isfinite(coefficients).all():
        raise ValueError("the collocation system is singular: parameters too close together")
    return t, coefficients


def evaluate(t: np.ndarray, coefficients: np.ndarray, k: int, x: np.ndarray) -> np.ndarray:
    """The spline of knots ``t`` and ``coefficients`` (``(m, d)``) at ``x`` (``(n,)``): float64
    ``(n, d)`` (as SciPy's ``splev``, inside the knots' span)."""
    span, values = basis(t, k, x)
    rows = span[:, None] - k + np.arange(k + 1)
    return np.einsum("nr,nrd->nd", values, coefficients[rows])


def through_many(curves: list[tuple[np.ndarray, np.ndarray, np.ndarray]], k: int = 3) -> list[np.ndarray | None]:
    """For each ``(u, points, x)``: the degree-``k`` spline through ``points`` (``(m, d)``) at the
    strictly increasing parameters ``u`` (as :func:`interpolate`), evaluated at ``x`` (as
    :func:`evaluate`): float64 ``(len(x), d)``, or None where the system cannot be solved. The same
    numbers as one curve at a time, in a few array operations for all of them (a drawing's strokes
    at once): the B-splines of every parameter and evaluation point computed together, the
    collocation systems solved as one batch (each padded to the largest with the identity)."""
    if not curves:
        return []
    sizes = np.array([len(u) for u, _, _ in curves])
    if sizes.max() > DENSE_UP_TO and k == 3:  # the strokes of many points (5 or more) together, in O(m)
        big = [c for c in range(len(curves)) if sizes[c] > DENSE_UP_TO]
        small = [c for c in range(len(curves)) if sizes[c] <= DENSE_UP_TO]
        out: list = [None] * len(curves)
        for c, curve in zip(small, through_many([curves[c] for c in small], k)):
            out[c] = curve
        for c, curve in zip(big, _through_many_long([curves[c] for c in big], k)):
            out[c] = curve
        return out
    sizes, values, curve, local, row, is_site, xs = _collocation(curves, k)
    c_site, row = curve[is_site], row[is_site]
    size, d = int(sizes.max()), np.asarray(curves[0][1]).shape[1]
    matrices = np.zeros((len(curves), size, size))
    matrices[:, np.arange(size), np.arange(size)] = np.arange(size)[None, :] >= sizes[:, None]  # padding: identity
    columns = local[is_site][:, None] + np.arange(k + 1)
    matrices[c_site[:, None], row[:, None], columns] = values[is_site]
    rhs = np.zeros((len(curves), size, d))
    for c, (_, points, _) in enumerate(curves):
        rhs[c, : sizes[c]] = points
    with np.errstate(all="ignore"):
        try:
            coefficients = np.linalg.solve(matrices, rhs)
        except np.linalg.LinAlgError:  # one singular system: solve them one by one to find it
            coefficients = np.full_like(rhs, np.nan)
            for c in range(len(curves)):
                try:
                    coefficients[c] = np.linalg.solve(matrices[c], rhs[c])
                except np.linalg.LinAlgError:
                    pass
    return _evaluated(coefficients, values, curve, local, is_site, xs, np.isfinite(coefficients).all(axis=(1, 2)), k)


def _collocation(curves: list[tuple[np.ndarray, np.ndarray, np.ndarray]], k: int):
    """The B-splines of every curve's parameters (sites) and evaluation points, in one pass over all
    the curves' knots: ``sizes`` (sites per curve), ``values`` ``(n, k + 1)`` and, per point, its
    ``curve``, ``local`` (its first non-zero spline within its curve), ``row`` (its place in its
    curve) and ``is_site``; with the evaluation points ``xs`` per curve."""
    us = [np.asarray(u, dtype=np.float64) for u, _, _ in curves]
    xs = [np.asarray(x, dtype=np.float64) for _, _, x in curves]
    sizes = np.array([len(u) for u in us])
    all_knots = [knots(u, k) for u in us]
    starts = np.cumsum([0] + [len(t) for t in all_knots[:-1]])
    t = np.concatenate(all_knots)
    sites = [np.concatenate([u, x]) for u, x in zip(us, xs)]
    spans = np.concatenate([start + span(tc, k, site) for start, tc, site in zip(starts, all_knots, sites)])
    values = basis_in_spans(t, k, np.concatenate(sites), spans)
    curve = np.repeat(np.arange(len(curves)), [len(site) for site in sites])
    local = spans - starts[curve] - k  # the first non-zero spline of each point, within its curve
    first = np.concatenate([[0], np.cumsum([len(site) for site in sites])[:-1]])
    row = np.arange(len(curve)) - first[curve]
    return sizes, values, curve, local, row, row < sizes[curve], xs


def _evaluated(coefficients: np.ndarray, values: np.ndarray, curve: np.ndarray, local: np.ndarray,
               is_site: np.ndarray, xs: list[np.ndarray], ok, k: int) -> list[np.ndarray | None]:
    """Each curve's spline at its evaluation points, or None where ``ok`` says its system failed."""
    gathered = coefficients[curve[~is_site][:, None], local[~is_site][:, None] + np.arange(k + 1)]
    with np.errstate(all="ignore"):
        evaluated = np.einsum("nr,nrd->nd", values[~is_site], gathered)
    bounds = np.cumsum([0] + [len(x) for x in xs])
    return [evaluated[bounds[c]: bounds[c + 1]] if ok[c] else None for c in range(len(xs))]


def _through_many_long(curves: list[tuple[np.ndarray, np.ndarray, np.ndarray]], k: int = 3) -> list[np.ndarray | None]:
    """:func:`through_many` for cubics of more than 4 points each, solved by :func:`solve_cubic_many`."""
    sizes, values, curve, local, row, is_site, xs = _collocation(curves, k)
    size, d = int(sizes.max()), np.asarray(curves[0][1]).shape[1]
    band = np.zeros((len(curves), size, 7))
    c_site, r_site = curve[is_site], row[is_site]
    band[c_site[:, None], r_site[:, None], local[is_site][:, None] + np.arange(k + 1) - r_site[:, None] + 3] = values[is_site]
    rhs = np.zeros((len(curves), size, d))
    for c, (_, points, _) in enumerate(curves):
        rhs[c, : sizes[c]] = points
    coefficients = solve_cubic_many(band, rhs, sizes)
    ok = [np.isfinite(coefficients[c, : sizes[c]]).all() for c in range(len(curves))]
    return _evaluated(coefficients, values, curve, local, is_site, xs, ok, k)
