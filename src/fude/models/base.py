"""What every network in fude is: a :class:`CharClassifier` with an :class:`InputSpec`, a
normalisation, a feature/head split for fine-tuning, and a config dataclass saved beside its weights."""

from __future__ import annotations

import torch
from torch import nn

from fude.errors import ModelError
from fude.models.spec import InputSpec  # noqa: F401  (re-exported: where networks' input specs were first)


def check_common(cfg) -> None:
    """The checks every model config shares: at least 2 classes and a positive std.

    Raises:
        ModelError: either fails.
    """
    if cfg.num_classes < 2:
        raise ModelError(f"num_classes must be at least 2, got {cfg.num_classes}")
    if not cfg.std > 0:
        raise ModelError(f"std must be positive, got {cfg.std}")


class CharClassifier(nn.Module):
    """Base class: normalisation, the feature/head split, the input spec and the config.

    A subclass sets ``blocks`` (an ``nn.ModuleList``: what fine-tuning freezes, first to last),
    ``head`` (the final ``nn.Linear``), ``num_features`` and ``input_spec``, and implements
    :meth:`forward_features`.
    """

    config: object
    head: nn.Linear
    blocks: nn.ModuleList
    num_features: int
    arch: str = ""  # registry name, set by fude.models.create_model
    input_kind: str = "image"  # "image" or "sequence": the kind of InputSpec the class reads

    def __init__(self, config) -> None:
        super().__init__()
        self.config = config
        self.register_buffer("mean", torch.tensor(float(config.mean)), persistent=False)
        self.register_buffer("std", torch.tensor(float(config.std)), persistent=False)

    @property
    def input_spec(self) -> InputSpec:
        """What the network reads (from its config)."""
        raise NotImplementedError

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Input batch ``(B, *input_spec.shape)`` float32 -> features ``(B, num_features)``."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Input batch ``(B, *input_spec.shape)`` float32 -> logits ``(B, num_classes)``."""
        return self.head(self.forward_features(x))

    def example_input(self, n: int = 2) -> torch.Tensor:
        """A random input batch of ``n`` of the shape the network reads (FLOP counts, export)."""
        return torch.rand(n, *self.input_spec.shape)

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the head with a new, freshly initialised one for ``num_classes`` classes."""
        self.head = nn.Linear(self.head.in_features, num_classes).to(self.head.weight.device)
        self.config.num_classes = num_classes


@torch.inference_mode()
def forward_batched(fn, x: torch.Tensor, batch_size: int, device: torch.device, precision: str,
                    prepare=None, width: int = 0) -> torch.Tensor:
    """``fn`` (a network, or its ``forward_features``) over ``x`` in batches of ``batch_size`` on
    ``device`` under the autocast of ``precision``; the outputs as float32 ``(N, ...)`` on ``device``
    (``(0, width)`` for no input). ``prepare`` turns a stored batch, already on the device, into what
    ``fn`` reads (e.g. uint8 images into channels-last floats); the one place fude runs a network
    over many inputs, for training's validation and for :class:`fude.recognizer.Recognizer`."""
    from fude.runtime import autocast

    out = []
    for i in range(0, len(x), batch_size):
        xb = x[i: i + batch_size].to(device)
        xb = prepare(xb) if prepare is not None else xb
        with autocast(device, precision):
            out.append(fn(xb).float())
    return torch.cat(out) if out else torch.zeros(0, width, device=device)
