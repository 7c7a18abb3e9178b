"""Reading characters with a trained network in PyTorch: :class:`Recognizer` (what
``fude.load_model`` returns where PyTorch is installed) turns images, stroke sequences or drawings
into class probabilities and top-k guesses, in batches, under the precision that runs the call
fastest. Drawings are read by the parts of :mod:`fude.recognizer.reading` with the network (and its
companion) as the scorer (:class:`fude.recognizer.base.BaseRecognizer`)."""

from __future__ import annotations

import numpy as np
import torch

from fude.classmap import ClassMap
from fude.datasets.base import IMAGE_SIZE
from fude.models import CharClassifier, ModelError, forward_batched
from fude.models.fuse import fused_for_inference
from fude.recognizer.base import BaseRecognizer
from fude.recognizer.config import RecognizerConfig
from fude.recognizer.loading import BACKENDS
from fude.runtime import resolve_precision

# precision "auto" runs calls of fewer inputs than this in fp32 even where bf16 is fast for batches: a
# forward pass of a few drawings is too small for bf16's matmuls to pay for the casts and reorders
# around them. Measured on an AMX CPU, one thread, `ja`'s picture network (bench/speed/auto_precision.py):
# 1 drawing 1.1 ms fp32 against 2.0 ms bf16, 4 drawings 2.3 against 2.4, 8 drawings 3.7 against 2.8
AUTO_BF16_MIN_BATCH = 8
# the automatic backend: calls of fewer images stay in PyTorch (one drawing, a page of them) ...
ORT_MIN_IMAGES = 2048
# ... and so do larger ones until their forward work (images x forward FLOPs per image) adds up to this:
# onnxruntime first exports the network, up to 0.2 s, which less work does not earn back (bench/speed/evaluate_speed.py)
ORT_MIN_GFLOP = 50


class Recognizer(BaseRecognizer):
    """A trained network with its class map, preprocessing and reading settings, run in PyTorch
    (what reads drawings and ranks guesses is :class:`~fude.recognizer.base.BaseRecognizer`'s).

    Attributes:
        net: the :class:`~fude.models.CharClassifier`, in eval mode, channels-last.
        fused: a copy of ``net`` with its batch norms folded into the convolutions
            (:mod:`fude.models.fuse`): what the forward passes run.
        class_map: the classes' characters and code points.
        settings: the :class:`~fude.recognizer.config.RecognizerConfig`: the ink box, the
            companion's weight, the priors and the stroke-count weighing that
            :meth:`predict_strokes` applies (saved in the model's ``config.json``).
        config: the full saved config (model, class map, training command, data, ...).
        precision: ``"fp32"``, ``"bf16"`` (the autocast of the forward passes), or ``"auto"`` (the
            default): bf16 for calls of at least :data:`AUTO_BF16_MIN_BATCH` inputs where the
            hardware runs it fast (:func:`fude.runtime.resolve_precision`), fp32 otherwise — a single
            drawing runs faster in fp32 even there. bf16 and fp32 give the same top-1 on the shipped
            models' test images (tested); ``bench/speed/evaluate_speed.py`` measures both.
        backend: ``"torch"``, ``"onnxruntime"`` (:class:`fude.models.ort.OrtRunner`; image
            networks in fp32 on the CPU), or ``"auto"`` (the default): where onnxruntime applies
            and is installed, calls of at least :data:`ORT_MIN_IMAGES` images run in it once such
            calls of this recognizer have added up to :data:`ORT_MIN_GFLOP` GFLOP of forward work,
            this call's included: the up to 0.2 s onnxruntime needs to set up is then repaid, as
            skis are bought once their rent has added up to their price; PyTorch otherwise. The two
            give the same logits to float rounding (tested).
        companion: a second recognizer of the same classes that reads drawings another way (a
            stroke-sequence network beside an image network), or None. :meth:`strokes_proba`
            averages the two's probabilities, ``settings.companion_weight`` on the companion's
            (per script, if the settings say so): the two miss different drawings (an image does
            not know the stroke order; a sequence does not see the finished shape). Images
            (:meth:`predict`) are read by ``net`` alone.

    Raises:
        ValueError: an unknown precision or backend, or a companion with other classes or one
            with a companion of its own.
    """

    def __init__(self, net: CharClassifier, class_map: ClassMap, settings: RecognizerConfig | None = None,
                 config: dict | None = None, device: str | torch.device = "cpu", precision: str = "auto",
                 backend: str = "auto", companion: Recognizer | None = None) -> None:
        # channels-last: several times the inference throughput of NCHW for the CNNs on a CPU
        # (bench/speed/evaluate_speed.py)
        self.net = net.eval().to(device).to(memory_format=torch.channels_last)
        # what the forward passes run: the same network with its batch norms folded into the convolutions
        self.fused = fused_for_inference(self.net).to(memory_format=torch.channels_last)  # folded weights too
        self.device = torch.device(device)
        resolve_precision(precision, self.device)  # an unknown precision is refused here
        self.precision = precision
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        self.backend = backend
        self._ort = None  # the onnxruntime runner, made on first use
        self._flops = None  # forward FLOPs per input, counted on first use
        self._work = 0.0  # forward FLOPs of the calls large enough for onnxruntime so far
        super().__init__(class_map, settings, config, companion)

    @property
    def input_spec(self):
        """What the network reads (:class:`~fude.models.spec.InputSpec`)."""
        return self.net.input_spec

    @property
    def runs_onnxruntime(self) -> bool:
        """Whether the large calls run in onnxruntime by now (see ``backend``): its runner is made."""
        return self._ort is not None

    def precision_for(self, n: int) -> str:
        """The precision a call on ``n`` inputs runs in (see ``precision``)."""
        if self.precision != "auto":
            return self.precision
        return resolve_precision("auto", self.device) if n >= AUTO_BF16_MIN_BATCH else "fp32"

    @torch.inference_mode()
    def predict_proba(self, images: np.ndarray | torch.Tensor, batch_size: int = 512) -> np.ndarray:
        """Class probabilities ``(N, num_classes)`` float32 for uint8 ``(N, 28, 28)`` images
        (0..255, bright ink) or float ``(N, 1, 28, 28)`` in [0, 1] (the network's input size), or
        for a sequence model float32 ``(N, T, 7)`` stroke sequences."""
        return torch.softmax(self.logits(images, batch_size), dim=1).numpy()

    @torch.inference_mode()
    def logits(self, images: np.ndarray | torch.Tensor, batch_size: int = 512) -> torch.Tensor:
        """Logits ``(N, num_classes)`` float32 on the CPU; input as for :meth:`predict_proba`.

        Raises:
            ValueError: input of another shape or dtype than the network reads.
        """
        return self._batched(self.fused, images, batch_size, len(self.class_map))

    @torch.inference_mode()
    def features(self, images: np.ndarray | torch.Tensor, batch_size: int = 512) -> np.ndarray:
        """The network's features before the classifier head, ``(N, num_features)`` float32
        (what UMAP maps and fine-tuning start from); input as for :meth:`logits`."""
        return self._batched(self.fused.forward_features, images, batch_size, self.net.num_features).numpy()

    def logits_and_features(self, inputs, batch_size: int = 512) -> tuple[np.ndarray, np.ndarray]:
        """Logits float32 ``(N, num_classes)`` and the features before the head float32 ``(N, D)``
        (as :class:`~fude.recognizer.onnx.OnnxRecognizer` gives them); input as for :meth:`logits`."""
        return self.logits(inputs, batch_size).numpy(), self.features(inputs, batch_size)

    def _batched(self, fn, inputs: np.ndarray | torch.Tensor, batch_size: int, width: int) -> torch.Tensor:
        x = self.to_inputs(inputs)
        if fn is self.fused and self._onnxruntime(len(x)):
            return torch.cat([self._ort(x[i: i + batch_size]) for i in range(0, len(x), batch_size)]) \
                if len(x) else torch.zeros(0, width)
        layout = torch.channels_last if x.ndim == 4 else torch.contiguous_format
        return forward_batched(fn, x, batch_size, self.device, self.precision_for(len(x)),
                               prepare=lambda xb: xb.contiguous(memory_format=layout), width=width).cpu()

    def forward_flops(self) -> int:
        """FLOPs of one input's forward pass (:func:`fude.models.flops.flops_per_image`), counted once."""
        if self._flops is None:
            from fude.models.flops import flops_per_image

            self._flops = flops_per_image(self.fused, self.device, training=False)
        return self._flops

    def _onnxruntime(self, n: int) -> bool:
        """Whether a call on ``n`` inputs runs in onnxruntime (see ``backend``)."""
        import importlib.util

        if self.backend == "torch" or self.net.input_spec.kind != "image" or self.device.type != "cpu":
            return False
        if self.backend == "auto":
            if self.precision_for(n) != "fp32" or n < ORT_MIN_IMAGES or importlib.util.find_spec("onnxruntime") is None:
                return False
            self._work += n * self.forward_flops()
            if self._work < ORT_MIN_GFLOP * 1e9:
                return False
        if self._ort is None:
            from fude.models.ort import OrtRunner

            try:
                self._ort = OrtRunner(self.fused)
            except Exception as e:  # an export or runtime that fails here: PyTorch reads these networks too
                if self.backend == "onnxruntime":
                    raise ModelError(f"onnxruntime could not run {self.net.arch}: {e}") from e
                self.backend = "torch"
                return False
        return True

    def to_inputs(self, x: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Check and convert what the network reads: images (:func:`to_input`) or float
        ``(N, T, 7)`` sequences with T the network's length.

        Raises:
            ValueError: another shape or dtype.
        """
        spec = self.net.input_spec
        if spec.kind == "image":
            return to_input(x, spec.size)
        x = torch.as_tensor(x)
        if x.ndim != 3 or tuple(x.shape[1:]) != spec.shape or not x.is_floating_point():
            raise ValueError(f"{self.net.arch} reads stroke sequences: float (N, {spec.length}, {spec.features}), got "
                             f"{x.dtype} {tuple(x.shape)}; for drawings use predict_strokes")
        return x.float()


def to_input(images: np.ndarray | torch.Tensor, size: int = IMAGE_SIZE) -> torch.Tensor:
    """uint8 ``(N, size, size)`` or float ``(N, 1, size, size)`` in [0, 1] -> float32 ``(N, 1, size, size)``.

    Raises:
        ValueError: any other shape or dtype.
    """
    x = torch.as_tensor(images)
    if x.dtype == torch.uint8:
        if x.ndim == 3:
            x = x[:, None]
        x = x.float().div_(255)
    if x.ndim != 4 or x.shape[1:] != (1, size, size) or not x.is_floating_point():
        raise ValueError(f"images must be uint8 (N, {size}, {size}) or float (N, 1, {size}, {size}) in [0, 1]; "
                         f"got {x.dtype} {tuple(x.shape)}")
    return x.float()
