import numpy as np
import pytest
import torch

from fude.classmap import ClassMap
from fude.evaluate import confusion_csv, metrics, shift_images


def test_metrics_against_direct_counts():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 500)
    pred = np.where(rng.random(500) < 0.8, y, rng.integers(0, 10, 500))
    r = metrics(y, pred, ClassMap.packaged("kmnist"))
    cm = np.zeros((10, 10), int)
    np.add.at(cm, (y, pred), 1)
    assert np.array_equal(np.array(r["confusion_matrix"]), cm)
    assert r["accuracy"] == pytest.approx(np.trace(cm) / 500)
    recall = np.diag(cm) / cm.sum(1)
    precision = np.diag(cm) / cm.sum(0)
    assert r["balanced_accuracy"] == pytest.approx(recall.mean())
    for c in r["per_class"]:
        i = c["index"]
        assert c["recall"] == pytest.approx(recall[i]) and c["precision"] == pytest.approx(precision[i])
        assert c["f1"] == pytest.approx(2 * precision[i] * recall[i] / (precision[i] + recall[i]))
        assert c["support"] == cm[i].sum()
    assert r["per_class"][9]["char"] == "を" and r["per_class"][9]["codepoint"] == "U+3092"
    csv_lines = confusion_csv(r, ClassMap.packaged("kmnist")).splitlines()
    assert csv_lines[1].split(",")[1:] == [str(v) for v in cm[0]]


def test_per_class_scores_are_scikit_learns():
    """The NumPy confusion matrix and per-class scores equal scikit-learn's, absent classes and
    classes never predicted (zero_division=0) included; indices out of range are refused."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    from fude.evaluate import confusion, per_class_scores

    rng = np.random.default_rng(1)
    for k, n in ((10, 10_000), (49, 3_000), (6, 9)):
        y = rng.integers(0, k - 1, n)  # the last class has no images
        pred = np.where(rng.random(n) < 0.7, y, rng.integers(0, k - 2, n))  # nor, often, predictions
        ours = per_class_scores(y, pred, k)
        theirs = precision_recall_fscore_support(y, pred, labels=np.arange(k), zero_division=0)
        for name, value in zip(("precision", "recall", "f1", "support"), theirs):
            assert np.allclose(ours[name], value, rtol=1e-12, atol=0), (k, name)
        assert np.array_equal(confusion(y, pred, k), confusion_matrix(y, pred, labels=np.arange(k)))
    assert per_class_scores(y[:0], pred[:0], 3)["f1"].tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match="a predicted class index outside 0..4: 0..5"):
        confusion(np.array([0, 1]), np.array([0, 5]), 5)
    with pytest.raises(ValueError, match="2 true classes but 1 predictions"):
        confusion(np.array([0, 1]), np.array([0]), 5)


@pytest.mark.parametrize("dy,dx", [(1, 0), (0, -1), (-1, 1), (2, 2)])
def test_shift_matches_roll_with_zero_fill(dy, dx):
    x = torch.rand(3, 1, 28, 28)
    expected = np.roll(x.numpy(), (dy, dx), axis=(2, 3))
    if dy > 0:
        expected[:, :, :dy] = 0
    if dy < 0:
        expected[:, :, dy:] = 0
    if dx > 0:
        expected[:, :, :, :dx] = 0
    if dx < 0:
        expected[:, :, :, dx:] = 0
    assert np.array_equal(shift_images(x, dy, dx).numpy(), expected)


def test_labels_that_look_like_formulas_are_exported_as_text(tmp_path):
    """A class map of the user's own (labels like ``=1+1`` or ``@SUM(A1)``) never puts a formula into
    the CSV files fude writes: such cells start with ``'``; ordinary and one-character labels stay."""
    import csv

    from fude.evaluate import save_predictions

    cmap = ClassMap(("=1+1", "@SUM(A1)", "-", "あ"))
    probs = np.eye(4, dtype=np.float32)[[0, 1, 2, 3]]
    labels = np.array([0, 1, 2, 3])
    path, _ = save_predictions(tmp_path / "p", probs, cmap, labels, k=2)
    rows = list(csv.DictReader(path.open()))
    assert [r["pred_char"] for r in rows] == ["'=1+1", "'@SUM(A1)", "-", "あ"]
    assert [r["true_char"] for r in rows] == [r["top1_char"] for r in rows] == [r["pred_char"] for r in rows]
    r = metrics(labels, probs.argmax(1), cmap)
    header = confusion_csv(r, cmap).splitlines()[0]
    assert header == "true\\pred,'=1+1,'@SUM(A1),-,あ"
