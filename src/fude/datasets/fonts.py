"""Training images from handwriting fonts: shapes from other hands than KanjiVG's.

Debian ships fonts drawn from people's handwriting and brushwork — ``fonts-klee`` (pencil),
``fonts-seto`` and ``fonts-kiloji`` (handwriting), ``fonts-aoyagi-soseki`` (Natsume Sōseki's
hand), ``fonts-kouzan-mouhitsu`` (brush, regular and running script) — each with several thousand
kanji. A glyph is a filled outline of one writer's (or brush's) shape; thinned to its skeleton
(scikit-image's ``skeletonize``: Zhang and Suen, CACM 1984) and inked again at a pen's width, it
looks like the same character written with a pen: the casual proportions, joined strokes and
rounded running-script turns of that hand, in the layout of the synthetic drawings
(:func:`fude.strokes.rasterise`: bright ink on black, the longer side fitted into ``box``).

Functions here read fonts from paths the caller gives; fonts are not shipped with fude.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from fude.datasets.base import IMAGE_SIZE, INK_BOX

GLYPH_PIXELS = 96  # the glyph is drawn at this many pixels per em before thinning: 1-pixel detail of a 20-stroke kanji
SUPERSAMPLE = 4  # the skeleton is inked at this many times the image's size, then reduced (anti-aliasing)


class FontError(ValueError):
    """A font file that cannot be read as a TrueType/OpenType font."""


def font_chars(path: str | os.PathLike) -> set[str]:
    """The characters a font has a glyph for (its Unicode cmap).

    Raises:
        FontError: a file that is not a TrueType/OpenType font.
    """
    from fontTools.ttLib import TTFont, TTLibError

    try:
        with TTFont(str(path), fontNumber=0, lazy=True) as f:
            return {chr(cp) for cp in f.getBestCmap()}
    except (OSError, TTLibError, AssertionError, KeyError) as e:
        raise FontError(f"{path}: not a readable TrueType/OpenType font ({e})") from e


def glyph_skeleton(font, char: str) -> np.ndarray | None:
    """The skeleton of one glyph: float64 ``(n, 2)`` points (x, y; y down) in the unit box [0, 1]²
    (the longer side of the ink spans 1, centred), or None for a glyph with no ink.

    Args:
        font: a ``PIL.ImageFont.FreeTypeFont`` at :data:`GLYPH_PIXELS` pixels (:func:`load_font`).
    """
    from PIL import Image, ImageDraw
    from skimage.morphology import skeletonize

    side = GLYPH_PIXELS * 2
    img = Image.new("L", (side, side), 0)
    ImageDraw.Draw(img).text((side // 4, side // 4), char, fill=255, font=font)
    ink = np.asarray(img) > 127
    if ink.sum() < 8:
        return None
    ys, xs = np.nonzero(skeletonize(ink))
    if len(xs) < 2:
        return None
    pts = np.column_stack([xs, ys]).astype(np.float64)
    return None if np.ptp(pts, axis=0).max() == 0 else _unit_box(pts)


def _unit_box(points: np.ndarray) -> np.ndarray:
    """Points scaled, keeping their aspect, so that the longer side spans [0, 1], and centred on the
    other (as :func:`fude.strokes.normalise` places a drawing's strokes)."""
    lo, hi = points.min(0), points.max(0)
    span = max(float((hi - lo).max()), 1e-9)
    return (points - lo) / span + (1 - (hi - lo) / span) / 2


def load_font(path: str | os.PathLike):
    """A font at :data:`GLYPH_PIXELS` pixels per em, for :func:`glyph_skeleton`.

    Raises:
        FontError: a file that is not a TrueType/OpenType font.
    """
    from PIL import ImageFont

    try:
        return ImageFont.truetype(str(path), GLYPH_PIXELS)
    except OSError as e:
        raise FontError(f"{path}: not a readable TrueType/OpenType font ({e})") from e


def ink_skeleton(points: np.ndarray, size: int, box: float, width: float) -> np.ndarray:
    """Ink skeleton points (unit box, as :func:`glyph_skeleton` gives them) as a pen line ``width``
    pixels wide: uint8 ``(size, size)``, bright ink on black, the points' unit box scaled to ``box``
    pixels and centred; drawn at :data:`SUPERSAMPLE` times the size and reduced with a box filter."""
    from PIL import Image
    from scipy.ndimage import distance_transform_edt

    big = size * SUPERSAMPLE
    grid = np.ones((big, big), bool)
    xy = np.rint(points * box * SUPERSAMPLE + (big - box * SUPERSAMPLE) / 2).astype(int)
    xy = xy[((xy >= 0) & (xy < big)).all(1)]
    grid[xy[:, 1], xy[:, 0]] = False
    ink = (distance_transform_edt(grid) <= width * SUPERSAMPLE / 2).astype(np.uint8) * 255
    return np.array(Image.fromarray(ink).resize((size, size), Image.Resampling.BOX), dtype=np.uint8)


def _varied(points: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The skeleton under a small random rotation (5 degrees), aspect (10%) and shear (8 degrees) about its
    centre, fitted back into the unit box: a glyph written a little differently each time."""
    a, sh = np.deg2rad(rng.uniform(-5, 5)), np.tan(np.deg2rad(rng.uniform(-8, 8)))
    asp = 1 + rng.uniform(-0.1, 0.1)
    m = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]) @ np.array([[asp, sh], [0, 1 / asp]])
    return _unit_box((points - 0.5) @ m.T)


def font_images(fonts: list[str | os.PathLike], chars: list[str], per_font: int = 1, seed: int = 0,
                size: int = IMAGE_SIZE, box: float = INK_BOX, width: tuple[float, float] = (1.4, 3.0)) -> tuple[np.ndarray, np.ndarray]:
    """Images of ``chars`` in each font, thinned and inked again at a pen's width (see the module).

    Args:
        fonts: font file paths (TrueType/OpenType).
        chars: the class map's characters; class ``i`` is ``chars[i]``. A character a font lacks, or
            whose glyph has no ink, gets no image from that font.
        per_font: images of each character from each font, each under its own small rotation,
            aspect and shear (the first one as the font draws it) and pen width.
        seed: image ``j`` of character ``i`` in font ``f`` depends only on ``(seed, f, i, j)``.
        size: pixels per side; ``box``: pixels the longer side of the ink spans; ``width``: the pen's
            width range in pixels at 28 pixels per side (scaled with ``size``, as the synthetic drawings').

    Returns:
        images uint8 ``(N, size, size)`` and labels int64 ``(N,)``, font by font, in class order.

    Raises:
        FontError: a font that cannot be read.
        ValueError: ``per_font`` below 1.
    """
    if per_font < 1:
        raise ValueError(f"per_font must be >= 1, got {per_font}")
    xs, ys = [], []
    for f, path in enumerate(fonts):
        have = font_chars(path)
        font = load_font(path)
        for i, c in enumerate(chars):
            if c not in have:
                continue
            skeleton = glyph_skeleton(font, c)
            if skeleton is None:
                continue
            rng = np.random.default_rng([seed, f, i])
            for j in range(per_font):
                pts = skeleton if j == 0 else _varied(skeleton, rng)
                w = rng.uniform(*width) * size / 28
                xs.append(ink_skeleton(pts, size, box, w))
                ys.append(i)
    if not xs:
        return np.zeros((0, size, size), np.uint8), np.zeros(0, np.int64)
    return np.stack(xs), np.array(ys, np.int64)


def font_name(path: str | os.PathLike) -> str:
    """A font's file name without its suffix (``KleeOne-Regular``): how results name a font."""
    return Path(path).stem
