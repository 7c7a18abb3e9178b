"""Running an image network in onnxruntime (https://onnxruntime.ai): on CPUs without bf16
instructions its convolution kernels read most of fude's networks in fp32 1.2 to 2.3 times as fast
as PyTorch's (``bench/speed/evaluate_speed.py``), so :class:`fude.recognizer.Recognizer` hands large fp32
batches to it when the package is installed (``pip install "fude[onnx]"``) and the work repays the
set-up."""

from __future__ import annotations

import copy
import io
import warnings

import numpy as np
import torch
from torch import nn


class OrtRunner:
    """``net`` (an image network in evaluation mode) exported to ONNX in memory and opened in an
    onnxruntime session on the CPU, with the threads PyTorch has: call it on float32 ``(B, 1, S, S)``
    to get float32 logits ``(B, K)``.

    The export uses PyTorch's TorchScript-based exporter: with the session, 0.03 s for these
    networks, 0.2 s more for the first in a process (imports; ``bench/speed/evaluate_speed.py``). The
    ``torch.export``-based one, which ``fude export`` writes files with, takes seconds.

    Raises:
        ImportError: onnxruntime is not installed. RuntimeError: the export or the session failed.
    """

    def __init__(self, net: nn.Module) -> None:
        import onnxruntime as ort

        net = copy.deepcopy(net).cpu().eval().to(memory_format=torch.contiguous_format)
        buf = io.BytesIO()
        with warnings.catch_warnings():  # the TorchScript exporter announces its own deprecation
            warnings.simplefilter("ignore")
            torch.onnx.export(net, (net.example_input(2),), buf, input_names=["images"], output_names=["logits"],
                              dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17,
                              dynamo=False)
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(buf.getvalue(), options, providers=["CPUExecutionProvider"])

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        out = self.session.run(["logits"], {"images": np.ascontiguousarray(x.float().cpu().numpy())})[0]
        return torch.from_numpy(out)
