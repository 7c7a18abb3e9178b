"""What a dataset is: images (or stroke sequences), labels and a class map, checked on creation.

The input shapes every loader produces are defined here, and nowhere else: images are uint8
``(N, IMAGE_SIZE, IMAGE_SIZE)`` = ``(N, 28, 28)``, bright ink on black (MNIST's and Kuzushiji-MNIST's
layout); stroke sequences are float32 ``(N, T, SEQUENCE_FEATURES)`` = ``(N, T, 7)``
(:func:`fude.strokes.sequence_features`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fude.classmap import ClassMap
from fude.datasets.stats import ImageStats, image_stats
from fude.errors import DatasetError

IMAGE_SIZE = 28  # pixels per side of every dataset image (MNIST, Kuzushiji-MNIST, Kuzushiji-49)
# pixels of IMAGE_SIZE the ink's longer side is fitted into when a picture or a drawing becomes a dataset
# image: MNIST's digits span 20 of 28 (LeCun et al.); a network on larger images scales it (INK_BOX * size / 28)
INK_BOX = 20
SEQUENCE_FEATURES = 7  # values per point of a stroke sequence: x, y, dx, dy, pen_up, sin, cos


@dataclass
class Dataset:
    """Images, labels and a class map.

    Attributes:
        images: ``(N, 28, 28)`` uint8, ink bright (255) on a dark (0) background.
        labels: ``(N,)`` int64 in ``[0, len(class_map))``, or ``None`` when unlabelled.
        class_map: the classes' characters and code points.
        source: where the data came from: name, split and each file with its md5.

    Raises:
        DatasetError: arrays of another shape, dtype or range.
    """

    images: np.ndarray
    labels: np.ndarray | None
    class_map: ClassMap
    source: dict = field(default_factory=dict)
    _stats: ImageStats | None = field(default=None, init=False, repr=False, compare=False)

    kind = "image"  # what a model reads from it: images (see SequenceDataset)

    def __post_init__(self) -> None:
        check_arrays(self.images, self.labels, len(self.class_map), self.source.get("name", "dataset"))

    def __len__(self) -> int:
        return len(self.images)

    @property
    def inputs(self) -> np.ndarray:
        """What a model reads: the images."""
        return self.images

    def subset(self, index: np.ndarray) -> "Dataset":
        """The images (and labels) at ``index``, an int array; same class map and source."""
        labels = None if self.labels is None else self.labels[index]
        return Dataset(self.images[index], labels, self.class_map, dict(self.source))

    def image_stats(self, threads: int = 1) -> ImageStats:
        """The images' pixel moments and ink sides (:mod:`fude.datasets.stats`), computed on
        ``threads`` threads the first time and kept: fude never changes a dataset's images in
        place (a caller that does should make a new ``Dataset``). The ``fude`` command's
        read-ahead computes them while PyTorch loads."""
        if self._stats is None:
            self._stats = image_stats(self.images, threads)
        return self._stats


@dataclass
class SequenceDataset:
    """Drawings as point sequences, labels and a class map: training data for the sequence
    models (``stroke-gru``, ``stroke-lstm``, ``stroke-conv1d``).

    Attributes:
        sequences: ``(N, T, 7)`` float32, finite: :func:`fude.strokes.sequence_features` with
            ``length=T`` of each drawing.
        labels: ``(N,)`` int64 in ``[0, len(class_map))``, or ``None`` when unlabelled.
        class_map: the classes' characters and code points.
        source: where the data came from.

    Raises:
        DatasetError: arrays of another shape or dtype, or values that are not finite.
    """

    sequences: np.ndarray
    labels: np.ndarray | None
    class_map: ClassMap
    source: dict = field(default_factory=dict)

    kind = "sequence"

    def __post_init__(self) -> None:
        what, x = self.source.get("name", "sequences"), self.sequences
        if not isinstance(x, np.ndarray) or x.dtype != np.float32 or x.ndim != 3 or x.shape[2] != SEQUENCE_FEATURES:
            raise DatasetError(f"{what}: sequences must be float32 (N, T, {SEQUENCE_FEATURES}), got "
                               f"{getattr(x, 'dtype', type(x))} of shape {getattr(x, 'shape', '?')}")
        if not np.isfinite(x).all():
            raise DatasetError(f"{what}: sequences hold NaN or infinite values")
        if self.labels is not None:
            check_labels(self.labels, len(x), len(self.class_map), what, "sequences")

    def __len__(self) -> int:
        return len(self.sequences)

    @property
    def inputs(self) -> np.ndarray:
        """What a model reads: the sequences."""
        return self.sequences

    def subset(self, index: np.ndarray) -> "SequenceDataset":
        """The sequences (and labels) at ``index``, an int array; same class map and source."""
        labels = None if self.labels is None else self.labels[index]
        return SequenceDataset(self.sequences[index], labels, self.class_map, dict(self.source))


def check_arrays(images: np.ndarray, labels: np.ndarray | None, num_classes: int, what: str) -> None:
    """Raise :class:`DatasetError` unless images are uint8 ``(N, S, S)`` (S = 28 for the standard
    datasets, at least 8) and labels int64 ``(N,)`` in ``[0, num_classes)``."""
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8:
        raise DatasetError(f"{what}: images must be a uint8 array, got {getattr(images, 'dtype', type(images))}")
    if images.ndim != 3 or images.shape[1] != images.shape[2] or images.shape[1] < 8:
        raise DatasetError(f"{what}: images must be square, shape (N, S, S) with S >= 8 (e.g. (N, {IMAGE_SIZE}, "
                           f"{IMAGE_SIZE})), got {images.shape}")
    if labels is not None:
        check_labels(labels, len(images), num_classes, what)


def check_labels(labels: np.ndarray, n: int, num_classes: int, what: str, noun: str = "images") -> None:
    """Raise :class:`DatasetError` unless labels are int64 ``(n,)`` in ``[0, num_classes)``
    (``n`` of ``noun``)."""
    if not isinstance(labels, np.ndarray) or labels.dtype != np.int64 or labels.ndim != 1:
        raise DatasetError(f"{what}: labels must be a 1-D int64 array, got {getattr(labels, 'dtype', type(labels))} "
                           f"of shape {getattr(labels, 'shape', '?')}")
    if len(labels) != n:
        raise DatasetError(f"{what}: {n} {noun} but {len(labels)} labels")
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise DatasetError(f"{what}: labels must lie in [0, {num_classes - 1}] for {num_classes} classes, "
                           f"found values in [{labels.min()}, {labels.max()}]")
