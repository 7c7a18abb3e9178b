"""The training loop's options on small real data: early stopping, class weights, balanced sampling."""

import json

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

import fude
from fude.augment import AugmentConfig
from fude.train import TrainConfig, balanced_order, class_weights, train

NO_AUG = AugmentConfig.off().__dict__


def test_class_weights_match_scikit_learn():
    from sklearn.utils.class_weight import compute_class_weight

    y = np.repeat([0, 1, 2, 4], [600, 60, 6, 30])  # class 3 has no images
    w = class_weights(y, 5)
    present = np.array([0, 1, 2, 4])
    assert np.allclose(w[present], compute_class_weight("balanced", classes=present, y=y))
    assert w[3] == 0 and w.dtype == np.float32
    assert np.isclose((w[y]).sum(), len(y))  # the weighted count equals the image count, as scikit-learn's formula


def test_balanced_sampler_draws_classes_equally_and_repeatably():
    y = torch.from_numpy(np.repeat([0, 1, 2], [900, 90, 10]))
    order = balanced_order(y, 30_000, torch.Generator().manual_seed(0))
    share = torch.bincount(y[order], minlength=3).double() / len(order)
    assert torch.allclose(share, torch.full((3,), 1 / 3, dtype=torch.float64), atol=0.02)
    assert torch.equal(order, balanced_order(y, 30_000, torch.Generator().manual_seed(0)))


def test_early_stopping_stops_and_restores_the_best_epoch(tmp_path):
    """Shuffled labels: the model memorises the training images and the validation loss stops
    improving within a few epochs, so a patience of 2 must end the run early."""
    d = fude.load_dataset("kmnist-sample", "train")
    shuffled = fude.Dataset(d.images, np.random.default_rng(0).permutation(d.labels), d.class_map, d.source)
    torch.set_num_threads(1)
    cfg = TrainConfig(epochs=15, batch_size=64, val_split=0.2, early_stopping=2, monitor="val_loss", augment=NO_AUG)
    result = train(cfg, shuffled, tmp_path, progress=False, log=lambda *_: None)

    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    best = min(rows, key=lambda r: r["val_loss"])
    assert result["stopped_early"] and result["last_epoch"] == rows[-1]["epoch"] < 15
    assert rows[-1]["epoch"] - best["epoch"] == 2  # stopped exactly when the patience ran out
    assert result["best_epoch"] == best["epoch"] and result["val_loss"] == best["val_loss"]
    final, kept = load_file(tmp_path / "model.safetensors"), load_file(tmp_path / "best" / "model.safetensors")
    last = load_file(tmp_path / "checkpoint.safetensors")  # the last epoch is kept too, for --resume
    assert all(np.array_equal(final[k], kept[k]) for k in final)
    assert not all(np.array_equal(final[k], last[f"model.{k}"]) for k in final)
    assert json.loads((tmp_path / "best" / "config.json").read_text())["result"]["epoch"] == best["epoch"]
    assert fude.load_model(tmp_path / "best").class_map == d.class_map


@pytest.mark.parametrize("bad, match", [
    ({"early_stopping": 3, "val_split": 0.0}, "early stopping watches the validation set"),
    ({"monitor": "accuracy"}, "monitor must be one of"),
    ({"class_weights": "inverse"}, "class_weights must be"),
    ({"sampler": "oversample"}, "sampler must be"),
    ({"early_stopping": -1}, "must be 0"),
])
def test_bad_training_options_are_refused(bad, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**bad)
