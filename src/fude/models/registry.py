"""Architectures by name: ``create_model("fude-cnn", num_classes=49)`` builds a network with fresh
weights. A trained network's config (``arch`` and the config fields) is what
:mod:`fude.models.store` saves and rebuilds it from."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from fude.models.base import CharClassifier, ModelError
from fude.models.cnn import FudeCNN, FudeCNNConfig, KerasCNN, KerasCNNConfig
from fude.models.stroke import StrokeNet, StrokeNetConfig


@dataclass(frozen=True)
class Arch:
    """A registered architecture: the network class, its config class and this variant's defaults."""

    cls: type[CharClassifier]
    config: type
    defaults: dict = field(default_factory=dict)

    @property
    def input_kind(self) -> str:
        """``"image"`` or ``"sequence"``: what the network reads."""
        return self.cls.input_kind


ARCHS: dict[str, Arch] = {
    "fude-cnn": Arch(FudeCNN, FudeCNNConfig),  # fast: the default
    "fude-cnn-l": Arch(FudeCNN, FudeCNNConfig, {"widths": (32, 64, 128), "depth": 1, "dropout": 0.1}),  # accurate
    "keras-cnn": Arch(KerasCNN, KerasCNNConfig),
    # on stroke sequences (fude.strokes.sequence_features), not images:
    "stroke-gru": Arch(StrokeNet, StrokeNetConfig, {"kind": "gru"}),
    "stroke-lstm": Arch(StrokeNet, StrokeNetConfig, {"kind": "lstm"}),
    "stroke-conv1d": Arch(StrokeNet, StrokeNetConfig, {"kind": "conv1d"}),
}
DEFAULT_ARCH = "fude-cnn"


def arch_spec(arch: str) -> Arch:
    """The registered :class:`Arch` named ``arch``.

    Raises:
        ModelError: unknown architecture (the message lists the registered ones).
    """
    if arch not in ARCHS:
        raise ModelError(f"unknown model {arch!r}; registered: {', '.join(ARCHS)}")
    return ARCHS[arch]


def create_model(arch: str = DEFAULT_ARCH, **config) -> CharClassifier:
    """Build a registered network with fresh weights, e.g. ``create_model("fude-cnn", num_classes=49)``.

    Raises:
        ModelError: unknown architecture or config field.
    """
    spec = arch_spec(arch)
    known = {f.name for f in fields(spec.config)}
    unknown = set(config) - known
    if unknown:
        raise ModelError(f"model {arch!r} has no config field(s) {sorted(unknown)}; fields: {sorted(known)}")
    model = spec.cls(spec.config(**{**spec.defaults, **config}))
    model.arch = arch
    return model


def arch_config(model: CharClassifier) -> dict:
    """The network's config as JSON-ready ``{"arch": ..., **fields}`` (the inverse of :func:`create_model`)."""
    return {"arch": model.arch, **asdict(model.config)}
