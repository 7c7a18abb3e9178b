"""The network a training run trains: built fresh from its config and data, or started from a
trained model with a new head (fine-tuning)."""

from __future__ import annotations

import torch

from fude.datasets import IMAGE_SIZE, Dataset, SequenceDataset
from fude.models import CharClassifier, arch_spec, create_model
from fude.train.config import TrainConfig


def build_model(cfg: TrainConfig, data: Dataset | SequenceDataset, mean: float, std: float) -> CharClassifier:
    """A fresh network for ``data`` (its class count and input shape), or with ``cfg.init_from`` a
    trained one with a new head (:func:`start_from`).

    Raises:
        ValueError: the architecture reads images and the data are sequences, or the other way round.
    """
    if cfg.init_from:
        model = start_from(cfg.init_from, len(data.class_map), cfg.freeze)
    else:
        if arch_spec(cfg.arch).input_kind != data.kind:
            raise ValueError(f"{cfg.arch} reads {arch_spec(cfg.arch).input_kind}s but the data are " + (
                "stroke sequences: use a stroke-* architecture (stroke-conv1d, stroke-gru, stroke-lstm)"
                if data.kind == "sequence" else "images: give stroke sequences (--sequences), or an image "
                "architecture (fude-cnn, fude-cnn-l, keras-cnn)"))
        # the network reads inputs shaped as the data's: images as large, sequences as long
        shape = {"length": data.sequences.shape[1]} if data.kind == "sequence" else \
            {"image_size": data.images.shape[1]} if data.images.shape[1] != IMAGE_SIZE else {}
        model = create_model(cfg.arch, num_classes=len(data.class_map), mean=mean, std=std, **{**cfg.model_config, **shape})
    if model.input_kind != data.kind:
        raise ValueError(f"{model.arch} reads {model.input_kind}s but the data are {data.kind}s")
    return model


def start_from(name_or_dir: str, num_classes: int, freeze: int = 0) -> CharClassifier:
    """Fine-tuning: a trained model's network with a new, freshly initialised head for
    ``num_classes`` classes and its first ``freeze`` blocks frozen (``requires_grad=False``).
    Transfer learning as in Yosinski et al., "How transferable are features in deep neural
    networks?", NeurIPS 2014.

    Raises:
        ModelError: no such model. ValueError: ``freeze`` above the network's block count.
    """
    from fude.models.store import load_network

    net = load_network(name_or_dir)[0]
    if freeze > len(net.blocks):
        raise ValueError(f"cannot freeze {freeze} blocks: {name_or_dir} has {len(net.blocks)}")
    net.reset_classifier(num_classes)
    for block in net.blocks[:freeze]:
        for p in block.parameters():
            p.requires_grad = False
    return net.to(memory_format=torch.contiguous_format)
