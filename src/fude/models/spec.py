"""What a network reads (:class:`InputSpec`), in a module without PyTorch: the recognizers that run
a network in onnxruntime (:mod:`fude.recognizer.onnx`) describe their input with it too."""

from __future__ import annotations

from dataclasses import dataclass


MAX_INPUT_SIDE = 512  # pixels: the largest picture a network may read (fude's read 28-64)
MAX_SEQUENCE = 8192  # points: the longest sequence a network may read (fude's read 64-128)
MAX_PARAMETERS = 500_000_000  # a network larger than this is not one of fude's (ja: 3.6 million)


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

    def problem(self) -> str | None:
        """What makes this input too large for fude to read (a model folder that lies: a picture of
        100,000 pixels a side, a sequence of 10^8 points), or None."""
        if self.kind == "image" and not 1 <= self.size <= MAX_INPUT_SIDE:
            return f"images of {self.size} pixels a side; fude reads networks of 1 to {MAX_INPUT_SIDE}"
        if self.kind == "sequence" and not (1 <= self.length <= MAX_SEQUENCE and 1 <= self.features <= 64):
            return (f"sequences of {self.length} points of {self.features} values; fude reads networks of at most "
                    f"{MAX_SEQUENCE:,} points of 64 values")
        return None

    def describe(self) -> str:
        """The accepted inputs in words, for error messages."""
        if self.kind == "image":
            return f"uint8 (N, {self.size}, {self.size}) or float (N, 1, {self.size}, {self.size}) in [0, 1]"
        return f"float (N, {self.length}, {self.features}) stroke sequences"
