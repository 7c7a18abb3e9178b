"""Image CNNs: fude's own family (``fude-cnn``, ``fude-cnn-l``) and the seed notebooks' Keras network.

Each takes ``(B, 1, S, S)`` float32 images in [0, 1] (bright ink on black; S = ``image_size``, 28
for the datasets), normalises them with the training data's mean and std (stored in its config),
and returns logits ``(B, num_classes)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from fude.datasets.base import IMAGE_SIZE
from fude.models.base import CharClassifier, InputSpec, ModelError, check_common


@dataclass
class FudeCNNConfig:
    """fude's CNN: three stages at S, S/2 and S/4 pixels (28, 14, 7), each a 3x3 conv, a 2x2
    max-pool, batch norm and ReLU (plus ``depth`` conv-BN-ReLU layers in the last two stages, and
    ``stem`` of them at the full resolution before the first pool), then a linear head on the
    flattened ``S/8 x S/8`` map (3x3), or with ``neck`` on a linear-BN-ReLU layer of that width
    (for thousands of classes: the head stays ``neck x classes``).

    Pooling straight after the conv (as in Keller Jordan's airbench) runs batch norm and ReLU on a
    quarter of the pixels, so it trains and infers faster than conv-BN-ReLU-pool on a CPU
    (``bench/experiments/arch.py`` measures both).

    With ``space_to_depth`` the first stage reads each 2x2 block of pixels as 4 channels at S/2
    (``nn.PixelUnshuffle``; the "space-to-depth" stem of Ridnik et al., "TResNet", 2021) and its
    conv needs no pooling: a 3x3 conv there sees 6x6 pixels. A conv with one input channel and a
    max-pool at full resolution are the slowest layers on a CPU, so a training step takes less time
    for the same FLOPs. It is the network of the quickest recipes to 99% and 99.5% on MNIST
    (``bench/speed/mnist_speed.py --recipe fast default-s2d``). Off by default: on KMNIST it made no
    clear difference to accuracy (5-fold CV on the dev set, README "Benchmarks").

    Without ``first_bn`` the conv that reads the image has a bias and no batch norm after it: the
    input is already normalised by the data's mean and std, and that batch norm, on the largest
    map of the network, was an eighth of a training step of the fast recipe (forward and backward,
    ``bench/speed/step_profile.py``); the fast recipe trains 9% quicker without it, to the same accuracy.

    ``crop`` drops that many pixels at each side of the input before the first layer: the network
    still reads ``S x S`` images, but its stages run at ``(S - 2 crop) / 2`` and ``/ 4``. For data
    whose borders hold almost no ink, as MNIST's (digits fitted into 20 x 20 pixels and centred by
    their centre of mass in 28 x 28; a 2-pixel border holds 0.24% of the training set's ink), a crop
    of 2 makes the maps 12 x 12, 6 x 6 and 3 x 3 instead of 14, 7 and 3: a quarter fewer FLOPs for
    the first two stages. With it and a 48-channel last stage the fast recipe trains about a fifth
    quicker, to the same test accuracy (``bench/speed/mnist_speed.py``, ``fast`` against ``fast-28``).
    Not for Kuzushiji-MNIST or Kuzushiji-49, whose characters fill the frame (10% of the ink in that
    border; training warns above 1%, :func:`fude.datasets.stats.border_ink`).
    """

    num_classes: int = 10
    widths: tuple[int, int, int] = (16, 32, 64)  # channels of the three stages
    depth: int = 0  # extra conv-BN-ReLU layers in each of the last two stages
    stem: int = 0  # conv-BN-ReLU layers at full resolution before the first pooling conv
    dropout: float = 0.0  # before the head
    space_to_depth: bool = False  # first stage: 2x2 pixel blocks as 4 channels at half resolution, no pooling
    image_size: int = IMAGE_SIZE  # pixels per side of the input
    neck: int = 0  # a linear-BN-ReLU layer of this width before the head (0: none)
    first_bn: bool = True  # batch norm after the first conv; False: that conv has a bias instead
    crop: int = 0  # pixels dropped at each side of the input before the first layer
    mean: float = 0.0  # training-data pixel mean, images in [0, 1]
    std: float = 1.0  # training-data pixel standard deviation

    def __post_init__(self) -> None:
        if self.neck < 0:
            raise ModelError(f"neck must be >= 0 (0: no neck layer), got {self.neck}")
        self.widths = tuple(int(w) for w in self.widths)
        if len(self.widths) != 3 or min(self.widths) < 1:
            raise ModelError(f"widths must be three positive channel counts, got {self.widths}")
        if self.depth < 0 or self.stem < 0 or not 0 <= self.dropout < 1:
            raise ModelError(f"depth and stem must be >= 0 and dropout in [0, 1), "
                             f"got {self.depth}, {self.stem}, {self.dropout}")
        for name in ("space_to_depth", "first_bn"):
            if not isinstance(getattr(self, name), bool):
                raise ModelError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if self.stem and self.space_to_depth:
            raise ModelError("stem (layers at full resolution) and space_to_depth exclude each other")
        if not isinstance(self.crop, int) or isinstance(self.crop, bool) or self.crop < 0:
            raise ModelError(f"crop must be a whole number of pixels >= 0, got {self.crop!r}")
        if self.image_size - 2 * self.crop < 8 or (self.space_to_depth and self.image_size % 2):
            raise ModelError(f"image_size less twice crop must be at least 8 pixels (three halvings), and image_size "
                             f"even with space_to_depth; got image_size {self.image_size}, crop {self.crop}")
        check_common(self)


@dataclass
class KerasCNNConfig:
    """The reference network of the Keras ``mnist_cnn`` example that the seed notebooks used:
    Conv32-Conv64 (3x3, valid) - MaxPool2 - Dropout .25 - Dense128 - Dropout .5 - Dense.
    Source: https://github.com/keras-team/keras/blob/2.x/examples/mnist_cnn.py"""

    num_classes: int = 10
    image_size: int = IMAGE_SIZE  # pixels per side of the input
    mean: float = 0.0
    std: float = 1.0

    def __post_init__(self) -> None:
        if self.image_size < 6:
            raise ModelError(f"image_size must be at least 6 pixels (two valid 3x3 convs and a pool), "
                             f"got {self.image_size}")
        check_common(self)


def conv_bn(cin: int, cout: int, pool: bool = False, bn: bool = True) -> nn.Sequential:
    """3x3 'same' conv, [2x2 max-pool], batch norm, ReLU: ``(B, cin, H, W) -> (B, cout, H', W')``;
    without ``bn`` the conv has a bias and no batch norm follows."""
    layers = [nn.Conv2d(cin, cout, 3, padding=1, bias=not bn)] + ([nn.MaxPool2d(2)] if pool else [])
    return nn.Sequential(*layers, *([nn.BatchNorm2d(cout)] if bn else []), nn.ReLU(inplace=True))


class FudeCNN(CharClassifier):
    """See :class:`FudeCNNConfig`."""

    def __init__(self, config: FudeCNNConfig) -> None:
        super().__init__(config)
        w0, w1, w2 = config.widths
        bn = config.first_bn  # of the conv that reads the image
        if config.space_to_depth:  # (B, 4, S/2, S/2) -> (B, w0, S/2, S/2)
            first = nn.Sequential(nn.PixelUnshuffle(2), conv_bn(4, w0, bn=bn))
        elif config.stem:  # full-resolution layers first: (B, w0, S, S), then pool
            stem = [conv_bn(1 if i == 0 else w0, w0, bn=bn or i > 0) for i in range(config.stem)]
            first = nn.Sequential(*stem, conv_bn(w0, w0, pool=True))
        else:
            first = conv_bn(1, w0, pool=True, bn=bn)  # pool straight after the first conv
        self.blocks = nn.ModuleList([
            first,  # (B, w0, S/2, S/2)
            nn.Sequential(conv_bn(w0, w1, pool=True), *[conv_bn(w1, w1) for _ in range(config.depth)]),  # S/4
            nn.Sequential(conv_bn(w1, w2, pool=True), *[conv_bn(w2, w2) for _ in range(config.depth)]),  # S/8
        ])
        side = (config.image_size - 2 * config.crop) // 2 // 2 // 2  # three floor-halving pools: 28 -> 14 -> 7 -> 3
        self.num_features = w2 * side * side
        if config.neck:  # many classes: a narrow layer keeps the head small (6,600 classes x neck)
            self.neck = nn.Sequential(nn.Linear(self.num_features, config.neck, bias=False),
                                      nn.BatchNorm1d(config.neck), nn.ReLU(inplace=True))
            self.num_features = config.neck
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(self.num_features, config.num_classes)

    @property
    def input_spec(self) -> InputSpec:
        return InputSpec("image", size=self.config.image_size)

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """Input batch ``(B, 1, S, S)`` float32 -> the last stage's map ``(B, w2, S'/8, S'/8)``,
        ``S' = S - 2 crop``."""
        if c := self.config.crop:  # a view: the slice is read by the first layer
            x = x[..., c:-c, c:-c]
        x = self.normalise(x)
        for block in self.blocks:
            x = block(x)
        return x

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self._features(self.feature_map(x))

    def _features(self, h: torch.Tensor) -> torch.Tensor:
        x = h.flatten(1)  # (B, w2 * S/8 * S/8), channel by channel
        if self.config.neck:
            x = self.neck(x)  # (B, neck)
        return self.drop(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Input batch ``(B, 1, S, S)`` float32 -> logits ``(B, num_classes)``, equal to
        ``head(forward_features(x))`` up to float rounding.

        Where gradients are taken, a channels-last map (how fude trains on the CPU) is flattened
        pixel by pixel, which is free, and meets the first linear layer's weights reordered to
        match (``(out, w2 * 9)``, a copy of the weights), instead of being copied channel by
        channel: that copy made the backward pass of the last ReLU and batch norm read two memory
        layouts at once, 6% of a training step of the fast recipe (``bench/speed/step_profile.py``).
        The weights keep their channel-by-channel order, so saved models are unchanged. Inference
        copies the map as before: for one drawing the map is smaller than the weights."""
        h = self.feature_map(x)
        if (not torch.is_grad_enabled() or h.is_contiguous()
                or not h.is_contiguous(memory_format=torch.channels_last)):
            return self.head(self._features(h))
        first = self.neck[0] if self.config.neck else self.head  # the linear layer that reads the map
        z = h.permute(0, 2, 3, 1).flatten(1)  # (B, H*W*C): a view of channels-last memory
        w = first.weight.unflatten(1, h.shape[1:]).permute(0, 2, 3, 1).flatten(1)  # (out, H*W*C)
        if self.config.neck:
            return self.head(self.drop(self.neck[1:](F.linear(z, w, first.bias))))
        return F.linear(self.drop(z), w, first.bias)


class KerasCNN(CharClassifier):
    """See :class:`KerasCNNConfig`."""

    def __init__(self, config: KerasCNNConfig) -> None:
        super().__init__(config)
        side = (config.image_size - 2 - 2) // 2  # two valid 3x3 convs (28 -> 26 -> 24), then a 2x2 pool
        self.num_features = 128
        self.blocks = nn.ModuleList([
            nn.Conv2d(1, 32, 3),
            nn.Conv2d(32, 64, 3),
            nn.Linear(64 * side * side, self.num_features),  # the seeds' Dense(128) on 9,216 inputs at 28 px
        ])
        self.head = nn.Linear(self.num_features, config.num_classes)

    @property
    def input_spec(self) -> InputSpec:
        return InputSpec("image", size=self.config.image_size)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        conv1, conv2, fc = self.blocks
        x = F.relu(conv1(self.normalise(x)))  # (B, 32, S-2, S-2)
        x = F.max_pool2d(F.relu(conv2(x)), 2)  # (B, 64, (S-4)/2, (S-4)/2)
        x = F.dropout(x, 0.25, self.training).flatten(1)
        return F.dropout(F.relu(fc(x)), 0.5, self.training)  # (B, 128)
