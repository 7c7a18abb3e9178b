"""What a network reads (:class:`InputSpec`), in a module without PyTorch: the recognizers that run
a network in onnxruntime (:mod:`fude.recognizer.onnx`) describe their input with it too."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InputSpec:
    """What a network reads, one sample at a time.

    ``kind="image"``: float32 ``(1, size, size)`` in [0, 1], bright ink on black (uint8
    ``(size, size)`` dataset images scaled by 1/255). ``kind="sequence"``: float32
    ``(length, features)`` stroke-sequence features (:func:`fude.strokes.sequence_features`).
    """

    kind: str  # "image" or "sequence"
    size: int = 0  # pixels per side (images)
    length: int = 0  # points per drawing (sequences)
    features: int = 0  # values per point (sequences)

    @property
    def shape(self) -> tuple[int, ...]:
        """One sample's shape: ``(1, size, size)`` or ``(length, features)``."""
        return (1, self.size, self.size) if self.kind == "image" else (self.length, self.features)

    def describe(self) -> str:
        """The accepted inputs in words, for error messages."""
        if self.kind == "image":
            return f"uint8 (N, {self.size}, {self.size}) or float (N, 1, {self.size}, {self.size}) in [0, 1]"
        return f"float (N, {self.length}, {self.features}) stroke sequences"
