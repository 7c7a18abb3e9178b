"""Synthetic handwriting: varied drawings of a character generated from its KanjiVG strokes.

Each sample applies, with its own random numbers (deterministic under ``seed`` and the sample's
index, so any sample can be regenerated alone):

- a per-character affine transform: rotation, scale, aspect, shear;
- per-stroke jitter: each stroke shifted, rotated and scaled a little about its own centre;
- a smooth deformation: every point displaced by a random low-frequency displacement field over the
  drawing (elastic distortion in the sense of Simard et al., ICDAR 2003, on points rather than pixels);
- drawing speed: points re-spaced unevenly along each stroke (what the sequence models see);
- the variations hand-writers make: two consecutive strokes joined into one (the pen not lifted), and
  rarely two adjacent strokes written in swapped order; optionally (``reorder``, ``reverse``) the
  strokes in any order and drawn in either direction, as writers who do not know the stroke order
  may write (the pictures do not change; sequence models learn not to rely on the order);
- at rasterisation, the stroke width.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fude.datasets.base import IMAGE_SIZE, SEQUENCE_FEATURES
from fude.scripts import SMALL_KANA
from fude.strokes.features import normalise, rasterise, sequence_features


@dataclass(frozen=True)
class SynthConfig:
    """How far each variation goes; angles in degrees, shifts in units of the character's size."""

    rotate: float = 8.0
    scale: float = 0.12
    aspect: float = 0.12
    shear: float = 10.0
    stroke_shift: float = 0.04
    stroke_rotate: float = 6.0
    stroke_scale: float = 0.10
    elastic: float = 0.035  # largest displacement of the smooth field
    speed: float = 0.5  # 0: even spacing; 1: strongly uneven
    join: float = 0.12  # chance that a stroke is joined to the next one
    swap: float = 0.03  # chance that two adjacent strokes swap order
    reorder: float = 0.0  # chance that all the strokes come in a random order
    reverse: float = 0.0  # chance, per stroke, that it is drawn from its end to its start
    width: tuple[float, float] = (1.4, 3.0)  # stroke width range in pixels at 28x28


def _affine(points: np.ndarray, rng: np.random.Generator, cfg: SynthConfig, centre: np.ndarray) -> np.ndarray:
    a = np.deg2rad(rng.uniform(-cfg.rotate, cfg.rotate))
    sh = np.tan(np.deg2rad(rng.uniform(-cfg.shear, cfg.shear)))
    s = 1 + rng.uniform(-cfg.scale, cfg.scale)
    asp = 1 + rng.uniform(-cfg.aspect, cfg.aspect)
    m = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]) @ np.array([[s * asp, sh], [0, s / asp]])
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


def _respace(stroke: np.ndarray, rng: np.random.Generator, unevenness: float) -> np.ndarray:
    """Re-sample a stroke at uneven steps along its length (a pen speeding up and slowing down)."""
    if len(stroke) < 3 or unevenness <= 0:
        return stroke
    seg = np.linalg.norm(np.diff(stroke, axis=0), axis=1)
    along = np.concatenate([[0.0], np.cumsum(seg)])
    if along[-1] == 0:
        return stroke
    steps = rng.uniform(1 - unevenness, 1 + unevenness, size=len(stroke) - 1).clip(0.05)
    t = np.concatenate([[0.0], np.cumsum(steps)])
    t = t / t[-1] * along[-1]
    return np.column_stack([np.interp(t, along, stroke[:, 0]), np.interp(t, along, stroke[:, 1])])


def vary(strokes: list[np.ndarray], rng: np.random.Generator, cfg: SynthConfig = SynthConfig()) -> list[np.ndarray]:
    """One varied drawing of ``strokes`` (any units, y down); returns strokes in the unit box."""
    strokes = [s.copy() for s in normalise(strokes)]
    if len(strokes) > 1 and rng.random() < cfg.swap:
        i = rng.integers(len(strokes) - 1)
        strokes[i], strokes[i + 1] = strokes[i + 1], strokes[i]
    if cfg.reorder and rng.random() < cfg.reorder:  # (no random numbers drawn when off: same drawings as before)
        strokes = [strokes[k] for k in rng.permutation(len(strokes))]
    if cfg.reverse:
        strokes = [s[::-1].copy() if rng.random() < cfg.reverse else s for s in strokes]
    out = []
    for s in strokes:
        c = s.mean(0)
        a = np.deg2rad(rng.uniform(-cfg.stroke_rotate, cfg.stroke_rotate))
        r = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]) * (1 + rng.uniform(-cfg.stroke_scale,
                                                                                          cfg.stroke_scale))
        out.append((s - c) @ r.T + c + rng.uniform(-cfg.stroke_shift, cfg.stroke_shift, 2))
    joined = [out[0]]
    for s in out[1:]:
        if rng.random() < cfg.join:
            joined[-1] = np.concatenate([joined[-1], s])  # the pen travels to the next stroke without lifting
        else:
            joined.append(s)
    pts = np.concatenate(joined)
    centre = (pts.min(0) + pts.max(0)) / 2
    varied = [_affine(s, rng, cfg, centre) for s in joined]
    varied = _elastic(varied, rng, cfg.elastic)
    return normalise([_respace(s, rng, cfg.speed) for s in varied])


def _drawn(chars: dict[str, list[np.ndarray]]) -> list[tuple[int, list[np.ndarray]]]:
    """(class index, strokes) of the characters drawn: not a small kana whose full-size form is
    also in ``chars``."""
    return [(i, s) for i, (c, s) in enumerate(chars.items()) if SMALL_KANA.get(c) not in chars]


def _drawing(strokes: list[np.ndarray], seed: int, i: int, j: int, cfg: SynthConfig) -> tuple[list[np.ndarray], float]:
    """Sample ``j`` of class ``i``: its varied strokes and its stroke width (pixels at 28x28)."""
    rng = np.random.default_rng([seed, i, j])
    width = rng.uniform(*cfg.width)
    return vary(strokes, rng, cfg), width


def synth_images(chars: dict[str, list[np.ndarray]], per_char: int, seed: int = 0, size: int = IMAGE_SIZE,
                 cfg: SynthConfig = SynthConfig()) -> tuple[np.ndarray, np.ndarray]:
    """``per_char`` varied drawings of every character, rasterised.

    A small kana whose full-size form is also in ``chars`` (ぁ and あ, っ and つ, ...) is not drawn:
    rasterised at a fixed size the two are the same picture, so its class gets no images and
    :meth:`fude.recognizer.Recognizer.predict_strokes` tells the pair apart by the drawing's size.

    Args:
        chars: character -> strokes (e.g. :func:`fude.strokes.kanjivg.load_kanjivg`); class ``i`` is the
            ``i``-th key.

    Returns:
        images uint8 ``(N, size, size)`` (bright ink on black) and labels int64 ``(N,)``,
        class-major order. Sample ``j`` of class ``i`` depends only on ``(seed, i, j)``.
    """
    drawn = _drawn(chars)
    images = np.empty((len(drawn) * per_char, size, size), np.uint8)
    labels = np.repeat(np.array([i for i, _ in drawn], dtype=np.int64), per_char)
    for n, (i, strokes) in enumerate(drawn):
        for j in range(per_char):
            varied, width = _drawing(strokes, seed, i, j, cfg)
            images[n * per_char + j] = rasterise(varied, size=size, width=width)
    return images, labels


def synth_sequences(chars: dict[str, list[np.ndarray]], per_char: int, seed: int = 0, length: int = 64,
                    cfg: SynthConfig = SynthConfig()) -> tuple[np.ndarray, np.ndarray]:
    """The drawings of :func:`synth_images` (same ``seed``, same drawings) as point sequences for
    the sequence models: float32 ``(N, length, 7)`` (:func:`fude.strokes.features.sequence_features`) and
    labels int64 ``(N,)``, class-major order; small kana are left out as there."""
    drawn = _drawn(chars)
    seqs = np.empty((len(drawn) * per_char, length, SEQUENCE_FEATURES), np.float32)
    labels = np.repeat(np.array([i for i, _ in drawn], dtype=np.int64), per_char)
    for n, (i, strokes) in enumerate(drawn):
        for j in range(per_char):
            seqs[n * per_char + j] = sequence_features(_drawing(strokes, seed, i, j, cfg)[0], length=length)
    return seqs, labels
