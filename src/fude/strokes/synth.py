"""Synthetic handwriting: varied drawings of a character generated from its KanjiVG templates.

Each sample picks one of the character's templates (the standard form or a variant, such as the
regular-script handwriting form ``-Kaisho``) and applies, with its own random numbers
(deterministic under ``seed`` and the sample's index, so any sample can be regenerated alone):

- proportions that differ from the schoolbook: each component of a kanji (KanjiVG's top-level
  groups) scaled and shifted on its own, and each stroke lengthened or shortened from one of its
  ends (over- and undershoot: a long first stroke in ら, a short wide し);
- a per-character affine transform: rotation, scale, aspect, shear;
- per-stroke jitter: each stroke shifted, rotated and scaled a little about its own centre;
- curvature: each open stroke bowed to one side or the other along its chord (a curve drawn
  rounder or flatter than the schoolbook's, a straight line slightly bent: a round め, a flat し);
- a trembling hand: every point moved by a small smooth wobble along the stroke (a few waves per
  character's length of pen travel, under a percent of its size: a mouse or a finger on glass);
- a smooth deformation: every point displaced by a random low-frequency displacement field over the
  drawing (elastic distortion in the sense of Simard et al., ICDAR 2003, on points rather than pixels);
- drawing speed: points re-spaced unevenly along each stroke (what the sequence models see);
- the variations hand-writers make: hooks and flicks at a stroke's end left out; two consecutive
  strokes joined into one by a curved pen path (connected, cursive writing: さ/き/そ written in one
  go); rarely two adjacent strokes written in swapped order; closed loops (the ゜ circle, the loop of
  の) started anywhere on the loop and run either way, and short marks (゛ ticks, dots) drawn either
  way; optionally (``reorder``, ``reverse``) the strokes in any order and drawn in either
  direction, as writers who do not know the stroke order may write (the pictures do not change;
  sequence models learn not to rely on the order);
- at rasterisation, the stroke width.

:func:`synth_to_disk` draws a large set in parallel processes, in shards (resumable: a finished
shard is not drawn again), and joins them into one images or sequences file.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from fude.datasets.base import IMAGE_SIZE, SEQUENCE_FEATURES
from fude.files import atomic_write, npz_bytes
from fude.scripts import SMALL_KANA
from fude.strokes.features import normalise, rasterise, sequence_features, stroke_length
from fude.strokes.kanjivg import Template


# the variations that are chances (in [0, 1]); the others are amounts (>= 0)
CHANCES = ("join", "swap", "hook", "loop_start", "mark_reverse", "reorder", "reverse")


@dataclass(frozen=True)
class SynthConfig:
    """How far each variation goes; angles in degrees, shifts in units of the character's size,
    chances in [0, 1]."""

    rotate: float = 8.0
    scale: float = 0.12
    aspect: float = 0.12
    shear: float = 10.0
    stroke_shift: float = 0.04
    stroke_rotate: float = 6.0
    stroke_scale: float = 0.10
    part_scale: float = 0.15  # each component of a multi-component character scaled by up to this much
    part_shift: float = 0.03
    overshoot: float = 0.15  # a stroke lengthened or shortened from one end by up to this share
    bend: float = 0.08  # an open stroke bowed sideways by up to this share of its chord at the middle
    tremor: float = 0.006  # largest wobble of the points, in units of the character's size
    elastic: float = 0.035  # largest displacement of the smooth field
    speed: float = 0.5  # 0: even spacing; 1: strongly uneven
    join: float = 0.12  # chance that a stroke is joined to the next one
    swap: float = 0.03  # chance that two adjacent strokes swap order
    hook: float = 0.3  # chance that a hook or flick at a stroke's end is left out
    loop_start: float = 0.7  # chance that a closed loop starts elsewhere on it (and runs either way)
    mark_reverse: float = 0.4  # chance that a short mark is drawn the other way
    reorder: float = 0.0  # chance that all the strokes come in a random order
    reverse: float = 0.0  # chance, per stroke, that it is drawn from its end to its start
    width: tuple[float, float] = (1.4, 3.0)  # stroke width range in pixels at 28x28

    def __post_init__(self) -> None:
        """Raises ValueError for a strength that is not a finite number >= 0, a chance above 1, or a
        width range that is not 0 < low <= high."""
        for f in fields(self):
            if f.name == "width":
                continue
            v = getattr(self, f.name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v) or v < 0:
                raise ValueError(f"synth variation {f.name} must be a finite number >= 0, got {v!r}")
            if f.name in CHANCES and v > 1:
                raise ValueError(f"synth variation {f.name} is a chance: it must lie in [0, 1], got {v!r}")
        lo, hi = self.width
        if not (np.isfinite(lo) and np.isfinite(hi) and 0 < lo <= hi):
            raise ValueError(f"synth stroke width must be a range 0 < low <= high in pixels, got {self.width!r}")

    @classmethod
    def names(cls) -> list[str]:
        """The variations' field names (what ``fude synth --set NAME=VALUE`` accepts)."""
        return [f.name for f in fields(cls)]


def as_templates(chars: dict) -> dict[str, list[Template]]:
    """``{char: [Template, ...]}`` from either that or ``{char: strokes}`` (one template each,
    every stroke its own component)."""
    out = {}
    for c, v in chars.items():
        if v and isinstance(v[0], Template):
            out[c] = list(v)
        else:
            out[c] = [Template(c, "", tuple(np.asarray(s, np.float64) for s in v), tuple(range(len(v))))]
    return out


def _rot(deg: float) -> np.ndarray:
    a = np.deg2rad(deg)
    return np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])


def _affine(points: np.ndarray, rng: np.random.Generator, cfg: SynthConfig, centre: np.ndarray) -> np.ndarray:
    sh = np.tan(np.deg2rad(rng.uniform(-cfg.shear, cfg.shear)))
    r = _rot(rng.uniform(-cfg.rotate, cfg.rotate))
    s = 1 + rng.uniform(-cfg.scale, cfg.scale)
    asp = 1 + rng.uniform(-cfg.aspect, cfg.aspect)
    m = r @ np.array([[s * asp, sh], [0, s / asp]])
    return (points - centre) @ m.T + centre


def _elastic(strokes: list[np.ndarray], rng: np.random.Generator, amount: float) -> list[np.ndarray]:
    """A smooth random displacement field: a sum of a few low-frequency sinusoids in x and y."""
    k = rng.uniform(1.0, 3.0, size=(2, 3, 2))  # (output axis, term, input axis) frequencies, cycles per unit
    phase = rng.uniform(0, 2 * np.pi, size=(2, 3))
    amp = rng.uniform(-1, 1, size=(2, 3)) * amount / 3

    def field(p: np.ndarray) -> np.ndarray:
        arg = np.einsum("tji,ni->tnj", k, p) * 2 * np.pi + phase[:, None, :]  # (2, n, 3)
        return np.stack([np.sin(arg[d]) @ amp[d] for d in range(2)], axis=1)
    return [s + field(s) for s in strokes]


def _along(s: np.ndarray) -> np.ndarray:
    """The pen's travel from the stroke's start to each of its points: float ``(len(s),)``, 0 first."""
    return np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(s, axis=0), axis=1))])


def _respace(stroke: np.ndarray, rng: np.random.Generator, unevenness: float) -> np.ndarray:
    """Re-sample a stroke at uneven steps along its length (a pen speeding up and slowing down)."""
    if len(stroke) < 3 or unevenness <= 0:
        return stroke
    along = _along(stroke)
    if along[-1] == 0:
        return stroke
    steps = rng.uniform(1 - unevenness, 1 + unevenness, size=len(stroke) - 1).clip(0.05)
    t = np.concatenate([[0.0], np.cumsum(steps)])
    t = t / t[-1] * along[-1]
    return np.column_stack([np.interp(t, along, stroke[:, 0]), np.interp(t, along, stroke[:, 1])])


def _parts(strokes: list[np.ndarray], parts: tuple[int, ...], rng: np.random.Generator,
           cfg: SynthConfig) -> list[np.ndarray]:
    """Each component scaled about its own centre and shifted (characters of one component: unchanged)."""
    if len(set(parts)) < 2 or not cfg.part_scale:
        return strokes
    out = list(strokes)
    for p in sorted(set(parts)):
        idx = [i for i, q in enumerate(parts) if q == p]
        pts = np.concatenate([strokes[i] for i in idx])
        c = (pts.min(0) + pts.max(0)) / 2
        f = 1 + rng.uniform(-cfg.part_scale, cfg.part_scale, 2)
        d = rng.uniform(-cfg.part_shift, cfg.part_shift, 2)
        for i in idx:
            out[i] = (strokes[i] - c) * f + c + d
    return out


def _overshoot(s: np.ndarray, rng: np.random.Generator, amount: float) -> np.ndarray:
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


def _drop_hook(s: np.ndarray, rng: np.random.Generator, chance: float) -> np.ndarray:
    """Leave out a hook or flick: a sharp turn (over 70 degrees) in the last fifth of the stroke,
    with what follows it, with probability ``chance``."""
    if len(s) < 6 or not chance:
        return s
    along = _along(s)
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


def _bend(s: np.ndarray, rng: np.random.Generator, amount: float) -> np.ndarray:
    """The stroke bowed sideways: each point moved perpendicular to the chord (start to end) by
    ``f * sin(pi t) * chord`` at its share ``t`` of the length, ``f`` uniform in ``[-amount,
    amount]``: a curve rounder or flatter, a line slightly bent; the ends stay. Closed loops and
    strokes of one or two points are unchanged."""
    if len(s) < 3 or not amount or _closed(s):
        return s
    chord = s[-1] - s[0]
    n = float(np.linalg.norm(chord))
    if n == 0:
        return s
    seg = np.linalg.norm(np.diff(s, axis=0), axis=1)
    t = np.concatenate([[0.0], np.cumsum(seg)]) / max(float(seg.sum()), 1e-12)
    normal = np.array([-chord[1], chord[0]])  # |normal| = chord length
    return s + rng.uniform(-amount, amount) * np.sin(np.pi * t)[:, None] * normal


def _tremor(strokes: list[np.ndarray], rng: np.random.Generator, amount: float) -> list[np.ndarray]:
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
        along = travelled + _along(s)
        travelled = float(along[-1])
        wave = np.sin(2 * np.pi * along[:, None, None] * freq + phase) * amp  # (n, axis, wave)
        out.append(s + wave.sum(2))
    return out


def _closed(s: np.ndarray) -> bool:
    length = stroke_length(s)
    return len(s) > 8 and length > 0 and float(np.linalg.norm(s[0] - s[-1])) < 0.2 * length


def _loop_start(s: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A closed loop started at another of its points, and run either way."""
    ring = s[:-1]  # the last point closes onto the first
    k = int(rng.integers(len(ring)))
    out = np.vstack([ring[k:], ring[:k], ring[k:k + 1]])
    return out[::-1].copy() if rng.random() < 0.5 else out


def _connector(a: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> np.ndarray:
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


def vary(template, rng: np.random.Generator, cfg: SynthConfig = SynthConfig()) -> list[np.ndarray]:
    """One varied drawing of a :class:`~fude.strokes.kanjivg.Template` (or a list of strokes, each
    ``(n, 2)`` in any units, y down); returns strokes in the unit box [0, 1]²."""
    if not isinstance(template, Template):
        template = as_templates({"?": list(template)})["?"][0]
    strokes = [s.copy() for s in normalise(list(template.strokes))]
    strokes = _parts(strokes, template.parts, rng, cfg)
    strokes = [_bend(_drop_hook(_overshoot(s, rng, cfg.overshoot), rng, cfg.hook), rng, cfg.bend) for s in strokes]
    if len(strokes) > 1 and rng.random() < cfg.swap:
        i = rng.integers(len(strokes) - 1)
        strokes[i], strokes[i + 1] = strokes[i + 1], strokes[i]
    if cfg.reorder and rng.random() < cfg.reorder:  # (no random numbers drawn when off)
        strokes = [strokes[k] for k in rng.permutation(len(strokes))]
    if cfg.reverse:
        strokes = [s[::-1].copy() if rng.random() < cfg.reverse else s for s in strokes]
    size = max(float(np.ptp(np.concatenate(strokes), axis=0).max()), 1e-9)
    for i, s in enumerate(strokes):
        if _closed(s) and rng.random() < cfg.loop_start:
            strokes[i] = _loop_start(s, rng)
        elif stroke_length(s) < 0.15 * size and rng.random() < cfg.mark_reverse:
            strokes[i] = s[::-1].copy()
    out = []
    for s in strokes:
        c = s.mean(0)
        r = _rot(rng.uniform(-cfg.stroke_rotate, cfg.stroke_rotate)) * (1 + rng.uniform(-cfg.stroke_scale,
                                                                                         cfg.stroke_scale))
        out.append((s - c) @ r.T + c + rng.uniform(-cfg.stroke_shift, cfg.stroke_shift, 2))
    joined = [out[0]]
    for s in out[1:]:
        if rng.random() < cfg.join:  # the pen travels to the next stroke without lifting
            joined[-1] = np.concatenate([joined[-1], _connector(joined[-1], s, rng), s])
        else:
            joined.append(s)
    pts = np.concatenate(joined)
    centre = (pts.min(0) + pts.max(0)) / 2
    varied = [_affine(s, rng, cfg, centre) for s in joined]
    varied = _tremor(_elastic(varied, rng, cfg.elastic), rng, cfg.tremor)
    return normalise([_respace(s, rng, cfg.speed) for s in varied])


def _drawing(templates, seed: int, i: int, j: int, cfg: SynthConfig) -> tuple[list[np.ndarray], float]:
    """Sample ``j`` of class ``i``: its varied strokes and its stroke width (pixels at 28x28)."""
    if templates and not isinstance(templates[0], Template):
        templates = as_templates({"?": templates})["?"]
    rng = np.random.default_rng([seed, i, j])
    width = rng.uniform(*cfg.width)
    t = templates[int(rng.integers(len(templates)))] if len(templates) > 1 else templates[0]
    return vary(t, rng, cfg), width


def _class_drawings(templates: list[Template], i: int, per_char: int, seed: int, kind: str, size: int,
                    cfg: SynthConfig) -> np.ndarray:
    """The ``per_char`` drawings of class ``i``: images uint8 ``(per_char, size, size)`` or
    sequences float32 ``(per_char, size, 7)``."""
    if kind == "images":
        x = np.empty((per_char, size, size), np.uint8)
        box = 20 * size / IMAGE_SIZE
        for j in range(per_char):
            varied, width = _drawing(templates, seed, i, j, cfg)
            # no round joins between segments: three times faster, and the dense points leave no visible notch
            x[j] = rasterise(varied, size=size, box=box, width=width * size / IMAGE_SIZE, round_joints=False)
    else:
        x = np.empty((per_char, size, SEQUENCE_FEATURES), np.float32)
        for j in range(per_char):
            x[j] = sequence_features(_fit(_drawing(templates, seed, i, j, cfg)[0], size), length=size)
    return x


def _fit(strokes: list[np.ndarray], length: int) -> list[np.ndarray]:
    """Join the first strokes until the drawing has at most ``length`` strokes (one point each)."""
    while len(strokes) > length:
        strokes = [np.concatenate(strokes[:2])] + strokes[2:]
    return strokes


def _drawn(chars: dict, per_char) -> list[tuple[int, list[Template], int]]:
    """(class index, templates, drawings) of the characters drawn: ``per_char`` is one int for every
    character or a mapping (a character it leaves out gets none); a character with no drawings, or
    a small kana whose full-size form is also in ``chars``, is not drawn.

    Raises:
        ValueError: a count below 0, or none at all.
    """
    templates = as_templates(chars)
    counts = {c: int(per_char.get(c, 0)) for c in templates} if isinstance(per_char, Mapping) else \
        dict.fromkeys(templates, int(per_char))
    if any(n < 0 for n in counts.values()) or not any(counts.values()):
        raise ValueError(f"per_char must give each character 0 or more drawings and some at least one, got {per_char!r}")
    return [(i, t, counts[c]) for i, (c, t) in enumerate(templates.items())
            if counts[c] and SMALL_KANA.get(c) not in templates]


def _synth(chars: dict, per_char, seed: int, kind: str, size: int, cfg: SynthConfig):
    drawn = _drawn(chars, per_char)
    shape = (size, size) if kind == "images" else (size, SEQUENCE_FEATURES)
    xs = [_class_drawings(templates, i, n, seed, kind, size, cfg) for i, templates, n in drawn]
    data = np.concatenate(xs) if xs else np.empty((0, *shape), np.uint8 if kind == "images" else np.float32)
    return data, np.repeat(np.array([i for i, _, _ in drawn], dtype=np.int64), [n for _, _, n in drawn])


def synth_images(chars: dict, per_char: int | Mapping[str, int], seed: int = 0, size: int = IMAGE_SIZE,
                 cfg: SynthConfig = SynthConfig()) -> tuple[np.ndarray, np.ndarray]:
    """``per_char`` varied drawings of every character (an int, or {character: count}), rasterised.

    A small kana whose full-size form is also in ``chars`` (ぁ and あ, ッ and ツ, ...) is not drawn:
    rasterised at a fixed size the two are the same picture, so its class gets no images and
    :meth:`fude.recognizer.Recognizer.predict_strokes` tells the pair apart by the drawing's size.

    Args:
        chars: character -> templates (:func:`fude.strokes.kanjivg.load_templates`) or strokes
            (:func:`fude.strokes.kanjivg.load_kanjivg`); class ``i`` is the ``i``-th key.
        size: pixels per side; the ink's box and the stroke width scale with it (``cfg.width`` is
            at 28 pixels, where the ink spans 20).

    Returns:
        images uint8 ``(N, size, size)`` (bright ink on black) and labels int64 ``(N,)``,
        class-major order. Sample ``j`` of class ``i`` depends only on ``(seed, i, j)``.
    """
    return _synth(chars, per_char, seed, "images", size, cfg)


def synth_sequences(chars: dict, per_char: int | Mapping[str, int], seed: int = 0, length: int = 64,
                    cfg: SynthConfig = SynthConfig()) -> tuple[np.ndarray, np.ndarray]:
    """The drawings of :func:`synth_images` (same ``seed``, same drawings) as point sequences for
    the sequence models: float32 ``(N, length, 7)`` (:func:`fude.strokes.features.sequence_features`) and
    labels int64 ``(N,)``, class-major order; small kana are left out as there. A drawing with
    more strokes than ``length`` has its first strokes joined until it fits."""
    return _synth(chars, per_char, seed, "sequences", length, cfg)


def _shard(job: tuple) -> str:
    """Draw one shard (a worker process's unit) and write it atomically; returns its path."""
    path, items, seed, kind, size, cfg = job
    x = np.concatenate([_class_drawings(ts, i, n, seed, kind, size, cfg) for i, ts, n in items])
    y = np.repeat(np.array([i for i, _, _ in items], np.int64), [n for _, _, n in items])
    atomic_write(path, npz_bytes(x=x, y=y))
    return str(path)


def synth_to_disk(chars: dict, per_char: int | Mapping[str, int], folder: str | os.PathLike, seed: int = 0,
                  kind: str = "images", size: int = IMAGE_SIZE, cfg: SynthConfig = SynthConfig(), workers: int = 0,
                  classes_per_shard: int = 64, progress=None) -> tuple[np.ndarray, np.ndarray]:
    """The drawings of :func:`synth_images` (``kind="images"``, ``size`` pixels) or
    :func:`synth_sequences` (``kind="sequences"``, ``size`` points), drawn by ``workers`` processes
    (0: one per free core) in shards of ``classes_per_shard`` characters written under
    ``folder/shards``; a shard already there is read, not drawn again, so an interrupted run picks up
    where it stopped. Same seed, same drawings as the one-process functions, whatever the workers.

    Returns:
        data and labels as the one-process functions return them (class-major order).
    """
    from concurrent.futures import ProcessPoolExecutor

    from fude.cores import free_cores

    if kind not in ("images", "sequences"):
        raise ValueError(f"kind must be images or sequences, got {kind!r}")
    templates = as_templates(chars)
    drawn = _drawn(templates, per_char)
    shard_dir = Path(folder) / "shards"
    shard_dir.mkdir(parents=True, exist_ok=True)
    # the shards' names say what they hold: another character set, count, variation or template set draws anew
    what = repr((cfg, [(i, n, len(t), [len(x.strokes) for x in t]) for i, t, n in drawn], list(templates)))
    n = per_char if not isinstance(per_char, Mapping) else "var"
    tag = f"{kind}{size}-seed{seed}-n{n}-{hashlib.sha256(what.encode()).hexdigest()[:12]}"
    jobs, paths = [], []
    for k in range(0, len(drawn), classes_per_shard):
        items = drawn[k: k + classes_per_shard]
        path = shard_dir / f"{tag}-c{items[0][0]}-{items[-1][0]}.npz"
        paths.append(path)
        if not path.exists():
            jobs.append((path, items, seed, kind, size, cfg))
    n_workers = min(len(jobs), workers or max(1, int(free_cores())))
    done = len(paths) - len(jobs)
    if progress:
        progress(done, len(paths))
    pool = ProcessPoolExecutor(n_workers) if n_workers > 1 else None
    try:
        for _ in pool.map(_shard, jobs) if pool else map(_shard, jobs):
            done += 1
            if progress:
                progress(done, len(paths))
    finally:
        if pool:
            pool.shutdown(cancel_futures=True)  # interrupted: the shards not started are not drawn
    xs, ys = [], []
    for path in paths:
        with np.load(path) as z:
            xs.append(z["x"])
            ys.append(z["y"])
    return np.concatenate(xs), np.concatenate(ys)
