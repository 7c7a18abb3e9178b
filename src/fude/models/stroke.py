"""Sequence models on a drawing's points (``stroke-gru``, ``stroke-lstm``, ``stroke-conv1d``) rather
than on its picture: they read ``(B, T, 7)`` float32 stroke sequences
(:func:`fude.strokes.sequence_features`) and return logits ``(B, num_classes)``."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from fude.datasets.base import SEQUENCE_FEATURES
from fude.models.base import CharClassifier, InputSpec, ModelError, check_common


@dataclass
class StrokeNetConfig:
    """A sequence model on ``length`` points of a drawing, 7 features each.

    ``kind``: ``gru`` or ``lstm`` (bidirectional recurrent layers of ``hidden`` units each way;
    Graves & Schmidhuber 2005, Cho et al. 2014) or ``conv1d`` (four 1-D conv-BN-ReLU layers of
    ``hidden/2 .. 2*hidden`` channels, kernel 5 then 3, two of them max-pooling by 2). The
    features are the mean and the maximum over time of the last layer's outputs.
    """

    num_classes: int = 10
    kind: str = "gru"
    hidden: int = 128
    layers: int = 2  # recurrent layers (gru, lstm)
    length: int = 64  # points per drawing
    dropout: float = 0.1  # before the head
    mean: float = 0.0  # unused: the features are already in the unit box
    std: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in ("gru", "lstm", "conv1d"):
            raise ModelError(f"kind must be gru, lstm or conv1d, got {self.kind!r}")
        if self.hidden < 2 or self.layers < 1 or self.length < 8 or not 0 <= self.dropout < 1:
            raise ModelError(f"hidden >= 2, layers >= 1, length >= 8 and dropout in [0, 1) needed, got "
                             f"{self.hidden}, {self.layers}, {self.length}, {self.dropout}")
        check_common(self)


class StrokeNet(CharClassifier):
    """See :class:`StrokeNetConfig`."""

    input_kind = "sequence"

    def __init__(self, config: StrokeNetConfig) -> None:
        super().__init__(config)
        h = config.hidden
        if config.kind == "conv1d":
            def layer(cin: int, cout: int, k: int, pool: bool) -> nn.Sequential:
                return nn.Sequential(nn.Conv1d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm1d(cout),
                                     nn.ReLU(inplace=True), *([nn.MaxPool1d(2)] if pool else []))
            self.blocks = nn.ModuleList([layer(SEQUENCE_FEATURES, h // 2, 5, False), layer(h // 2, h, 5, True),
                                         layer(h, 2 * h, 3, True), layer(2 * h, 2 * h, 3, False)])
        else:
            rnn = nn.GRU if config.kind == "gru" else nn.LSTM
            self.blocks = nn.ModuleList([nn.Sequential(nn.Linear(SEQUENCE_FEATURES, h), nn.ReLU(inplace=True)),
                                         rnn(h, h, num_layers=config.layers, batch_first=True, bidirectional=True)])
        self.num_features = 2 * 2 * h  # mean and max over time of 2 * hidden channels
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(self.num_features, config.num_classes)

    @property
    def input_spec(self) -> InputSpec:
        return InputSpec("sequence", length=self.config.length, features=SEQUENCE_FEATURES)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T, 7)`` float32 sequence features -> ``(B, num_features)``."""
        if self.config.kind == "conv1d":
            x = x.transpose(1, 2)  # (B, 7, T)
            for block in self.blocks:
                x = block(x)
            x = x.transpose(1, 2)  # (B, T', C)
        else:
            x = self.blocks[1](self.blocks[0](x))[0]  # (B, T, 2 * hidden)
        return self.drop(torch.cat([x.mean(1), x.amax(1)], dim=1))
