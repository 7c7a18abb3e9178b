"""Training data as tensors on the device: the stored inputs, what the network reads of a batch,
and the pixel statistics the network normalises with."""

from __future__ import annotations

import numpy as np
import torch

from fude.datasets import Dataset, SequenceDataset
from fude.datasets.augment import AugmentConfig, augment
from fude.datasets.stats import pixel_moments


def to_tensors(data: Dataset | SequenceDataset, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The data's inputs and labels on ``device``: uint8 images ``(N, 1, S, S)`` (or float32 stroke
    sequences ``(N, T, 7)``) and int64 labels ``(N,)``. Images stay uint8 there, a quarter of the
    float32 bytes; :func:`model_batch` converts one batch at a time."""
    x = data.images[:, None] if data.kind == "image" else data.sequences
    return torch.from_numpy(x).to(device), torch.from_numpy(data.labels).to(device)


def model_batch(x: torch.Tensor, aug_cfg: AugmentConfig | None = None, gen: torch.Generator | None = None
                ) -> torch.Tensor:
    """Stored inputs -> what the network reads. uint8 images ``(B, 1, S, S)`` become float32 in
    [0, 1], augmented (:func:`fude.datasets.augment.augment`) when ``aug_cfg`` is given,
    channels-last; float32 stroke sequences ``(B, T, 7)`` pass as they are (their variety comes from
    the synthetic drawings, :mod:`fude.strokes.synth`)."""
    if x.dtype != torch.uint8:
        return x
    x = x.float().div_(255)
    if aug_cfg is not None:
        x = augment(x, aug_cfg, gen)
    return x.contiguous(memory_format=torch.channels_last)


def pixel_mean_std(images: np.ndarray | torch.Tensor) -> tuple[float, float]:
    """Mean and standard deviation of the pixels of uint8 ``images`` (a numpy array or a tensor
    on any device, any shape) scaled to [0, 1], from exact integer sums
    (:class:`fude.datasets.stats.PixelMoments`): no float copy of the pixels, unlike ``.mean()``
    and ``.std()``. Training takes them from :meth:`fude.datasets.Dataset.image_stats`."""
    return pixel_moments(images, torch.get_num_threads()).mean_std()
