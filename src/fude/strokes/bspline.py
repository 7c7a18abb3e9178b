"""Interpolating B-spline curves in NumPy: the spline through every point of a stroke, as SciPy's
``splprep(..., s=0)`` fits it, without SciPy (which the core install, reading only, leaves out).

The knots are FITPACK's for interpolation (P. Dierckx, "Curve and Surface Fitting with Splines",
1993, routine ``fpcurf``): ``k + 1`` copies of each end parameter and, between them, the data
parameters ``u[2:-2]`` for a cubic (odd degree: ``u[(k+1)/2 : m-(k+1)/2]``; even degree: the
midpoints of neighbouring parameters). The coefficients solve the collocation system
``B c = points``, where ``B[j, i]`` is the ``i``-th B-spline at ``u[j]`` (Cox-de Boor recursion,
Piegl & Tiller, "The NURBS Book", 1997, algorithm A2.2); the matrix is banded and totally
positive, so elimination without pivoting is stable (de Boor, "A Practical Guide to Splines",
1978, ch. XIII).
"""

from __future__ import annotations

import numpy as np

DENSE_UP_TO = 400  # points: a dense LAPACK solve below this, banded elimination above (memory ~ m^2)


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


def _solve_banded(span: np.ndarray, values: np.ndarray, rhs: np.ndarray, k: int) -> np.ndarray:
    """Solve the collocation system row by row, without pivoting, keeping only the band."""
    m = len(rhs)
    width = 2 * k + 1
    band = np.zeros((m, width))  # row j holds columns j - k .. j + k
    for r in range(k + 1):
        band[np.arange(m), span - k + r - np.arange(m) + k] = values[:, r]
    rhs = rhs.astype(np.float64).copy()
    for j in range(m):  # forward elimination within the band
        pivot = band[j, k]
        for below in range(1, k + 1):
            if j + below >= m:
                break
            factor = band[j + below, k - below] / pivot
            if factor:
                band[j + below, k - below: width - below] -= factor * band[j, k: width]
                rhs[j + below] -= factor * rhs[j]
    out = np.zeros_like(rhs)
    for j in range(m - 1, -1, -1):  # back substitution
        ahead = min(k, m - 1 - j)
        out[j] = (rhs[j] - band[j, k + 1: k + 1 + ahead] @ out[j + 1: j + 1 + ahead]) / band[j, k]
    return out


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
    if m <= DENSE_UP_TO:
        matrix = np.zeros((m, m))
        for r in range(k + 1):
            matrix[np.arange(m), span - k + r] = values[:, r]
        try:
            coefficients = np.linalg.solve(matrix, points)
        except np.linalg.LinAlgError as e:
            raise ValueError(f"the collocation system is singular ({e})") from None
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            coefficients = _solve_banded(span, values, points, k)
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
    us = [np.asarray(u, dtype=np.float64) for u, _, _ in curves]
    xs = [np.asarray(x, dtype=np.float64) for _, _, x in curves]
    sizes = np.array([len(u) for u in us])
    if sizes.max() > DENSE_UP_TO:  # a stroke of many points: one at a time, banded
        out = []
        for u, (_, points, x) in zip(us, curves):
            try:
                t, coefficients = interpolate(u, points, k)
                out.append(evaluate(t, coefficients, k, np.asarray(x, dtype=np.float64)))
            except ValueError:
                out.append(None)
        return out
    all_knots = [knots(u, k) for u in us]
    starts = np.cumsum([0] + [len(t) for t in all_knots[:-1]])
    t = np.concatenate(all_knots)
    sites = [np.concatenate([u, x]) for u, x in zip(us, xs)]
    spans = np.concatenate([start + span(tc, k, site) for start, tc, site in zip(starts, all_knots, sites)])
    values = basis_in_spans(t, k, np.concatenate(sites), spans)
    curve = np.repeat(np.arange(len(curves)), [len(site) for site in sites])
    local = spans - starts[curve] - k  # the first non-zero spline of each point, within its curve
    first = np.concatenate([[0], np.cumsum([len(site) for site in sites])[:-1]])
    is_site = np.arange(len(curve)) - first[curve] < sizes[curve]
    c_site, row = curve[is_site], (np.arange(len(curve)) - first[curve])[is_site]
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
        c_eval = curve[~is_site]
        gathered = coefficients[c_eval[:, None], local[~is_site][:, None] + np.arange(k + 1)]
        evaluated = np.einsum("nr,nrd->nd", values[~is_site], gathered)
    bounds = np.cumsum([0] + [len(x) for x in xs])
    ok = np.isfinite(coefficients).all(axis=(1, 2))
    return [evaluated[bounds[c]: bounds[c + 1]] if ok[c] else None for c in range(len(curves))]
