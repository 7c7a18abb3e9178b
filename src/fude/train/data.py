"""Training data as tensors on the device: the stored inputs, what the network reads of a batch,
and the pixel statistics the network normalises with."""

from __future__ import annotations

import numpy as np
import torch

from fude.datasets import Dataset, SequenceDataset
from fude.datasets.augment import AugmentConfig, augment


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
    on any device, any shape) scaled to [0, 1], exact, from a 256-bin histogram
    (:func:`pixel_histogram`): no float copy of the pixels, unlike ``.mean()`` and ``.std()``."""
    return mean_std(pixel_histogram(images))


def pixel_histogram(images: np.ndarray | torch.Tensor) -> np.ndarray:
    """How many pixels take each value 0..255: float64 ``(256,)`` (``torch.bincount``). Histograms
    add and subtract: the training images' is all images' less the held-out ones'.

    ``torch.bincount`` runs on one thread on the CPU; there the pixels are counted in one slice per
    thread of ``torch.get_num_threads()``, at once (the 47 million pixels of MNIST's training set:
    0.10 s on one thread of a 2-core machine, 0.05 s on two)."""
    x = torch.as_tensor(images).reshape(-1)
    threads = torch.get_num_threads() if x.device.type == "cpu" and len(x) >= 1 << 22 else 1
    if threads == 1:
        return torch.bincount(x, minlength=256).cpu().double().numpy()
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(threads) as pool:  # PyTorch lets go of Python's lock while it counts
        counts = pool.map(lambda part: torch.bincount(part, minlength=256), x.chunk(threads))
        return sum(counts).double().numpy()


def mean_std(counts: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation, in [0, 1], of pixels with the histogram ``counts`` ``(256,)``."""
    values = np.arange(256) / 255
    n = counts.sum()
    mean = float(counts @ values / n)
    return mean, float(np.sqrt(max(0.0, counts @ (values - mean) ** 2 / n)))
