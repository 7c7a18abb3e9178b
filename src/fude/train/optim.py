"""The optimizer and its schedule: SGD with Nesterov momentum and a one-cycle learning rate.

One-cycle schedule: Smith & Topin, "Super-Convergence", arXiv:1708.07120.
"""

from __future__ import annotations

import torch

from fude.models import CharClassifier
from fude.train.config import TrainConfig


class NesterovSGD:
    """SGD with Nesterov momentum (Sutskever et al., "On the importance of initialization and
    momentum in deep learning", ICML 2013) and weight decay per parameter group: the groups and
    momentum buffers laid out as in ``torch.optim.SGD`` (``param_groups``,
    ``state[param]["momentum_buffer"]``), stepped by PyTorch's functional ``torch.optim.sgd.sgd``,
    so each step is ``torch.optim.SGD(..., nesterov=True).step()`` bit for bit (a test checks).

    Not ``torch.optim.SGD`` itself: building any ``torch.optim`` optimizer, and its first step,
    imports ``torch._dynamo``, seconds of start-up on a small CPU: a large share of the quickest
    training runs (``bench/speed/mnist_speed.py``).
    """

    def __init__(self, groups: list[dict], lr: float, momentum: float) -> None:
        self.param_groups = [{"lr": lr, "momentum": momentum, "dampening": 0.0, "nesterov": True, "maximize": False,
                              "foreach": None, "fused": None, **g} for g in groups]
        self.state: dict[torch.Tensor, dict] = {p: {} for g in self.param_groups for p in g["params"]}

    def zero_grad(self) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    def set_lr(self, lr: float) -> None:
        """The learning rate of every group, for the next step."""
        for group in self.param_groups:
            group["lr"] = lr

    @torch.no_grad()
    def step(self) -> None:
        from torch.optim.sgd import sgd

        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            buffers = [self.state[p].get("momentum_buffer") for p in params]
            sgd(params, [p.grad for p in params], buffers, weight_decay=group["weight_decay"],
                momentum=group["momentum"], lr=group["lr"], dampening=group["dampening"],
                nesterov=group["nesterov"], maximize=group["maximize"], foreach=group["foreach"],
                fused=group["fused"])
            for p, buf in zip(params, buffers):
                self.state[p]["momentum_buffer"] = buf

    def params(self) -> list[torch.Tensor]:
        """Every parameter, in group order: the order checkpoints number the momentum buffers by."""
        return [p for group in self.param_groups for p in group["params"]]


def make_optimizer(model: CharClassifier, cfg: TrainConfig) -> NesterovSGD:
    """SGD with Nesterov momentum over the trained parameters; weight decay on the weights of
    convolutions and linear layers only (not on biases and batch-norm scales)."""
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    rest = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
    return NesterovSGD([{"params": decay, "weight_decay": cfg.weight_decay}, {"params": rest, "weight_decay": 0.0}],
                       lr=cfg.lr, momentum=cfg.momentum)


def lr_at(step: int, total: int, peak: float, warmup: float) -> float:
    """One-cycle schedule: linear rise from 0.1*peak to peak over ``warmup`` of the steps, then
    linear decay to 0 at ``total``."""
    rise = max(1, round(warmup * total))
    if step < rise:
        return peak * (0.1 + 0.9 * step / rise)
    return peak * max(0.0, (total - step) / max(1, total - rise))
