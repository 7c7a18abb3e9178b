"""Turn any picture of one character into a dataset-style image (28x28 unless a model reads another size).

MNIST was made by fitting each digit's bounding box into 20x20 pixels (keeping the aspect
ratio, anti-aliased) and centring its centre of mass in a 28x28 frame
(http://yann.lecun.com/exdb/mnist/); Kuzushiji-MNIST characters fill the 28x28 frame.
:func:`to_dataset_image` does the same to a photo, scan or drawing: find the ink whatever the
polarity and lighting, crop to it, fit it into a box of ``box`` pixels, centre it.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from fude.datasets.base import IMAGE_SIZE, INK_BOX
from fude.datasets.stats import ink_sides
from fude.errors import ImageError
from fude.files import read_input

MAX_IMAGE_FILE_BYTES = 64 * 2**20  # the largest picture file read (a 4096x4096 16-bit TIFF is 32 MB)
WORK_SIDE = 512  # pixels: larger inputs are reduced to this before finding the ink
BACKGROUND_SIDE = 64  # pixels: side of the thumbnail on which the paper brightness is estimated
MIN_CONTRAST = 0.08  # ink must differ from the paper by this much (of the 0..1 range)
NOISE_FLOOR = 0.2  # ink below this share of the ink's peak contrast is treated as paper
MIN_BLOB_SHARE = 0.005  # connected ink blobs below this share of all ink are specks, dropped


def load_image(source: str | os.PathLike | bytes) -> Image.Image:
    """Open and fully decode an image with Pillow (any format it reads).

    Args:
        source: a path, or the file's bytes.

    Raises:
        ImageError: the file is missing, empty, not an image, truncated, or so large it looks
            like a decompression bomb (Pillow's ``MAX_IMAGE_PIXELS``).
    """
    name = "<bytes>" if isinstance(source, bytes) else str(source)
    try:
        data = source if isinstance(source, bytes) else read_input(source, MAX_IMAGE_FILE_BYTES, "picture file")
    except OSError as e:
        raise ImageError(f"{name}: cannot read ({e.strerror or e})") from e
    if not data:
        raise ImageError(f"{name}: file is empty; expected an image (PNG, JPEG, ...)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            img.load()
    except UnidentifiedImageError:
        raise ImageError(f"{name}: not an image Pillow can read; expected PNG, JPEG, BMP, TIFF, ...") from None
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as e:
        raise ImageError(f"{name}: image too large ({e})") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageError(f"{name}: image is corrupt or truncated ({e})") from None
    return to_8bit(ImageOps.exif_transpose(img))


def to_8bit(img: Image.Image) -> Image.Image:
    """16-bit, 32-bit integer and float greyscale images (Pillow modes ``I;16*``, ``I``, ``F``:
    scans and scientific TIFFs) as 8-bit ``L``, scaled from their value range (0..65535 for 16-bit;
    0..1 or 0..255 for float; up to the largest value otherwise), which every Pillow operation
    downstream accepts; other modes unchanged."""
    if not (img.mode in ("I", "F") or img.mode.startswith("I;16")):
        return img
    a = np.asarray(img)
    rows = max(1, (1 << 20) // max(1, a.shape[1]))  # a million pixels at a time: a 4096x4096 scan in 16 steps
    blocks = range(0, a.shape[0], rows)

    def finite(i: int) -> np.ndarray:
        block = a[i: i + rows].astype(np.float64)
        return np.where(np.isfinite(block), block, 0.0)

    top = max((float(finite(i).max(initial=0.0)) for i in blocks), default=0.0)
    if img.mode.startswith("I;16"):
        scale = 255 / 65535
    elif img.mode == "F" and top <= 1.0:
        scale = 255.0
    else:
        scale = 1.0 if top <= 255 else 255 / top
    out = np.empty(a.shape, np.uint8)
    for i in blocks:  # in blocks: float64 copies of a whole scan would cost ~0.5 GB at the peak
        out[i: i + rows] = np.clip(finite(i) * scale, 0, 255).round()
    return Image.fromarray(out, "L")


def to_grey(img: Image.Image) -> np.ndarray:
    """Luminance in [0, 1] as float32 ``(H, W)``; transparent areas become the opposite of the
    ink's colour, so a drawing exported with a transparent background reads as ink on paper."""
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = np.asarray(img.convert("RGBA"), dtype=np.float32) / 255
        alpha = rgba[..., 3]
        lum = rgba[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        opaque = alpha > 0.5
        ink_is_dark = not opaque.any() or lum[opaque].mean() < 0.5
        back = 1.0 if ink_is_dark else 0.0
        return (lum * alpha + back * (1 - alpha)).astype(np.float32)
    if img.mode not in ("L", "RGB"):
        img = img.convert("RGB")
    return np.asarray(img.convert("L"), dtype=np.float32) / 255


def paper_is_light(grey: np.ndarray) -> bool:
    """True if the image border (taken as the paper) is light: ink is dark on light.
    ``grey``: ``(H, W)`` luminance, float in [0, 1] or uint8 in 0..255."""
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    return bool(np.median(border) >= (128 if grey.dtype == np.uint8 else 0.5))


# The image filters ink finding needs, in NumPy: the core install (reading only) leaves SciPy out.
# Each gives what scipy.ndimage's function of the same name gives (tests/test_preprocess.py).

def maximum_filter(a: np.ndarray, size: int) -> np.ndarray:
    """The maximum over each ``size`` x ``size`` square, edges extended (``scipy.ndimage.
    maximum_filter(a, size, mode="nearest")``); ``a`` float ``(H, W)``, same shape and dtype out."""
    from numpy.lib.stride_tricks import sliding_window_view

    before = size // 2
    padded = np.pad(a, ((before, size - 1 - before),) * 2, mode="edge")
    return sliding_window_view(padded, (size, size)).max(axis=(-2, -1))


def gaussian_filter(a: np.ndarray, sigma: float, truncate: float = 4.0) -> np.ndarray:
    """A Gaussian blur of standard deviation ``sigma`` pixels, the kernel cut at ``truncate``
    sigmas, edges mirrored (``scipy.ndimage.gaussian_filter``, mode "reflect"): one axis after the
    other, summed in float64, each result in ``a``'s dtype."""
    radius = int(truncate * sigma + 0.5)
    x = np.arange(-radius, radius + 1)
    weights = np.exp(-0.5 * (x / sigma) ** 2)
    weights /= weights.sum()
    out = a
    for axis in (0, 1):
        pad = [(0, 0), (0, 0)]
        pad[axis] = (radius, radius)
        padded = np.pad(out.astype(np.float64), pad, mode="symmetric")
        n = out.shape[axis]
        acc = np.zeros(out.shape, np.float64)
        for j, wj in enumerate(weights):
            acc += wj * (padded[j: j + n] if axis == 0 else padded[:, j: j + n])
        out = acc.astype(a.dtype)
    return out


def label(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """The connected regions of a boolean ``(H, W)`` mask, pixels joined to their 4 neighbours
    (``scipy.ndimage.label``'s default): int ``(H, W)`` labels 1..n by each region's first pixel in
    raster order (0 off the mask), and n. Each pixel takes the smallest index among its region's
    pixels by repeated neighbour minima with pointer jumping (Shiloach & Vishkin's hooking idea)."""
    h, w = mask.shape
    index = np.arange(h * w).reshape(h, w)
    big = h * w
    parent = np.where(mask, index, big).ravel()
    flat_mask = mask.ravel()
    while True:
        grid = parent.reshape(h, w)
        smallest = grid.copy()
        smallest[1:] = np.minimum(smallest[1:], np.where(mask[:-1] & mask[1:], grid[:-1], big))
        smallest[:-1] = np.minimum(smallest[:-1], np.where(mask[1:] & mask[:-1], grid[1:], big))
        smallest[:, 1:] = np.minimum(smallest[:, 1:], np.where(mask[:, :-1] & mask[:, 1:], grid[:, :-1], big))
        smallest[:, :-1] = np.minimum(smallest[:, :-1], np.where(mask[:, 1:] & mask[:, :-1], grid[:, 1:], big))
        new = smallest.ravel()
        on = flat_mask
        # hook each root to the smallest label its region touches, then jump pointers to the roots
        np.minimum.at(new, parent[on], new[on])
        while True:
            jumped = np.where(on, new[np.minimum(new, big - 1)], big)
            if np.array_equal(jumped, new):
                break
            new = jumped
        if np.array_equal(new, parent):
            break
        parent = new
    roots = np.unique(parent[flat_mask])
    labels = np.zeros(h * w, np.int64)
    labels[flat_mask] = np.searchsorted(roots, parent[flat_mask]) + 1
    return labels.reshape(h, w), len(roots)


def ink_map(grey: np.ndarray) -> np.ndarray:
    """Ink strength in [0, 1], float32 ``(H, W)``: 0 on paper, 1 at the darkest ink.

    Polarity comes from the image border (the paper): light ink on dark is inverted first. The
    paper brightness is estimated locally (a maximum filter then a blur on a thumbnail), so
    shading across a photo is not taken for ink.

    Raises:
        ImageError: nothing in the image differs from the paper by at least ``MIN_CONTRAST``.
    """
    h, w = grey.shape
    if not paper_is_light(grey):
        grey = 1.0 - grey  # light ink on dark paper: make it dark on light
    scale = BACKGROUND_SIDE / max(h, w)
    small = np.asarray(Image.fromarray(grey).resize((max(1, round(w * scale)), max(1, round(h * scale))),
                                                    Image.BOX), dtype=np.float32)
    paper = gaussian_filter(maximum_filter(small, size=9), sigma=2)
    paper = np.asarray(Image.fromarray(paper).resize((w, h), Image.BILINEAR), dtype=np.float32)
    ink = np.clip(paper - grey, 0, None)
    strong = ink[ink > MIN_CONTRAST]
    if strong.size == 0:
        raise ImageError("no ink found: the image is blank or has too little contrast")
    ink = np.clip(ink / np.percentile(strong, 95), 0, 1)
    ink[ink < NOISE_FLOOR] = 0
    # drop specks (dust, JPEG noise) so they do not stretch the bounding box
    blobs, n = label(ink > 0)
    if n > 1:
        mass = np.bincount(blobs.ravel(), weights=ink.ravel(), minlength=n + 1)[1:]
        keep = np.concatenate([[False], mass >= MIN_BLOB_SHARE * mass.sum()])
        ink = ink * keep[blobs]
    return ink.astype(np.float32)


def fit_to_frame(ink: np.ndarray, box: int = INK_BOX, frame: int = IMAGE_SIZE) -> np.ndarray:
    """Crop ``ink`` (float ``(H, W)`` in [0, 1]) to its bounding box, scale its longer side to
    ``box`` pixels keeping the aspect ratio, and centre its centre of mass in a ``frame``-pixel
    square (shifted back inside where the ink would fall off). Returns uint8 ``(frame, frame)``."""
    if not 1 <= box <= frame:
        raise ValueError(f"box must be between 1 and {frame} pixels, got {box}")
    rows, cols = np.nonzero(ink.any(1))[0], np.nonzero(ink.any(0))[0]
    if rows.size == 0:
        raise ImageError("no ink found: the image is blank")
    crop = ink[rows[0]: rows[-1] + 1, cols[0]: cols[-1] + 1]
    h, w = crop.shape
    s = box / max(h, w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    small = Image.fromarray((crop * 255).astype(np.uint8)).resize((nw, nh), Image.LANCZOS, reducing_gap=3.0)
    small = np.asarray(small, dtype=np.float32)
    total = small.sum(dtype=np.float64)
    cy, cx = ((small.sum(1, dtype=np.float64) @ np.arange(nh) / total, small.sum(0, dtype=np.float64) @ np.arange(nw) / total)
              if total > 0 else ((nh - 1) / 2, (nw - 1) / 2))
    top = int(np.clip(round((frame - 1) / 2 - cy), 0, frame - nh))
    left = int(np.clip(round((frame - 1) / 2 - cx), 0, frame - nw))
    out = np.zeros((frame, frame), dtype=np.float32)
    out[top: top + nh, left: left + nw] = small
    return np.clip(out, 0, 255).round().astype(np.uint8)


def to_dataset_image(img: Image.Image, box: int = INK_BOX, frame: int = IMAGE_SIZE) -> np.ndarray:
    """A photo, scan or drawing of one character -> uint8 ``(frame, frame)`` (28x28 by default),
    bright ink on black.

    Args:
        img: any Pillow image: any size, RGB, grey or with transparency, dark ink on light
            paper or light on dark.
        box: pixels the ink's longer side is scaled to (20 for MNIST; 28 for Kuzushiji,
            whose characters fill the frame). Models store the box of their training data.
        frame: pixels per side of the output: the model's input size.

    Raises:
        ImageError: no ink found.
    """
    return read_picture(img, box, frame)[0]


def read_picture(img: Image.Image, box: int = INK_BOX, frame: int = IMAGE_SIZE, pen: float = 0.0
                 ) -> tuple[np.ndarray, float]:
    """:func:`to_dataset_image` of ``img``, and the share of the picture's longer side that its ink
    spans (float in (0, 1]): the writing box a character was drawn in tells a small kana (っ, ょ)
    from its full-size form, which the fitted image no longer can.

    Args:
        pen: ink whose stroke width (:func:`stroke_width`) is under this share of the ink's longer
            side is thickened to it (a maximum filter) before it is fitted: a hairline drawn with a
            mouse on a 300-pixel canvas would shrink to a faint trace. 0: the ink as it is.

    Raises:
        ImageError: no ink found.
    """
    if max(img.size) > WORK_SIDE:
        img = img.copy()
        img.thumbnail((WORK_SIDE, WORK_SIDE), Image.BOX)
    ink = ink_map(to_grey(img))
    share = ink_share(ink)  # of the ink as drawn, before any thickening
    if pen > 0:
        extent = share * max(ink.shape)  # the ink's longer side, pixels
        grow = int(round(pen * extent - stroke_width(ink)))
        if grow >= 2:
            ink = maximum_filter(ink, size=grow)
    return fit_to_frame(ink, box=box, frame=frame), share


def stroke_width(ink: np.ndarray) -> float:
    """The ink's mean stroke width in pixels, for float ``(H, W)`` ink (:func:`ink_map`): twice its
    area over its outline (a line of width w and length L has area wL and an outline of 2L pixels
    on its two sides), on the pixels over half strength."""
    mask = ink > 0.5
    inner = mask.copy()
    inner[1:] &= mask[:-1]
    inner[:-1] &= mask[1:]
    inner[:, 1:] &= mask[:, :-1]
    inner[:, :-1] &= mask[:, 1:]
    return 2.0 * float(mask.sum()) / max(int((mask & ~inner).sum()), 1)


def ink_share(ink: np.ndarray) -> float:
    """The longer side of the ink's bounding box over the longer side of the picture, for float
    ``(H, W)`` ink (:func:`ink_map`); 1.0 for a picture without ink."""
    rows, cols = np.nonzero(ink.any(1))[0], np.nonzero(ink.any(0))[0]
    if rows.size == 0:
        return 1.0
    return float(max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1)) / max(ink.shape)


def ink_box(images, threshold: int = 64) -> int:
    """The median longer side (pixels) of the ink's bounding box over uint8 ``(N, S, S)`` dataset
    images (a numpy array or a tensor on any device): the ``box`` :func:`to_dataset_image` should
    fit new images into. An image without ink counts as the full side
    (:func:`fude.datasets.stats.ink_sides`)."""
    return int(np.median(ink_sides(images, threshold)))
