"""Variations of a character's strokes, each with its own random numbers: what makes one drawing of a
character differ from another (:func:`fude.strokes.synth.vary` applies them in the order a hand would
make them). The schoolbook variations (proportions, over- and undershoot, bending, tremor, hooks,
joins, loops) and the casual ones: strokes merged and split at corners, dots simplified,
components squeezed, corners rounded (running script), sparse points (quick writing) and a
finger's jitter. Strokes are float ``(n, 2)`` arrays in the unit box of the drawing (y down).
"""

from __future__ import annotations

import numpy as np

from fude.strokes.features import stroke_length


def rot(deg: float) -> np.ndarray:
    a = np.deg2rad(deg)
    return np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])


def affine(points: np.ndarray, rng: np.random.Generator, centre: np.ndarray, rotate: float, scale: float, aspect: float,
           shear: float) -> np.ndarray:
    """A random rotation (degrees), scale, aspect and shear (degrees) about ``centre``."""
    sh = np.tan(np.deg2rad(rng.uniform(-shear, shear)))
    r = rot(rng.uniform(-rotate, rotate))
    s = 1 + rng.uniform(-scale, scale)
    asp = 1 + rng.uniform(-aspect, aspect)
    m = r @ np.array([[s * asp, sh], [0, s / asp]])
    return (points - centre) @ m.T + centre


def elastic(strokes: list[np.ndarray], rng: np.random.Generator, amount: float) -> list[np.ndarray]:
    """A smooth random displacement field: a sum of a few low-frequency sinusoids in x and y."""
    k = rng.uniform(1.0, 3.0, size=(2, 3, 2))  # (output axis, term, input axis) frequencies, cycles per unit
    phase = rng.uniform(0, 2 * np.pi, size=(2, 3))
    amp = rng.uniform(-1, 1, size=(2, 3)) * amount / 3

    def field(p: np.ndarray) -> np.ndarray:
        arg = np.einsum("tji,ni->tnj", k, p) * 2 * np.pi + phase[:, None, :]  # (2, n, 3)
        return np.stack([np.sin(arg[d]) @ amp[d] for d in range(2)], axis=1)
    return [s + field(s) for s in strokes]


def travel(s: np.ndarray) -> np.ndarray:
    """The pen's travel from the stroke's start to each of its points: float ``(len(s),)``, 0 first."""
    return np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(s, axis=0), axis=1))])


def point_at(s: np.ndarray, along: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The points ``t`` (pen travel from the stroke's start, ``(m,)``) along stroke ``s``, whose
    points lie at ``along`` (:func:`travel`): float ``(m, 2)``, straight between the stroke's points."""
    return np.column_stack([np.interp(t, along, s[:, 0]), np.interp(t, along, s[:, 1])])


def extent(strokes: list[np.ndarray]) -> float:
    """The drawing's size: the longer side of its points' bounding box (at least 1e-9)."""
    return max(float(np.ptp(np.concatenate(strokes), axis=0).max()), 1e-9)


def respace(stroke: np.ndarray, rng: np.random.Generator, unevenness: float) -> np.ndarray:
    """Re-sample a stroke at uneven steps along its length (a pen speeding up and slowing down)."""
    if len(stroke) < 3 or unevenness <= 0:
        return stroke
    along = travel(stroke)
    if along[-1] == 0:
        return stroke
    steps = rng.uniform(1 - unevenness, 1 + unevenness, size=len(stroke) - 1).clip(0.05)
    t = np.concatenate([[0.0], np.cumsum(steps)])
    t = t / t[-1] * along[-1]
    return point_at(stroke, along, t)


def components(strokes: list[np.ndarray], parts: tuple[int, ...], rng: np.random.Generator, scale: float,
               shift: float) -> list[np.ndarray]:
    """Each component scaled about its own centre and shifted (characters of one component: unchanged)."""
    if len(set(parts)) < 2 or not scale:
        return strokes
    out = list(strokes)
    for p in sorted(set(parts)):
        idx = [i for i, q in enumerate(parts) if q == p]
        pts = np.concatenate([strokes[i] for i in idx])
        c = (pts.min(0) + pts.max(0)) / 2
        f = 1 + rng.uniform(-scale, scale, 2)
        d = rng.uniform(-shift, shift, 2)
        for i in idx:
            out[i] = (strokes[i] - c) * f + c + d
    return out


def overshoot(s: np.ndarray, rng: np.random.Generator, amount: float) -> np.ndarray:
    """The stroke lengthened or shortened by up to ``amount`` of itself, from its start or its end:
    shortened by cutting, lengthened by running on in the end's direction."""
    if len(s) < 3 or not amount:
        return s
    f = rng.uniform(-amount, amount)
    at_end = rng.random() < 0.5
    s = s if at_end else s[::-1]
    seg = np.linalg.norm(np.diff(s, axis=0), axis=1)
    total = seg.sum()
    if total == 0:
        return s if at_end else s[::-1]
    if f < 0:  # cut the last share of its length
        along = np.concatenate([[0.0], np.cumsum(seg)])
        keep = along <= total * (1 + f)
        keep[:2] = True
        s = s[keep]
    else:  # run on along the last direction
        tail = s[-1] - s[max(0, len(s) - 4)]
        n = np.linalg.norm(tail)
        if n > 0:
            s = np.vstack([s, s[-1] + tail / n * total * f])
    return s if at_end else s[::-1]


def drop_hook(s: np.ndarray, rng: np.random.Generator, chance: float) -> np.ndarray:
    """Leave out a hook or flick: a sharp turn (over 70 degrees) in the last fifth of the stroke,
    with what follows it, with probability ``chance``."""
    if len(s) < 6 or not chance:
        return s
    along = travel(s)
    if along[-1] == 0:
        return s
    # direction over a window of a few points before and after each point
    w = 3
    for i in range(len(s) - 2, 1, -1):
        if along[i] < 0.8 * along[-1]:
            break
        a, b = s[i] - s[max(0, i - w)], s[min(len(s) - 1, i + w)] - s[i]
        na, nb = np.linalg.norm(a), np.linalg.norm(b)
        if na > 0 and nb > 0 and np.dot(a, b) / (na * nb) < np.cos(np.deg2rad(70)):
            return s[: i + 1] if rng.random() < chance else s
    return s


def bend(s: np.ndarray, rng: np.random.Generator, amount: float) -> np.ndarray:
    """The stroke bowed sideways: each point moved perpendicular to the chord (start to end) by
    ``f * sin(pi t) * chord`` at its share ``t`` of the length, ``f`` uniform in ``[-amount,
    amount]``: a curve rounder or flatter, a line slightly bent; the ends stay. Closed loops and
    strokes of one or two points are unchanged."""
    if len(s) < 3 or not amount or closed(s):
        return s
    chord = s[-1] - s[0]
    n = float(np.linalg.norm(chord))
    if n == 0:
        return s
    seg = np.linalg.norm(np.diff(s, axis=0), axis=1)
    t = np.concatenate([[0.0], np.cumsum(seg)]) / max(float(seg.sum()), 1e-12)
    normal = np.array([-chord[1], chord[0]])  # |normal| = chord length
    return s + rng.uniform(-amount, amount) * np.sin(np.pi * t)[:, None] * normal


def tremor(strokes: list[np.ndarray], rng: np.random.Generator, amount: float) -> list[np.ndarray]:
    """A trembling hand: points moved by a smooth wobble along each stroke, in x and y a sum of two
    waves of 2 to 5 cycles per unit of pen travel (the drawing's size is 1; at least ten template
    points per wave), of amplitude up to ``amount`` in all."""
    if not amount:
        return strokes
    freq = rng.uniform(2.0, 5.0, size=(2, 2))  # (axis, wave) cycles per unit length
    phase = rng.uniform(0, 2 * np.pi, size=(2, 2))
    amp = rng.uniform(0, amount / 2, size=(2, 2))
    out, travelled = [], 0.0
    for s in strokes:
        along = travelled + travel(s)
        travelled = float(along[-1])
        wave = np.sin(2 * np.pi * along[:, None, None] * freq + phase) * amp  # (n, axis, wave)
        out.append(s + wave.sum(2))
    return out


def closed(s: np.ndarray) -> bool:
    length = stroke_length(s)
    return len(s) > 8 and length > 0 and float(np.linalg.norm(s[0] - s[-1])) < 0.2 * length


def loop_start(s: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A closed loop started at another of its points, and run either way."""
    ring = s[:-1]  # the last point closes onto the first
    k = int(rng.integers(len(ring)))
    out = np.vstack([ring[k:], ring[:k], ring[k:k + 1]])
    return out[::-1].copy() if rng.random() < 0.5 else out


def connector(a: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The pen's path from the end of stroke ``a`` to the start of ``b`` when it is not lifted: a
    quadratic curve leaving in ``a``'s final direction (a cursive join), a few points."""
    end, start = a[-1], b[0]
    gap = float(np.linalg.norm(start - end))
    if gap == 0:
        return np.zeros((0, 2))
    tail = a[-1] - a[max(0, len(a) - 4)]
    n = np.linalg.norm(tail)
    ctrl = end + (tail / n * gap * rng.uniform(0.2, 0.6) if n > 0 else 0) + (start - end) * 0.3
    t = np.linspace(0, 1, max(3, int(gap * 40)))[1:-1, None]
    return (1 - t) ** 2 * end + 2 * (1 - t) * t * ctrl + t ** 2 * start


# --- casual writing: what free, quick and finger-drawn handwriting does to the schoolbook strokes ---

def turn_angles(s: np.ndarray, reach: float = 0.08) -> np.ndarray:
    """The pen's turn at each point, in degrees (0: straight on, 180: back the way it came), between
    its direction over the last ``reach`` of the stroke's length and over the next: float
    ``(len(s),)``, 0 at the ends (and everywhere for a stroke that does not move)."""
    along = travel(s)
    out = np.zeros(len(s))
    if len(s) < 3 or along[-1] == 0:
        return out
    w = reach * along[-1]
    a = s - point_at(s, along, np.maximum(along - w, 0))
    b = point_at(s, along, np.minimum(along + w, along[-1])) - s
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    ok = (na > 0) & (nb > 0)
    cos = np.einsum("ij,ij->i", a[ok], b[ok]) / (na[ok] * nb[ok])
    out[ok] = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
    out[[0, -1]] = 0
    return out


def split_at_corner(s: np.ndarray, rng: np.random.Generator, chance: float) -> list[np.ndarray]:
    """A stroke with a corner (a turn over 60 degrees between 15% and 85% of its length: the ┐ of
    口, the frame of 月) written as two strokes meeting there, with probability ``chance``; a
    writer who lifts the pen at the turn. Returns one stroke or two."""
    if len(s) < 7 or not chance:
        return [s]
    along = travel(s)
    if along[-1] == 0:
        return [s]
    turn = turn_angles(s)
    inside = (along > 0.15 * along[-1]) & (along < 0.85 * along[-1])
    turn[~inside] = 0
    i = int(np.argmax(turn))
    if turn[i] < 60 or rng.random() >= chance:
        return [s]
    return [s[: i + 1].copy(), s[i:].copy()]


def merge_touching(strokes: list[np.ndarray], rng: np.random.Generator, chance: float,
                   reach: float = 0.15) -> list[np.ndarray]:
    """Strokes written as one where the pen need barely move between them, each join with
    probability ``chance``: one of the next two strokes starts within ``reach`` (a share of the
    drawing's size) of where this one ends (口's bottom after its left side: an L), or of where this
    one starts, the pen then running this one backwards first (月's left side up, then on into its
    ┐: the frame in one stroke). A merged stroke may merge again; every point is kept."""
    if len(strokes) < 2 or not chance:
        return strokes
    size = extent(strokes)
    todo = list(strokes)
    out = []
    while todo:
        a = todo.pop(0)
        while True:
            for k, b in enumerate(todo[:2]):
                if float(np.linalg.norm(b[0] - a[-1])) < reach * size and rng.random() < chance:
                    a = np.concatenate([a, todo.pop(k)])
                    break
                if float(np.linalg.norm(b[0] - a[0])) < reach * size and rng.random() < chance:
                    a = np.concatenate([a[::-1], todo.pop(k)])
                    break
            else:
                break
        out.append(a)
    return out


def simplify_marks(strokes: list[np.ndarray], rng: np.random.Generator, chance: float) -> list[np.ndarray]:
    """Dots and ticks written carelessly: each short mark (under 15% of the drawing's size) is, with
    probability ``chance``, drawn as a straight dash from its start to its end, and a run of such
    marks in a row (氵, 灬, the two dots of ⺌) joined into one zig-zag stroke."""
    if not chance:
        return strokes
    size = extent(strokes)
    out: list[np.ndarray] = []
    last_simplified = False
    for s in strokes:
        if stroke_length(s) < 0.15 * size and len(s) > 1 and rng.random() < chance:
            dash = np.linspace(s[0], s[-1], 4)
            if last_simplified:
                out[-1] = np.concatenate([out[-1], dash])
            else:
                out.append(dash)
            last_simplified = True
        else:
            out.append(s)
            last_simplified = False
    return out


def squeeze(strokes: list[np.ndarray], parts: tuple[int, ...], rng: np.random.Generator,
            chance: float) -> list[np.ndarray]:
    """One component of a multi-component character squeezed or stretched far past the schoolbook's
    proportions, with probability ``chance``: by a factor of 0.55 to 1.6 along x or y about its own
    centre (a tiny 氵 beside a wide body, a tall 木 squashed under a roof)."""
    if len(set(parts)) < 2 or not chance or rng.random() >= chance:
        return strokes
    p = sorted(set(parts))[int(rng.integers(len(set(parts))))]
    idx = [i for i, q in enumerate(parts) if q == p]
    pts = np.concatenate([strokes[i] for i in idx])
    c = (pts.min(0) + pts.max(0)) / 2
    f = np.ones(2)
    f[int(rng.integers(2))] = np.exp(rng.uniform(np.log(0.55), np.log(1.6)))
    out = list(strokes)
    for i in idx:
        out[i] = (strokes[i] - c) * f + c
    return out


def round_corners(s: np.ndarray, amount: float) -> np.ndarray:
    """Running-script turns: the stroke smoothed by a moving average along its length over a window
    of ``amount`` of that length (corners become curves, as a brush or a quick pen rounds them);
    its two ends stay where they were."""
    if len(s) < 5 or amount <= 0:
        return s
    along = travel(s)
    if along[-1] == 0:
        return s
    n = max(len(s), 24)
    t = np.linspace(0, along[-1], n)
    even = point_at(s, along, t)
    half = int(round(amount * n / 2))
    if half < 1:
        return s
    padded = np.vstack([np.repeat(even[:1], half, 0), even, np.repeat(even[-1:], half, 0)])
    kernel = np.ones(2 * half + 1) / (2 * half + 1)
    smooth = np.column_stack([np.convolve(padded[:, k], kernel, mode="valid") for k in range(2)])
    smooth[0], smooth[-1] = even[0], even[-1]
    return smooth


def sparse(strokes: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """Quick writing on a device that samples the pen seldom: every stroke re-sampled at one spacing
    of 5% to 12% of the drawing's size along it (straight segments between the samples; a fast
    pen on a 60 Hz screen), its two ends kept."""
    size = extent(strokes)
    step = rng.uniform(0.05, 0.12) * size
    out = []
    for s in strokes:
        along = travel(s)
        if len(s) <= 2 or along[-1] == 0:
            out.append(s)
            continue
        t = np.linspace(0, along[-1], max(2, int(np.ceil(along[-1] / step)) + 1))
        out.append(point_at(s, along, t))
    return out


def jitter_points(strokes: list[np.ndarray], rng: np.random.Generator, amount: float) -> list[np.ndarray]:
    """Every point moved at random by up to ``amount`` (units of the drawing's size) in x and y,
    independently: a finger's imprecise touch on glass, sensed point by point."""
    return [s + rng.uniform(-amount, amount, s.shape) for s in strokes]
