"""Evaluation: accuracy, balanced accuracy, per-class precision/recall/F1 with each class's
character and code point, and the confusion matrix (scikit-learn's definitions, computed with
NumPy), with optional test-time augmentation."""

from __future__ import annotations

import csv
import io
import logging
import time
from pathlib import Path

import numpy as np
import torch

from fude.classmap import ClassMap
from fude.datasets import Dataset, SequenceDataset
from fude.files import atomic_write, npy_bytes
from fude.recognizer import Recognizer

logger = logging.getLogger(__name__)

# Test-time augmentation levels: the pixel shifts (dy, dx) whose softmax outputs are averaged.
TTA_SHIFTS = {
    0: [(0, 0)],
    1: [(0, 0), (0, 1), (0, -1), (1, 0), (-1, 0)],
    2: [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)],
}


def shift_images(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Shift ``(N, 1, H, W)`` images by whole pixels, filling with 0 (the black background)."""
    out = torch.zeros_like(x)
    h, w = x.shape[-2:]
    out[..., max(dy, 0): h + min(dy, 0), max(dx, 0): w + min(dx, 0)] = \
        x[..., max(-dy, 0): h + min(-dy, 0), max(-dx, 0): w + min(-dx, 0)]
    return out


def predict_proba(rec: Recognizer, images: np.ndarray, tta: int = 0, batch_size: int = 512) -> np.ndarray:
    """Class probabilities ``(N, K)`` float32 for uint8 ``(N, S, S)`` images (S the network's input
    size, 28 for the datasets), averaged over the shifts of TTA level ``tta`` (0: none, 1: 5 views,
    2: 9 views); for a sequence model, of float32 ``(N, T, 7)`` stroke sequences (no TTA).

    Raises:
        ValueError: unknown TTA level.
    """
    if tta not in TTA_SHIFTS:
        raise ValueError(f"tta level must be one of {sorted(TTA_SHIFTS)}, got {tta}")
    if rec.net.input_kind == "sequence":  # stroke sequences (N, T, 7): no pixels to shift
        if tta:
            raise ValueError(f"test-time augmentation shifts images; {rec.net.arch} reads stroke sequences")
        return rec.predict_proba(images, batch_size)
    x = rec.to_inputs(images)
    probs = torch.zeros(len(x), len(rec.class_map))
    for dy, dx in TTA_SHIFTS[tta]:
        probs += torch.from_numpy(rec.predict_proba(shift_images(x, dy, dx) if dy or dx else x, batch_size))
    return (probs / len(TTA_SHIFTS[tta])).numpy()


def scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    """``accuracy`` and ``balanced_accuracy`` (the mean recall over the classes present in
    ``y_true``, as scikit-learn's ``balanced_accuracy_score``; Brodersen et al., ICPR 2010) of int
    class indices ``(N,)``; 0 for no images. Training's validation and every evaluation use this."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if not len(y_true):
        return {"accuracy": 0.0, "balanced_accuracy": 0.0}
    hit = (y_true == y_pred).astype(np.float64)
    counts = np.bincount(y_true)
    recall = np.bincount(y_true, weights=hit)[counts > 0] / counts[counts > 0]
    return {"accuracy": float(hit.mean()), "balanced_accuracy": float(recall.mean())}


def confusion(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """The confusion matrix: int64 ``(K, K)`` counts, rows the true class and columns the predicted
    one (scikit-learn's ``confusion_matrix`` with ``labels=range(K)``), of int class indices ``(N,)``.

    Raises:
        ValueError: an index outside ``[0, K)``, or arrays of different lengths.
    """
    y_true, y_pred = np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{len(y_true)} true classes but {len(y_pred)} predictions")
    for name, y in (("true", y_true), ("predicted", y_pred)):
        if len(y) and (y.min() < 0 or y.max() >= num_classes):
            raise ValueError(f"a {name} class index outside 0..{num_classes - 1}: {int(y.min())}..{int(y.max())}")
    return np.bincount(y_true * num_classes + y_pred, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def per_class_scores(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int,
                     cm: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Precision, recall, F1 (``2 TP / (2 TP + FP + FN)``) and support per class, each
    ``(num_classes,)``, 0 where undefined: scikit-learn's ``precision_recall_fscore_support(...,
    zero_division=0)``, from the confusion matrix (``cm``, when it is already counted). NumPy only:
    scikit-learn's import alone is most of a second of ``fude evaluate``."""
    cm = confusion(y_true, y_pred, num_classes) if cm is None else cm
    tp, support, predicted = np.diag(cm).astype(np.float64), cm.sum(1), cm.sum(0)

    def share(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.divide(a, b, out=np.zeros(len(a)), where=b > 0)

    return {"precision": share(tp, predicted), "recall": share(tp, support),
            "f1": share(2 * tp, support + predicted), "support": support}


def metrics(y_true: np.ndarray, y_pred: np.ndarray, class_map: ClassMap) -> dict:
    """Accuracy, balanced accuracy, per-class figures and confusion matrix.

    Args:
        y_true, y_pred: int ``(N,)`` class indices.

    Returns:
        ``{"n", "accuracy", "balanced_accuracy", "per_class": [{index, char, codepoint,
        precision, recall, f1, support}], "confusion_matrix": K x K list (rows: true class)}``.
    """
    cm = confusion(y_true, y_pred, len(class_map))
    s = per_class_scores(y_true, y_pred, len(class_map), cm)
    return {
        "n": int(len(y_true)),
        **scores(y_true, y_pred),
        "per_class": [{"index": i, "char": class_map.char(i), "codepoint": class_map.codepoint(i),
                       "precision": float(s["precision"][i]), "recall": float(s["recall"][i]),
                       "f1": float(s["f1"][i]), "support": int(s["support"][i])} for i in range(len(class_map))],
        "confusion_matrix": cm.tolist(),
    }


def training_overlap(rec: Recognizer, data: Dataset | SequenceDataset) -> bool:
    """True when ``data`` shares images with what ``rec`` was trained on (its config's ``data``): the
    same files (md5), or splits of a registered dataset one of which holds the other's images
    (:func:`splits_overlap`). Scores on such data measure memory. Files of the user's own with other
    md5s never overlap, whatever their kind."""
    trained = rec.config.get("data") or {}
    md5s = {f.get("md5") for f in trained.get("files", []) if isinstance(f, dict)} - {None}
    if md5s & {f.get("md5") for f in data.source.get("files", []) if isinstance(f, dict)}:
        return True
    from fude.datasets import DATASETS

    # only registered datasets' splits can be compared by name: two sets of the user's own files
    # ("files", "csv", "folder") are the same only when their md5s say so (above)
    if trained.get("name") not in DATASETS or data.source.get("name") not in DATASETS:
        return False
    return splits_overlap((trained["name"], str(trained.get("split", ""))),
                          (data.source["name"], str(data.source.get("split", ""))))


def splits_overlap(a: tuple[str, str], b: tuple[str, str]) -> bool:
    """Whether two (dataset, split) share images: one holds the other's (``+``-joined splits part
    by part; :func:`fude.datasets.containing`)."""
    from fude.datasets import containing

    parts_a = [(a[0], p) for p in a[1].split("+")]
    parts_b = [(b[0], p) for p in b[1].split("+")]
    return any(x in containing(*y) or y in containing(*x) for x in parts_a for y in parts_b)


OVERLAP_WARNING = ("these images overlap the data the model was trained on ({trained}): the scores measure "
                   "memory, not generalisation; evaluate on held-out images for an honest estimate")


def check_class_maps(rec: Recognizer, data: Dataset | SequenceDataset) -> None:
    """Raise ValueError unless the model and the dataset name the same classes in the same order."""
    if rec.class_map != data.class_map:
        raise ValueError(f"the model's classes ({''.join(rec.class_map.chars)}) differ from the dataset's "
                         f"({''.join(data.class_map.chars)}); evaluate a model on data of its own class set")


def evaluate(rec: Recognizer, data: Dataset | SequenceDataset, tta: int = 0, batch_size: int = 512) -> dict:
    """Evaluate ``rec`` on labelled ``data``: :func:`metrics` plus ``images_per_s`` and ``tta``.

    Raises:
        ValueError: unlabelled data, or class maps that differ.
    """
    return evaluate_with_probs(rec, data, tta, batch_size)[0]


def evaluate_with_probs(rec: Recognizer, data: Dataset | SequenceDataset, tta: int = 0, batch_size: int = 512
                        ) -> tuple[dict, np.ndarray]:
    """As :func:`evaluate`, and also the class probabilities ``(N, K)`` float32 behind it."""
    run, probs = _scored(rec, data, tta, batch_size)
    return {**metrics(data.labels, probs.argmax(1), data.class_map), "tta": tta, **run}, probs


def evaluate_scores(rec: Recognizer, data: Dataset | SequenceDataset, batch_size: int = 512) -> dict:
    """As :func:`evaluate` without the per-class figures and confusion matrix: ``{"n", "accuracy",
    "balanced_accuracy", "seconds", "images_per_s", "overlaps_training_data"}``. What ``fude train
    --test-split`` reports; it leaves out scikit-learn, whose import alone takes longer (0.8 s on a
    2-core machine) than scoring 10,000 images.

    Raises:
        ValueError: unlabelled data, or class maps that differ.
    """
    run, probs = _scored(rec, data, 0, batch_size)
    return {"n": len(data), **scores(data.labels, probs.argmax(1)), **run}


def _scored(rec: Recognizer, data: Dataset | SequenceDataset, tta: int, batch_size: int) -> tuple[dict, np.ndarray]:
    """The probabilities ``(N, K)`` of labelled ``data`` (TTA level ``tta``), with the run's
    ``seconds``, ``images_per_s`` and ``overlaps_training_data`` (warned about when true)."""
    if data.labels is None:
        raise ValueError("evaluation needs labels; the dataset has none (use fude predict instead)")
    check_class_maps(rec, data)
    t0 = time.perf_counter()
    probs = predict_proba(rec, data.inputs, tta, batch_size)
    seconds = time.perf_counter() - t0
    result = {"seconds": seconds, "images_per_s": len(data) / max(seconds, 1e-9),
              "overlaps_training_data": training_overlap(rec, data)}
    if result["overlaps_training_data"]:
        logger.warning(overlap_warning(rec))
    return result, probs


def overlap_warning(rec: Recognizer) -> str:
    """The one-line warning that evaluated images overlap ``rec``'s training data, naming that data."""
    src = rec.config.get("data") or {}
    return OVERLAP_WARNING.format(trained=f"{src.get('name', 'files')} {src.get('split', '')}".strip())


def spreadsheet_safe(text: str) -> str:
    """``text`` as a CSV cell that a spreadsheet shows as text: a label that would start a formula
    (``=1+1``, ``+A1``, ``-2+3``, ``@SUM(...)``, or a tab or carriage return first) gets a leading
    ``'``, as OWASP's "CSV Injection" advice says (https://owasp.org/www-community/attacks/CSV_Injection);
    a single character (``-``, ``+``) cannot be a formula and stays as it is."""
    return "'" + text if len(text) > 1 and text[0] in "=+-@\t\r" else text


def confusion_csv(result: dict, class_map: ClassMap) -> str:
    """The confusion matrix as CSV text: header ``true\\pred,<chars>``, one row per true class."""
    buf = io.StringIO()
    w = csv.writer(buf)
    chars = [spreadsheet_safe(c) for c in class_map.chars]
    w.writerow(["true\\pred", *chars])
    for char, row in zip(chars, result["confusion_matrix"]):
        w.writerow([char, *row])
    return buf.getvalue()


def save_predictions(path: str | Path, probs: np.ndarray, class_map: ClassMap, labels: np.ndarray | None = None,
                     k: int = 5) -> tuple[Path, Path]:
    """Write per-image predictions as CSV and the full probabilities as ``.npy``.

    The CSV (``path`` with suffix ``.csv``) has one row per image: ``image`` (from 0, the row in the
    data), ``true``, ``true_char``, ``pred``, ``pred_char``, ``correct`` (the ``true`` columns empty
    without labels), then ``top1_char, top1_probability, ... topk_...``. The ``.npy`` beside it holds
    the probabilities ``(N, K)`` float32 in class-index order. Both are written atomically.

    Returns:
        (CSV path, npy path).
    """
    path = Path(path)
    csv_path, npy_path = path.with_suffix(".csv"), path.with_suffix(".npy")
    k = min(k, probs.shape[1])
    pred = probs.argmax(1)
    top = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    chars = [spreadsheet_safe(c) for c in class_map.chars]  # each class's cell, once
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["image", "true", "true_char", "pred", "pred_char", "correct",
                *[f"top{j}_{f}" for j in range(1, k + 1) for f in ("char", "probability")]])
    for i, (p, row) in enumerate(zip(pred, top)):
        if labels is None:
            truth, correct = ["", ""], ""
        else:
            truth, correct = [int(labels[i]), chars[int(labels[i])]], int(p == labels[i])
        cells = [i, *truth, int(p), chars[int(p)], correct]
        for c in row:
            cells += [chars[int(c)], f"{probs[i, c]:.6f}"]
        w.writerow(cells)
    atomic_write(csv_path, buf.getvalue().encode())
    atomic_write(npy_path, npy_bytes(probs.astype(np.float32)))
    return csv_path, npy_path


def submission_csv(predictions: np.ndarray) -> str:
    """Kaggle "Digit Recognizer" submission text: header ``ImageId,Label``, one row per image with
    ``ImageId`` counted from 1 and ``Label`` the predicted class index."""
    rows = "".join(f"{i},{int(p)}\n" for i, p in enumerate(predictions, start=1))
    return "ImageId,Label\n" + rows


def format_report(result: dict) -> str:
    """Human-readable summary and per-class table."""
    lines = [f"accuracy {result['accuracy']:.4f}  balanced accuracy {result['balanced_accuracy']:.4f}  "
             f"n {result['n']:,}  ({result['images_per_s']:,.0f} images/s, TTA level {result['tta']})",
             "", f"{'idx':>4} {'char':<5}{'code point':<11}{'precision':>10}{'recall':>8}{'f1':>8}{'support':>9}"]
    for c in result["per_class"]:
        lines.append(f"{c['index']:>4} {c['char']:<5}{c['codepoint']:<11}{c['precision']:>10.4f}{c['recall']:>8.4f}"
                     f"{c['f1']:>8.4f}{c['support']:>9}")
    return "\n".join(lines)
