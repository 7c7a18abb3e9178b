"""Model summaries: a layer table like Keras' ``model.summary()``, plus FLOPs per image.

    >>> import fude
    >>> from fude.summary import model_summary, format_summary
    >>> print(format_summary(model_summary(fude.load_model("kmnist").net)))
"""

from __future__ import annotations

import copy

import torch
from torch import nn


def model_summary(model: nn.Module) -> dict:
    """Run one input (``model.example_input(1)``: a ``(1, 1, 28, 28)`` image, or a sequence for the
    stroke models) through a copy of ``model`` and describe every layer.

    Returns:
        ``{"layers": [{"name", "type", "output_shape", "params", "trainable"}, ...], "total_params",
        "trainable_params", "non_trainable_params", "forward_flops", "train_flops"}``. A layer row is
        a module with no sub-modules, or one that holds parameters of its own; ``output_shape`` is a
        tuple with ``None`` for the batch dimension, or ``None`` for a layer the forward pass never
        called; ``params`` counts the layer's own parameters (so the rows sum to ``total_params``);
        ``trainable`` is True, False, or ``"partly"``. ``buffer_values`` counts the floating-point
        buffers (batch-norm running mean and variance), which Keras lists as non-trainable parameters. FLOPs are per image and count a multiply-add
        as 2 (``torch.utils.flop_counter``): ``forward_flops`` for inference, ``train_flops`` for
        forward + backward.
    """
    from torch.utils.flop_counter import FlopCounterMode

    probe = copy.deepcopy(model).eval()  # a copy: the probe must not touch the model's batch-norm statistics
    shapes: dict[str, tuple] = {}
    rows, hooks = [], []
    for name, m in probe.named_modules():
        own = list(m.parameters(recurse=False))
        if next(m.children(), None) is not None and not own:
            continue  # a container: its children have rows
        grads = {p.requires_grad for p in own}
        rows.append({"name": name or type(m).__name__, "type": type(m).__name__, "output_shape": None,
                     "params": sum(p.numel() for p in own),
                     "trainable": (grads.pop() if len(grads) == 1 else "partly") if own else False})

        def hook(_m, _inp, out, name=rows[-1]["name"]):
            if isinstance(out, torch.Tensor):
                shapes[name] = (None, *out.shape[1:])
        hooks.append(m.register_forward_hook(hook))
    device = next(probe.parameters()).device
    x = model.example_input(1).to(device)
    with torch.no_grad(), FlopCounterMode(display=False) as fwd:
        probe(x)
    for h in hooks:
        h.remove()
    for r in rows:
        r["output_shape"] = shapes.get(r["name"])
    probe.train()
    with FlopCounterMode(display=False) as both:
        probe(model.example_input(2).to(device)).sum().backward()
    params = list(model.parameters())
    total = sum(p.numel() for p in params)
    trainable = sum(p.numel() for p in params if p.requires_grad)
    return {"layers": rows, "total_params": total, "trainable_params": trainable,
            "non_trainable_params": total - trainable,
            "buffer_values": sum(b.numel() for b in model.buffers() if b.is_floating_point()),
            "forward_flops": fwd.get_total_flops(),
            "train_flops": both.get_total_flops() // 2}


def format_summary(s: dict, title: str = "") -> str:
    """The summary as a text table (layer, type, output shape, parameters, trainable) and totals."""
    def shape(t):
        return "-" if t is None else "(" + ", ".join("N" if d is None else str(d) for d in t) + ")"
    def column(title: str, cells: list[str]) -> int:  # as wide as its longest cell, and 2 spaces
        return max(map(len, [title, *cells])) + 2

    width = column("layer", [r["name"] for r in s["layers"]])
    kind = column("type", [r["type"] for r in s["layers"]])
    shapes = column("output shape", [shape(r["output_shape"]) for r in s["layers"]])
    head = f"{'layer':<{width}}{'type':<{kind}}{'output shape':<{shapes}}{'params':>10}  trainable"
    lines = ([title] if title else []) + [head, "-" * len(head)]
    for r in s["layers"]:
        tr = {True: "yes", False: "no"}.get(r["trainable"], r["trainable"]) if r["params"] else ""
        lines.append(f"{r['name']:<{width}}{r['type']:<{kind}}{shape(r['output_shape']):<{shapes}}{r['params']:>10,}  {tr}")
    lines += ["-" * len(head),
              f"total parameters: {s['total_params']:,} (trainable {s['trainable_params']:,}, "
              f"non-trainable {s['non_trainable_params']:,}); batch-norm statistics: {s['buffer_values']:,} values",
              f"FLOPs per image: {s['forward_flops'] / 1e6:.2f} M forward, {s['train_flops'] / 1e6:.2f} M training "
              f"(forward + backward)"]
    return "\n".join(lines)
