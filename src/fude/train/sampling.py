"""Which images a run or an analysis uses, and how often: stratified hold-outs, draws and folds,
class weights and a class-balanced sampler. Every stratified choice in fude is made here."""

from __future__ import annotations

import numpy as np
import torch


def stratified_split(labels: np.ndarray, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (rest, held out), sorted, with ``share`` of each class held out; ``share=0`` holds
    out nothing. As scikit-learn's stratified ``train_test_split``: ``ceil(share * N)`` images held
    out, shared among the classes in proportion to their sizes (the rounding left over going to the
    largest remainders, ties in random order), each class's drawn at random (NumPy's generator from
    ``seed``; a different draw from scikit-learn's, whose import would add most of a second and
    ~70 MiB to every run with a validation split).

    Raises:
        ValueError: too few images to hold out one of every class and keep one for training.
    """
    idx = np.arange(len(labels))
    if share == 0:
        return idx, idx[:0]
    counts = np.bincount(labels)
    classes, held = int((counts > 0).sum()), int(np.ceil(share * len(labels)))
    if counts[counts > 0].min() < 2 or held < classes or len(labels) - held < classes:
        need = max(2 * classes, int(np.ceil(classes / share)), int(np.ceil(classes / (1 - share))))
        raise ValueError(f"a validation split of {share:g} cannot hold out one image of each of the {classes} classes "
                         f"and train on the rest: it needs at least 2 images of every class and {need:,} in all "
                         f"(there are {len(labels):,}, the fewest in a class {counts[counts > 0].min()}); give more "
                         f"images, or train without validation: --val-split 0")
    rng = np.random.default_rng(seed)
    exact = counts * (held / len(labels))  # each class's share of the held-out images
    take = np.floor(exact).astype(np.int64)
    by_remainder = np.lexsort((rng.random(len(counts)), take - exact))  # largest remainder first, ties at random
    take[by_remainder[: held - int(take.sum())]] += 1
    by_class = np.argsort(labels, kind="stable")  # the indices grouped by class, classes in order
    starts = np.cumsum(counts) - counts
    out = np.concatenate([rng.permutation(by_class[a: a + n])[:k] for a, n, k in zip(starts, counts, take) if k])
    held_out = np.zeros(len(labels), bool)
    held_out[out] = True
    return idx[~held_out], idx[held_out]


def stratified_sample(labels: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """At most ``n`` indices, sorted, the same share from every class (all of them if there are
    no more than ``n``)."""
    if len(labels) <= n:
        return np.arange(len(labels))
    from sklearn.model_selection import train_test_split

    idx, _ = train_test_split(np.arange(len(labels)), train_size=n, stratify=labels, random_state=seed)
    return np.sort(idx)


def cv_folds(labels: np.ndarray, k: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified ``k``-fold split (scikit-learn ``StratifiedKFold``, shuffled with ``seed``):
    ``[(train indices, test indices), ...]``; the test folds are disjoint and cover every image.

    Raises:
        ValueError: k < 2, or a class with fewer than k images.
    """
    from sklearn.model_selection import StratifiedKFold

    if k < 2:
        raise ValueError(f"folds must be at least 2, got {k}")
    counts = np.bincount(labels)
    if counts[counts > 0].min() < k:
        raise ValueError(f"{k}-fold cross-validation needs at least {k} images of every class; the smallest class "
                         f"has {counts[counts > 0].min()}")
    return list(StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(np.zeros(len(labels)), labels))


def class_weights(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Balanced class weights ``n / (classes * count)`` (the formula of scikit-learn's
    ``compute_class_weight("balanced")``, King & Zeng 2001, without its import: most of a second)
    over the classes present in ``labels``; a class with no images gets weight 0. Returns
    ``(num_classes,)`` float32."""
    counts = np.bincount(labels, minlength=num_classes)
    present = counts > 0
    w = np.zeros(num_classes, np.float32)
    w[present] = len(labels) / (present.sum() * counts[present])
    return w


def balanced_order(labels: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` indices into ``labels`` drawn with replacement so that every class present is drawn
    equally often on average (probability of an image ∝ 1 / its class count)."""
    counts = torch.bincount(labels)
    p = (1.0 / counts.double())[labels]
    return torch.multinomial(p, n, replacement=True, generator=generator)
