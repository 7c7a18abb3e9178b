"""FLOPs per image of a network's matrix products: training FLOPs for the samples/s and GFLOP/s
every epoch reports, forward FLOPs for the choice of inference backend."""

from __future__ import annotations

import copy
import math

import torch

from fude.models.base import CharClassifier


def flops_per_image(model: CharClassifier, device: torch.device, training: bool = True) -> int:
    """Training FLOPs per image (forward + backward) of the model's matrix products, or with
    ``training=False`` those of the forward pass alone (inference).

    Convolutions and linear layers are counted from their shapes as ``torch.utils.flop_counter``
    counts them (a multiply-add is 2 FLOPs; a test checks the two agree): the forward pass
    2 x (output elements) x (inputs per output element), the same again for the weight gradient
    when the weight is trained, and again for the input gradient when the layer's input needs one
    (not the first layer's). Models with recurrent layers (``stroke-gru``, ``stroke-lstm``) are
    counted by ``FlopCounterMode`` itself; the CNNs skip it because its first use imports
    ``torch._dynamo``, seconds of start-up in a training run of a few seconds.
    """
    probe = copy.deepcopy(model)  # a copy: the probe pass must not touch the real batch-norm statistics
    x = model.example_input(2).to(device)
    if any(isinstance(m, torch.nn.RNNBase) for m in probe.modules()):
        from torch.utils.flop_counter import FlopCounterMode

        with FlopCounterMode(display=False) as counter:
            if training:
                probe(x).sum().backward()
            else:
                with torch.no_grad():
                    probe(x)
        return counter.get_total_flops() // 2
    total = 0

    def count(layer: torch.nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        fan_in = (layer.in_features if isinstance(layer, torch.nn.Linear)
                  else layer.in_channels // layer.groups * math.prod(layer.kernel_size))
        forward = 2 * output.numel() * fan_in
        total += forward * (1 + layer.weight.requires_grad + inputs[0].requires_grad if training else 1)

    hooks = [m.register_forward_hook(count) for m in probe.modules()
             if isinstance(m, (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d))]
    with torch.enable_grad():
        probe.head(probe.forward_features(x))  # through the layers' own calls, so every hook fires
    for h in hooks:
        h.remove()
    return total // 2
