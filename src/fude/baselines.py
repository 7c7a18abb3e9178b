"""Classical baselines (scikit-learn) to put beside the CNNs, with the same metrics as ``fude evaluate``.

- ``dummy``: always the most frequent training class (the floor any model must beat);
- ``knn``: 4 nearest neighbours on raw pixels, distance-weighted — the Kuzushiji-MNIST benchmark's
  baseline (https://github.com/rois-codh/kmnist, ``benchmarks/kuzushiji_mnist_knn.py``; published
  97.14% on MNIST, 92.10% on KMNIST);
- ``pca-knn``: the same 4-NN on the first ``components`` principal components (published 97.76% on
  MNIST in the same table);
- ``svm``: an RBF-kernel support vector machine (``SVC(C=5, gamma="scale")``) on pixels in [0, 1].
  Its training time grows with the square of the training-set size (minutes for the 60,000 MNIST
  images on a small CPU), so ``max_train`` is useful for a first look.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from fude.datasets import Dataset

BASELINES = ("dummy", "knn", "pca-knn", "svm")
logger = logging.getLogger(__name__)


def make_baseline(method: str, components: int = 40, seed: int = 0):
    """An unfitted scikit-learn estimator for ``method`` that takes float32 rows ``(N, 784)`` in [0, 1].

    Raises:
        ValueError: an unknown method.
    """
    from sklearn.decomposition import PCA
    from sklearn.dummy import DummyClassifier
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import SVC

    knn = KNeighborsClassifier(n_neighbors=4, weights="distance", n_jobs=-1)
    if method == "dummy":
        return DummyClassifier(strategy="most_frequent")
    if method == "knn":
        return knn
    if method == "pca-knn":
        return make_pipeline(PCA(n_components=components, random_state=seed), knn)
    if method == "svm":
        return SVC(C=5.0, gamma="scale", random_state=seed)
    raise ValueError(f"unknown baseline {method!r}; known: {', '.join(BASELINES)}")


def _rows(images: np.ndarray) -> np.ndarray:
    return images.reshape(len(images), -1).astype(np.float32) / 255


def fit_predict(method: str, train: Dataset, images: np.ndarray, components: int = 40, seed: int = 0,
                max_train: int | None = None) -> tuple[np.ndarray, float, float]:
    """Fit ``method`` on labelled ``train`` and predict uint8 ``images`` ``(N, 28, 28)``.

    Args:
        max_train: fit on a stratified random draw of at most this many training images.

    Returns:
        (predicted class indices ``(N,)`` int64, fit seconds, predict seconds).

    Raises:
        ValueError: unknown method, or training data without labels.
    """
    if train.labels is None:
        raise ValueError("a baseline needs labelled training data")
    est = make_baseline(method, components, seed)
    x, y = train.images, train.labels
    if max_train:
        from fude.train.sampling import stratified_sample

        idx = stratified_sample(y, max_train, seed)
        x, y = x[idx], y[idx]
    t0 = time.perf_counter()
    est.fit(_rows(x), y)
    t1 = time.perf_counter()
    pred = np.asarray(est.predict(_rows(images)), dtype=np.int64)
    return pred, t1 - t0, time.perf_counter() - t1


def run_baseline(method: str, train: Dataset, test: Dataset, components: int = 40, seed: int = 0,
                 max_train: int | None = None) -> dict:
    """Fit on ``train``, evaluate on labelled ``test``: :func:`fude.evaluate.metrics` plus
    ``method``, ``n_train``, ``fit_seconds``, ``seconds`` (prediction) and ``images_per_s``.

    Raises:
        ValueError: unknown method, unlabelled data, or class maps that differ.
    """
    from fude.evaluate import metrics

    if test.labels is None:
        raise ValueError("evaluation needs labels; the test data has none")
    if train.class_map != test.class_map:
        raise ValueError("the training and test data have different class maps")
    pred, fit_s, pred_s = fit_predict(method, train, test.images, components, seed, max_train)
    result = metrics(test.labels, pred, test.class_map)
    result.update({"method": method, "n_train": min(len(train), max_train or len(train)), "fit_seconds": fit_s,
                   "seconds": pred_s, "images_per_s": len(test) / max(pred_s, 1e-9), "tta": 0})
    return result


def baseline_folds(method: str, data: Dataset, components: int = 40, seed: int = 0):
    """Fold ``k`` of a baseline's cross-validation (:func:`fude.train.cv.cross_validate`): fit on the
    fold's complement, predict the fold."""
    def fit_predict_fold(k: int, tr: np.ndarray, te: np.ndarray) -> np.ndarray:
        pred, fit_s, _ = fit_predict(method, data.subset(tr), data.images[te], components, seed)
        logger.info(f"fold {k}: {method} fit in {fit_s:.1f} s")
        return pred

    return fit_predict_fold
