"""What training takes from a set of images before its first step, in NumPy alone: the pixels'
mean and standard deviation (what the network normalises its input with) and each image's ink
bounding box (the ``box`` that new pictures are fitted into, :func:`fude.datasets.preprocess.ink_box`).

NumPy lets go of Python's lock in these loops, so the ``fude`` command computes them on its
read-ahead thread while PyTorch is still loading (:func:`fude.cli.args.prefetch`); training then
finds them ready (:meth:`fude.datasets.Dataset.image_stats`). Elsewhere the images are split
among threads, one pass over each share.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

BLOCK = 1 << 20  # pixels at a time: small temporaries (a 2 MiB uint16 buffer of squares), not copies of the images


@dataclass(frozen=True)
class PixelMoments:
    """Exact integer sums over uint8 pixels: how many (``n``), their sum (``total``) and the sum of
    their squares (``squares``). Sums add and subtract: the training images' moments are all
    images' less the held-out ones'."""

    n: int
    total: int
    squares: int

    def __add__(self, other: PixelMoments) -> PixelMoments:
        return PixelMoments(self.n + other.n, self.total + other.total, self.squares + other.squares)

    def __sub__(self, other: PixelMoments) -> PixelMoments:
        return PixelMoments(self.n - other.n, self.total - other.total, self.squares - other.squares)

    def mean_std(self) -> tuple[float, float]:
        """Mean and (population) standard deviation of the pixels scaled to [0, 1]; the variance
        from integers, ``(n * squares - total**2) / (n * 255)**2``, rounded once.

        Raises:
            ValueError: no pixels.
        """
        if self.n <= 0:
            raise ValueError("the mean and standard deviation of no pixels are undefined")
        return self.total / (255 * self.n), math.sqrt((self.n * self.squares - self.total ** 2) / (self.n * 255) ** 2)


@dataclass(frozen=True)
class ImageStats:
    """A set of images' :class:`PixelMoments` and each image's ink side (:func:`ink_sides`)."""

    moments: PixelMoments
    sides: np.ndarray  # (N,) int64


def pixel_moments(images: np.ndarray, threads: int = 1) -> PixelMoments:
    """The :class:`PixelMoments` of uint8 ``images`` (any shape), on ``threads`` threads."""
    images = _uint8(images)
    if threads > 1 and len(images) >= 2 * threads:
        return sum(_threaded(pixel_moments, images, threads), PixelMoments(0, 0, 0))
    flat = images.reshape(-1)
    squares = 0
    for i in range(0, len(flat), BLOCK):
        squares += int(np.square(flat[i: i + BLOCK], dtype=np.uint16).sum(dtype=np.uint64))
    return PixelMoments(len(flat), int(flat.sum(dtype=np.uint64)), squares)


def ink_sides(images: np.ndarray, threshold: int = 64, threads: int = 1) -> np.ndarray:
    """Each image's ink bounding box, its longer side in pixels: int64 ``(N,)`` for uint8
    ``(N, S, S)`` images (ink: pixels above ``threshold``; none: the full side). Row and column
    maxima, no per-image loop; the first and last inked row and column are where ``argmax`` first
    meets ink, from either end."""
    images = _uint8(images)
    if images.ndim != 3 or images.shape[1] != images.shape[2]:
        raise ValueError(f"ink_sides reads square images (N, S, S), got shape {images.shape}")
    if threads > 1 and len(images) >= 2 * threads:
        return np.concatenate(list(_threaded(lambda part: ink_sides(part, threshold), images, threads)))
    side, sides = images.shape[-1], np.empty(len(images), np.int64)
    for i in range(0, len(images), BLOCK // side ** 2):  # a block of images at a time: small temporaries
        block = images[i: i + BLOCK // side ** 2]
        ink = np.stack([block.max(2), block.max(1)], 1) > threshold  # (n, 2, S): inked rows, inked columns
        first, last = ink.argmax(2), side - 1 - ink[:, :, ::-1].argmax(2)
        sides[i: i + len(block)] = np.where(ink.any(2), last - first + 1, side).max(1)
    return sides


def border_ink(images: np.ndarray, border: int) -> float:
    """The share of uint8 ``(N, S, S)`` images' ink (the sum of their pixel values) that lies in the
    ``border`` pixels along each side: what a network with ``crop=border`` never sees (MNIST's
    training images: 0.24% at 2 pixels; Kuzushiji-MNIST's, whose characters fill the frame, 10%).
    0.0 for images without ink.

    Raises:
        ValueError: a negative border, or one that leaves nothing inside.
    """
    images = _uint8(images)
    side = images.shape[-1]
    if border < 0 or 2 * border >= side:
        raise ValueError(f"a border of {border} pixels must be >= 0 and leave pixels inside {side} x {side}")
    total = int(images.sum(dtype=np.uint64))
    inner = int(images[:, border: side - border, border: side - border].sum(dtype=np.uint64))
    return (total - inner) / total if total else 0.0


def image_stats(images: np.ndarray, threads: int = 1) -> ImageStats:
    """:class:`ImageStats` of uint8 ``(N, S, S)`` images, on ``threads`` threads."""
    return ImageStats(pixel_moments(images, threads), ink_sides(images, threads=threads))


def _uint8(images) -> np.ndarray:
    images = np.asarray(images.cpu() if hasattr(images, "cpu") else images)  # a PyTorch tensor on any device
    if images.dtype != np.uint8:
        raise ValueError(f"pixel statistics read uint8 images (0..255), got {images.dtype}")
    return images


def _threaded(fn, images: np.ndarray, threads: int):
    """``fn`` over ``threads`` slices of ``images`` at once (NumPy lets go of Python's lock)."""
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(fn, np.array_split(images, threads)))
