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

from fude.datasets.base import IMAGE_SIZE, INK_BOX, SEQUENCE_FEATURES
from fude.files import atomic_write, npz_bytes
from fude.scripts import SMALL_KANA
from fude.strokes.features import bounds, normalise, rasterise, sequence_features, stroke_length
from fude.strokes import variations as V
from fude.strokes.kanjivg import Template


# the variations that are chances (in [0, 1]); the others are amounts (>= 0)
# the variations measured in degrees (at most a right angle); every other amount is a share of the
# character's size, at most 1 (beyond it a drawing is no longer the character: `tremor=1e308` drew blanks)
ANGLES = ("rotate", "shear", "stroke_rotate", "slant")
MAX_WIDTH = 20.0  # pixels at 28x28
CHANCES = ("join", "swap", "hook", "loop_start", "mark_reverse", "reorder", "reverse", "split", "merge", "dots",
           "squeeze", "quick", "finger")


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
    # casual writing (all off by default; the `ja` recipe, fude/resources/recipes/ja.json, sets the shipped `ja`'s):
    split: float = 0.0  # chance that a stroke with a corner is written as two (the pen lifted at 口's turn)
    merge: float = 0.0  # chance that a stroke starting where the last ended continues it (口 in two strokes)
    dots: float = 0.0  # chance that a dot or tick is a straight dash; runs of them (氵, 灬) one zig-zag stroke
    squeeze: float = 0.0  # chance that one component is squeezed or stretched 0.55-1.6x along x or y
    slant: float = 0.0  # a forward lean of up to this many degrees (quick writers lean right)
    cursive: float = 0.0  # corners rounded by a moving average over up to this share of each stroke (行書)
    quick: float = 0.0  # chance that the drawing is written quickly: points 5-12% of its size apart
    finger: float = 0.0  # chance of a finger on glass: a wide line (1.2-1.6x), a large wobble, jittery points
    width: tuple[float, float] = (1.4, 3.0)  # stroke width range in pixels at 28x28

    def __post_init__(self) -> None:
        """Raises ValueError for a strength that is not a finite number >= 0, a chance or share above 1,
        an angle above 90 degrees, or a width range that is not 0 < low <= high <= 20 pixels."""
        for f in fields(self):
            if f.name == "width":
                continue
            v = getattr(self, f.name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v) or v < 0:
                raise ValueError(f"synth variation {f.name} must be a finite number >= 0, got {v!r}")
            if f.name in CHANCES and v > 1:
                raise ValueError(f"synth variation {f.name} is a chance: it must lie in [0, 1], got {v!r}")
            if f.name in ANGLES and v > 90:
                raise ValueError(f"synth variation {f.name} is an angle in degrees: it must lie in [0, 90], got {v!r}")
            if f.name not in ANGLES and v > 1:
                raise ValueError(f"synth variation {f.name} is a share of the character's size: it must lie in "
                                 f"[0, 1], got {v!r}")
        lo, hi = self.width
        if not (np.isfinite(lo) and np.isfinite(hi) and 0 < lo <= hi <= MAX_WIDTH):
            raise ValueError(f"synth stroke width must be a range 0 < low <= high <= {MAX_WIDTH:g} in pixels, "
                             f"got {self.width!r}")

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


def vary(template, rng: np.random.Generator, cfg: SynthConfig = SynthConfig()) -> list[np.ndarray]:
    """One varied drawing of a :class:`~fude.strokes.kanjivg.Template` (or a list of strokes, each
    ``(n, 2)`` in any units, y down); returns strokes in the unit box [0, 1]²."""
    return _vary(template, rng, cfg)[0]


def _vary(template, rng: np.random.Generator, cfg: SynthConfig) -> tuple[list[np.ndarray], float]:
    """:func:`vary`'s strokes and the factor the pen's width is multiplied by (a finger: wider)."""
    if not isinstance(template, Template):
        template = as_templates({"?": list(template)})["?"][0]
    strokes = [s.copy() for s in normalise(list(template.strokes))]
    strokes = V.components(strokes, template.parts, rng, cfg.part_scale, cfg.part_shift)
    strokes = V.squeeze(strokes, template.parts, rng, cfg.squeeze)
    strokes = [V.bend(V.drop_hook(V.overshoot(s, rng, cfg.overshoot), rng, cfg.hook), rng, cfg.bend) for s in strokes]
    if cfg.split:  # (no random numbers drawn by a variation that is off: old drawings stay as they were)
        strokes = [part for s in strokes for part in V.split_at_corner(s, rng, cfg.split)]
    strokes = V.simplify_marks(strokes, rng, cfg.dots)
    if len(strokes) > 1 and rng.random() < cfg.swap:
        i = rng.integers(len(strokes) - 1)
        strokes[i], strokes[i + 1] = strokes[i + 1], strokes[i]
    if cfg.reorder and rng.random() < cfg.reorder:
        strokes = [strokes[k] for k in rng.permutation(len(strokes))]
    if cfg.reverse:
        strokes = [s[::-1].copy() if rng.random() < cfg.reverse else s for s in strokes]
    size = V.extent(strokes)
    for i, s in enumerate(strokes):
        if V.closed(s) and rng.random() < cfg.loop_start:
            strokes[i] = V.loop_start(s, rng)
        elif stroke_length(s) < 0.15 * size and rng.random() < cfg.mark_reverse:
            strokes[i] = s[::-1].copy()
    out = []
    for s in strokes:
        c = s.mean(0)
        r = V.rot(rng.uniform(-cfg.stroke_rotate, cfg.stroke_rotate)) * (1 + rng.uniform(-cfg.stroke_scale,
                                                                                           cfg.stroke_scale))
        out.append((s - c) @ r.T + c + rng.uniform(-cfg.stroke_shift, cfg.stroke_shift, 2))
    out = V.merge_touching(out, rng, cfg.merge)
    joined = [out[0]]
    for s in out[1:]:
        if rng.random() < cfg.join:  # the pen travels to the next stroke without lifting
            joined[-1] = np.concatenate([joined[-1], V.connector(joined[-1], s, rng), s])
        else:
            joined.append(s)
    pts = np.concatenate(joined)
    centre = (pts.min(0) + pts.max(0)) / 2
    varied = [V.affine(s, rng, centre, cfg.rotate, cfg.scale, cfg.aspect, cfg.shear) for s in joined]
    if cfg.slant:  # a forward lean: the top moved right of the bottom by up to `slant` degrees
        lean = np.tan(np.deg2rad(rng.uniform(0, cfg.slant)))
        varied = [s + np.column_stack([-(s[:, 1] - centre[1]) * lean, np.zeros(len(s))]) for s in varied]
    varied = V.tremor(V.elastic(varied, rng, cfg.elastic), rng, cfg.tremor)
    if cfg.cursive:
        amount = rng.uniform(0, cfg.cursive)
        varied = [V.round_corners(s, amount) for s in varied]
    width = 1.0
    if cfg.finger and rng.random() < cfg.finger:  # a finger on glass: wide, wobbly, imprecise
        varied = V.jitter_points(V.tremor(varied, rng, 0.03), rng, 0.006)
        width = rng.uniform(1.2, 1.6)
    varied = [V.respace(s, rng, cfg.speed) for s in varied]
    if cfg.quick and rng.random() < cfg.quick:  # written quickly, the pen sampled seldom
        varied = V.sparse(varied, rng)
    return normalise(varied), width


def drawing(templates, seed: int, i: int, j: int, cfg: SynthConfig = SynthConfig()) -> tuple[list[np.ndarray], float]:
    """Sample ``j`` of class ``i`` of a synthetic set: its varied strokes (float ``(n, 2)`` each, in
    the unit box, y down) and its stroke width (pixels at 28x28). It depends only on ``(seed, i,
    j)``, the templates (a list of :class:`~fude.strokes.kanjivg.Template`, or of strokes) and
    ``cfg``: :func:`synth_images` draws sample ``j`` of class ``i`` this way."""
    if templates and not isinstance(templates[0], Template):
        templates = as_templates({"?": templates})["?"]
    rng = np.random.default_rng([seed, i, j])
    width = rng.uniform(*cfg.width)
    t = templates[int(rng.integers(len(templates)))] if len(templates) > 1 else templates[0]
    strokes, factor = _vary(t, rng, cfg)
    return strokes, width * factor


def line_drawing(templates: dict[str, list], text: str, seed: int, cfg: SynthConfig = SynthConfig(),
                 spacing: tuple[float, float] = (0.08, 0.3), height: float = 100.0,
                 place: dict[str, list[Template]] | None = None) -> tuple[list[np.ndarray], list[list[int]]]:
    """A word written in a row, for testing and measuring the line reader
    (:func:`fude.recognizer.line.read_line`): each character of ``text`` drawn as :func:`drawing`
    draws it (its class index its place in ``templates``, sample ``j`` its place in the line), put
    where KanjiVG's square puts its ink (small kana sit low and small, ー in the middle), the
    squares ``height`` units high (y down) and scaled by 0.85-1.05 each, each character's ink
    starting ``spacing`` line heights (uniform in the range; below 0: overlapping) right of the
    last one's. ``place`` (default: ``templates``) gives the KanjiVG templates whose squares say
    where each character's ink sits, when ``templates`` are another writer's strokes (Tomoe's).
    Returns the strokes in writing order and each character's stroke indices.

    Raises:
        KeyError: a character with no templates.
    """
    rng = np.random.default_rng([seed, 7919])
    order = list(templates)
    out: list[np.ndarray] = []
    groups: list[list[int]] = []
    right = 0.0
    for j, ch in enumerate(text):
        strokes, _ = drawing(templates[ch], seed, order.index(ch), j, cfg)
        lo, hi = bounds(list((place or templates)[ch][0].strokes))  # where the ink sits in its 109-unit square
        box_lo, box_side = lo / 109.0, float((hi - lo).max()) / 109.0
        d_lo, d_hi = bounds(strokes)
        d_side = max(float((d_hi - d_lo).max()), 1e-9)
        scale = height * rng.uniform(0.85, 1.05)
        placed = [((s - d_lo) / d_side * box_side + box_lo) * scale for s in strokes]
        p_lo, p_hi = bounds(placed)
        dx = (right + rng.uniform(*spacing) * height if j else 0.0) - p_lo[0]
        dy = height - scale + rng.uniform(-0.04, 0.04) * height  # the squares share a baseline, give or take
        placed = [s + np.array([dx, dy]) for s in placed]
        groups.append(list(range(len(out), len(out) + len(placed))))
        out += placed
        right = p_hi[0] + dx
    return out, groups


def _class_drawings(templates: list[Template], i: int, per_char: int, seed: int, kind: str, size: int,
                    cfg: SynthConfig) -> np.ndarray:
    """The ``per_char`` drawings of class ``i``: images uint8 ``(per_char, size, size)`` or
    sequences float32 ``(per_char, size, 7)``."""
    if kind == "image":
        x = np.empty((per_char, size, size), np.uint8)
        box = INK_BOX * size / IMAGE_SIZE
        for j in range(per_char):
            varied, width = drawing(templates, seed, i, j, cfg)
            x[j] = rasterise(varied, size=size, box=box, width=width * size / IMAGE_SIZE)  # as reading draws them
    else:
        x = np.empty((per_char, size, SEQUENCE_FEATURES), np.float32)
        for j in range(per_char):
            x[j] = sequence_features(_fit(drawing(templates, seed, i, j, cfg)[0], size), length=size)
    return x


def _fit(strokes: list[np.ndarray], length: int) -> list[np.ndarray]:
    """Join the first strokes until the drawing has at most ``length`` strokes (one point each)."""
    while len(strokes) > length:
        strokes = [np.concatenate(strokes[:2])] + strokes[2:]
    return strokes


def drawn(chars: dict, per_char) -> list[tuple[int, list[Template], int]]:
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
    classes = drawn(chars, per_char)
    shape = (size, size) if kind == "image" else (size, SEQUENCE_FEATURES)
    xs = [_class_drawings(templates, i, n, seed, kind, size, cfg) for i, templates, n in classes]
    data = np.concatenate(xs) if xs else np.empty((0, *shape), np.uint8 if kind == "image" else np.float32)
    return data, np.repeat(np.array([i for i, _, _ in classes], dtype=np.int64), [n for _, _, n in classes])


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
    return _synth(chars, per_char, seed, "image", size, cfg)


def synth_sequences(chars: dict, per_char: int | Mapping[str, int], seed: int = 0, length: int = 64,
                    cfg: SynthConfig = SynthConfig()) -> tuple[np.ndarray, np.ndarray]:
    """The drawings of :func:`synth_images` (same ``seed``, same drawings) as point sequences for
    the sequence models: float32 ``(N, length, 7)`` (:func:`fude.strokes.features.sequence_features`) and
    labels int64 ``(N,)``, class-major order; small kana are left out as there. A drawing with
    more strokes than ``length`` has its first strokes joined until it fits."""
    return _synth(chars, per_char, seed, "sequence", length, cfg)


def _shard(job: tuple) -> str:
    """Draw one shard (a worker process's unit) and write it atomically; returns its path."""
    path, items, seed, kind, size, cfg = job
    x = np.concatenate([_class_drawings(ts, i, n, seed, kind, size, cfg) for i, ts, n in items])
    y = np.repeat(np.array([i for i, _, _ in items], np.int64), [n for _, _, n in items])
    atomic_write(path, npz_bytes(x=x, y=y))
    return str(path)


def synth_to_disk(chars: dict, per_char: int | Mapping[str, int], folder: str | os.PathLike, seed: int = 0,
                  kind: str = "image", size: int = IMAGE_SIZE, cfg: SynthConfig = SynthConfig(), workers: int = 0,
                  classes_per_shard: int = 64, progress=None) -> tuple[np.ndarray, np.ndarray]:
    """The drawings of :func:`synth_images` (``kind="image"``, ``size`` pixels) or
    :func:`synth_sequences` (``kind="sequence"``, ``size`` points), drawn by ``workers`` processes
    (0: one per free core) in shards of ``classes_per_shard`` characters written under
    ``folder/shards``; a shard already there is read, not drawn again, so an interrupted run picks up
    where it stopped (a shard that cannot be read is drawn again). Same seed, same drawings as the
    one-process functions, whatever the workers.

    Returns:
        data and labels as the one-process functions return them (class-major order).
    """
    from concurrent.futures import ProcessPoolExecutor

    from fude.cores import free_cores

    if kind not in ("image", "sequence"):
        raise ValueError(f"kind must be image or sequence (InputSpec's kinds), got {kind!r}")
    templates = as_templates(chars)
    classes = drawn(templates, per_char)
    shard_dir = Path(folder) / "shards"
    shard_dir.mkdir(parents=True, exist_ok=True)
    # the shards' names say what they hold: another character set, count, variation or template set draws anew
    what = repr((cfg, [(i, n, len(t), [len(x.strokes) for x in t]) for i, t, n in classes], list(templates)))
    n = per_char if not isinstance(per_char, Mapping) else "var"
    tag = f"{kind}{size}-seed{seed}-n{n}-{hashlib.sha256(what.encode()).hexdigest()[:12]}"
    jobs, paths = [], []
    for k in range(0, len(classes), classes_per_shard):
        items = classes[k: k + classes_per_shard]
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
    for k, path in enumerate(paths):
        try:
            with np.load(path, allow_pickle=False) as z:
                x, y = z["x"], z["y"]
        except Exception:  # noqa: BLE001 - a shard damaged on disk (zip, zlib, missing key): draw it again
            items = classes[k * classes_per_shard: (k + 1) * classes_per_shard]
            _shard((path, items, seed, kind, size, cfg))
            with np.load(path, allow_pickle=False) as z:
                x, y = z["x"], z["y"]
        xs.append(x)
        ys.append(y)
    return np.concatenate(xs), np.concatenate(ys)
