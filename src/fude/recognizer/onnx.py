"""Reading without PyTorch: :class:`OnnxRecognizer` runs a model folder's ONNX file (``model.onnx``,
written beside the weights by ``fude export MODEL --in-model``; the shipped models carry one) in
onnxruntime (https://onnxruntime.ai) on the CPU, and reads images and drawings exactly as
:class:`fude.recognizer.Recognizer` does (the same :class:`~fude.recognizer.base.BaseRecognizer`):
the same top-1 and probabilities within 1e-4 of PyTorch's (tested). Importing it, onnxruntime and
NumPy takes about 0.1 s where PyTorch takes over a second."""

from __future__ import annotations

import numpy as np

from fude.classmap import ClassMap
from fude.errors import ModelError
from fude.models.spec import InputSpec
from fude.recognizer.base import BaseRecognizer, image_array, softmax
from fude.recognizer.config import RecognizerConfig


class OnnxRecognizer(BaseRecognizer):
    """A recognizer whose network is an ONNX graph run by onnxruntime, in fp32 on the CPU.

    The graph reads ``images`` float32 ``(N, 1, S, S)`` in [0, 1] or stroke sequences float32
    ``(N, T, F)`` (its input's shape says which) and returns ``logits`` float32 ``(N, K)``.

    Args:
        model: the ONNX file's bytes (checked by the caller: :func:`fude.recognizer.load_model`
            verifies its sha256 against the config).
        threads: onnxruntime's threads per call (0: its default, one per physical core).
        Others as :class:`~fude.recognizer.base.BaseRecognizer`.

    Attributes:
        input_spec: what the graph reads, from its input's shape.
        precision, backend, device: ``"fp32"``, ``"onnxruntime"``, ``"cpu"`` (as in
            :class:`~fude.recognizer.Recognizer`).

    Raises:
        ImportError: onnxruntime is not installed.
        ModelError: the bytes are not an ONNX graph onnxruntime can run, or its input or output does
            not fit fude's networks or the class map.
    """

    precision = "fp32"
    backend = "onnxruntime"
    device = "cpu"
    runs_onnxruntime = True

    def __init__(self, model: bytes, class_map: ClassMap, settings: RecognizerConfig | None = None,
                 config: dict | None = None, companion: BaseRecognizer | None = None, threads: int = 0) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only: its warnings about unused initialisers are not the user's
        try:
            self.session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own Fail/InvalidGraph/... types
            raise ModelError(f"onnxruntime could not open the ONNX graph: {e}") from e
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        shape = inputs[0].shape if len(inputs) == 1 else []
        if len(shape) == 4 and shape[1] == 1 and isinstance(shape[2], int) and shape[2] == shape[3]:
            self.input_spec = InputSpec("image", size=shape[2])
        elif len(shape) == 3 and isinstance(shape[1], int) and isinstance(shape[2], int):
            self.input_spec = InputSpec("sequence", length=shape[1], features=shape[2])
        else:
            raise ModelError(f"the ONNX graph reads {[(i.name, i.shape) for i in inputs]}, not one input of images "
                             f"(N, 1, S, S) or stroke sequences (N, T, F)")
        if self.input_spec.problem():
            raise ModelError(f"the ONNX graph reads {self.input_spec.problem()}")
        # the logits (the only output, or the one so named) and, where the graph gives them, the features
        # before the head (fude.export.with_features_output), which a writer's memory compares drawings by
        named = {o.name: o for o in outputs}
        logits = outputs[0] if len(outputs) == 1 else named.get("logits")
        if logits is None or logits.shape[-1] != len(class_map) or len(outputs) > 2 \
                or (len(outputs) == 2 and "features" not in named):
            raise ModelError(f"the ONNX graph gives {[(o.name, o.shape) for o in outputs]}, not the logits of the "
                             f"class map's {len(class_map)} classes (and optionally their features)")
        self._input, self._output = inputs[0].name, logits.name
        self._features = "features" if "features" in named and len(outputs) == 2 else None
        super().__init__(class_map, settings, config, companion)

    def precision_for(self, n: int) -> str:
        """The precision a call on ``n`` inputs runs in: always fp32."""
        return "fp32"

    def to_inputs(self, x) -> np.ndarray:
        """Check and convert what the network reads: images (uint8 ``(N, S, S)`` or float ``(N, 1,
        S, S)`` in [0, 1]) or float ``(N, T, F)`` stroke sequences -> float32, C-contiguous.

        Raises:
            ValueError: another shape or dtype.
        """
        spec = self.input_spec
        if spec.kind == "image":
            return image_array(x, spec.size)
        x = np.asarray(x)
        if x.ndim != 3 or tuple(x.shape[1:]) != spec.shape or x.dtype.kind != "f":
            raise ValueError(f"this model reads stroke sequences: float (N, {spec.length}, {spec.features}), got "
                             f"{x.dtype} {tuple(x.shape)}; for drawings use predict_strokes")
        return np.ascontiguousarray(x, np.float32)

    def logits(self, inputs, batch_size: int = 512) -> np.ndarray:
        """Logits float32 ``(N, num_classes)``; input as for :meth:`to_inputs`, run ``batch_size`` at
        a time.

        Raises:
            ValueError: input of another shape or dtype than the network reads.
        """
        x = self.to_inputs(inputs)
        if not len(x):
            return np.zeros((0, len(self.class_map)), np.float32)
        return np.concatenate([self.session.run([self._output], {self._input: x[i: i + batch_size]})[0]
                               for i in range(0, len(x), batch_size)])

    def logits_and_features(self, inputs, batch_size: int = 512) -> tuple[np.ndarray, np.ndarray]:
        """Logits float32 ``(N, num_classes)`` and the features before the head float32 ``(N, D)``,
        from one run of the graph.

        Raises:
            ModelError: a graph without a ``features`` output (``fude export`` writes one).
            ValueError: input of another shape or dtype than the network reads.
        """
        if self._features is None:
            raise ModelError("this model's ONNX graph gives no 'features' output, which a writer's memory needs; "
                             "write it again with fude export --in-model")
        x = self.to_inputs(inputs)
        if not len(x):
            return np.zeros((0, len(self.class_map)), np.float32), np.zeros((0, 0), np.float32)
        runs = [self.session.run([self._output, self._features], {self._input: x[i: i + batch_size]})
                for i in range(0, len(x), batch_size)]
        return np.concatenate([r[0] for r in runs]), np.concatenate([r[1] for r in runs])

    def predict_proba(self, inputs, batch_size: int = 512) -> np.ndarray:
        """Class probabilities float32 ``(N, num_classes)``; input as for :meth:`to_inputs`."""
        return softmax(self.logits(inputs, batch_size))
