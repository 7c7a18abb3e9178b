"""Inference copies of the networks with each batch norm folded into the convolution before it.

In evaluation a batch norm is a fixed per-channel affine map, ``a * x + b`` with ``a = gamma /
sqrt(var + eps)`` and ``b = beta - mean * a``; folded into the convolution's weights (``W * a``) and
bias (``b``) it costs nothing (Ioffe & Szegedy, arXiv:1502.03167, section 3.2; the usual "conv-BN
fusion"). fude-cnn pools between the convolution and the batch norm; a max-pool commutes with the
affine map where ``a > 0``, so such a stage is folded when every channel's scale is positive and
left as it is otherwise. The copy gives the same logits up to float rounding (a test checks).
"""

from __future__ import annotations

import copy

import torch
from torch import nn


def fold(conv: nn.Conv2d | nn.Conv1d | nn.Linear, bn: nn.BatchNorm2d | nn.BatchNorm1d) -> nn.Module:
    """A convolution (or linear layer) equal to ``bn(conv(x))`` in evaluation (float32 weights)."""
    a = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
    b = bn.bias.detach() - bn.running_mean * a
    fused = copy.deepcopy(conv)
    shape = (-1,) + (1,) * (conv.weight.dim() - 1)
    fused.weight = nn.Parameter(conv.weight.detach() * a.reshape(shape), requires_grad=False)
    bias = conv.bias.detach() * a if conv.bias is not None else torch.zeros_like(a)
    fused.bias = nn.Parameter(bias + b, requires_grad=False)
    return fused


def fold_sequential(seq: nn.Sequential) -> nn.Sequential:
    """``seq`` with each ``conv, [max-pool,] batch norm`` run folded (see the module doc)."""
    layers, out, i = list(seq), [], 0
    while i < len(layers):
        layer = layers[i]
        if isinstance(layer, (nn.Conv2d, nn.Conv1d, nn.Linear)):
            pool = i + 1 < len(layers) and isinstance(layers[i + 1], (nn.MaxPool2d, nn.MaxPool1d))
            j = i + 1 + pool
            if j < len(layers) and isinstance(layers[j], (nn.BatchNorm2d, nn.BatchNorm1d)):
                bn = layers[j]
                scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
                if not pool or bool((scale > 0).all()):
                    out += [fold(layer, bn)] + ([layers[i + 1]] if pool else [])
                    i = j + 1
                    continue
        out.append(fold_sequential(layer) if isinstance(layer, nn.Sequential) else layer)
        i += 1
    return nn.Sequential(*out)


@torch.no_grad()
def fused_for_inference(net: nn.Module) -> nn.Module:
    """A copy of ``net`` in evaluation mode with its batch norms folded where they can be; ``net``
    itself is left as it is (fine-tuning and export need its layers)."""
    copy_ = copy.deepcopy(net).eval()
    for name, child in list(copy_.named_children()):
        if isinstance(child, nn.ModuleList):
            setattr(copy_, name, nn.ModuleList([fold_sequential(b) if isinstance(b, nn.Sequential) else b
                                                for b in child]))
        elif isinstance(child, nn.Sequential):
            setattr(copy_, name, fold_sequential(child))
    for p in copy_.parameters():
        p.requires_grad_(False)
    return copy_
