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


def test_finetune_keeps_frozen_blocks_and_learns_a_new_head(tmp_path):
    """KMNIST model -> MNIST digits: a new 10-way head, the first two blocks unchanged bit for bit."""
    from fude.models import load_model

    mnist = fude.load_dataset("mnist", "test").subset(np.arange(600))
    torch.set_num_threads(1)
    cfg = TrainConfig(arch="fude-cnn-l", epochs=2, batch_size=64, val_split=0.2, init_from="kmnist", freeze=2,
                      augment=NO_AUG)
    result = train(cfg, mnist, tmp_path, progress=False, log=lambda *_: None)
    src, tuned = load_model("kmnist").net, load_model(tmp_path)
    for k in range(3):
        same = all(torch.equal(a, b) for a, b in zip(src.blocks[k].state_dict().values(),
                                                      tuned.net.blocks[k].state_dict().values()))
        assert same == (k < 2), k  # frozen blocks, their batch-norm statistics included; the third trained
    assert tuned.class_map.chars == tuple("0123456789") and result["val_accuracy"] > 0.5
    assert tuned.config["normalisation"]["mean"] == pytest.approx(float(src.config.mean))
    with pytest.raises(ValueError, match="cannot freeze 4 blocks"):
        train(TrainConfig(init_from="kmnist", freeze=4), mnist, tmp_path / "x", progress=False)
    with pytest.raises(ValueError, match="freeze must be 0"):
        TrainConfig(freeze=1)


def test_pixel_mean_std_equals_numpy_on_real_images(mnist_test):
    from fude.train import pixel_mean_std

    idx = np.arange(0, len(mnist_test.images), 3)
    mean, std = pixel_mean_std(mnist_test.images, idx)
    assert mean == pytest.approx(mnist_test.images[idx].mean() / 255, abs=1e-12)
    assert std == pytest.approx(mnist_test.images[idx].std() / 255, abs=1e-12)
    assert pixel_mean_std(np.full((3, 28, 28), 255, np.uint8)) == (1.0, 0.0)
