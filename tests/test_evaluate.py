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
