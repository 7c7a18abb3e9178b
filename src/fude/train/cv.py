"""Stratified k-fold cross-validation: one loop for training recipes and classical baselines."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np

from fude.datasets import Dataset, SequenceDataset
from fude.files import atomic_write_json
from fude.train.config import TrainConfig
from fude.train.sampling import cv_folds

logger = logging.getLogger(__name__)

FitPredict = Callable[[int, np.ndarray, np.ndarray], np.ndarray]  # (fold, train indices, test indices) -> predictions


def cross_validate(data: Dataset | SequenceDataset, folds: int, seed: int, fit_predict: FitPredict, out: str | Path,
                   about: dict | None = None) -> dict:
    """Stratified ``folds``-fold cross-validation (:func:`fude.train.sampling.cv_folds` with ``seed``):
    ``fit_predict(k, train_idx, test_idx)`` fits on fold ``k``'s complement and returns its
    predicted class indices for the fold's images; their accuracy is the fold's score. Writes
    ``out/cv.json``.

    Returns:
        ``{"folds": [accuracy per fold], "mean", "std", "k", **about}``.

    Raises:
        ValueError: unlabelled data, fewer than 2 folds or a class with fewer images than folds.
    """
    if data.labels is None:
        raise ValueError("cross-validation needs labelled data")
    accs = []
    for k, (tr, te) in enumerate(cv_folds(data.labels, folds, seed), start=1):
        logger.info(f"fold {k}/{folds}: train {len(tr):,}, test {len(te):,}")
        accs.append(float((fit_predict(k, tr, te) == data.labels[te]).mean()))
        logger.info(f"fold {k}/{folds}: test accuracy {accs[-1]:.4f}")
    result = {"folds": accs, "mean": float(np.mean(accs)), "std": float(np.std(accs)), "k": folds, **(about or {})}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "cv.json", result)
    logger.info(f"{folds}-fold accuracy {result['mean']:.4f} ± {result['std']:.4f}")
    return result


def recipe_folds(cfg: TrainConfig, data: Dataset | SequenceDataset, out: str | Path, progress: bool = True,
                 extra_config: dict | None = None) -> FitPredict:
    """Fold ``k`` of a training recipe: train ``cfg`` (with no further hold-out) on the fold's
    complement into ``out/fold-K/`` and predict the fold. A finished fold is kept and a started one
    resumes, so an interrupted cross-validation goes on where it stopped."""
    from fude.recognizer import load_model
    from fude.train.loop import train

    fold_cfg = cfg.replace(val_split=0.0, early_stopping=0)

    def fit_predict(k: int, tr: np.ndarray, te: np.ndarray) -> np.ndarray:
        fold_dir = Path(out) / f"fold-{k}"
        if (fold_dir / "model.safetensors").exists():  # finished before an interruption: keep it
            logger.info(f"fold {k}: already trained")
        else:
            started = any((fold_dir / f).exists() for f in ("checkpoint.safetensors", "checkpoint.json"))
            train(fold_cfg, data.subset(tr), fold_dir, resume=started, progress=progress, extra_config=extra_config)
        return load_model(fold_dir).predict_proba(data.inputs[te]).argmax(1)

    return fit_predict


def cross_validate_recipe(cfg: TrainConfig, data: Dataset | SequenceDataset, folds: int, out: str | Path,
                          progress: bool = True, extra_config: dict | None = None) -> dict:
    """:func:`cross_validate` of a training recipe (:func:`recipe_folds`); the result also holds
    the recipe as ``config``."""
    return cross_validate(data, folds, cfg.seed, recipe_folds(cfg, data, out, progress, extra_config), out,
                          {"config": asdict(cfg)})
