"""The training loop's options on small real data: early stopping, class weights, balanced sampling."""

import json

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

import fude
from fude.datasets.augment import AugmentConfig
from fude.train import TrainConfig, balanced_order, class_weights, train

NO_AUG = AugmentConfig.off().__dict__


def test_class_weights_match_scikit_learn():
    from sklearn.utils.class_weight import compute_class_weight

    y = np.repeat([0, 1, 2, 4], [600, 60, 6, 30])  # class 3 has no images
    w = class_weights(y, 5)
    present = np.array([0, 1, 2, 4])
    assert np.array_equal(w[present], compute_class_weight("balanced", classes=present, y=y).astype(np.float32))
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
    result = train(cfg, shuffled, tmp_path, progress=False)

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
    ({"ema": 1.0}, "must be in \\[0, 1\\)"),
])
def test_bad_training_options_are_refused(bad, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**bad)


def test_finetune_keeps_frozen_blocks_and_learns_a_new_head(tmp_path):
    """KMNIST model -> MNIST digits: a new 10-way head, the first two blocks unchanged bit for bit."""
    from fude.recognizer import load_model

    mnist = fude.load_dataset("mnist", "test").subset(np.arange(600))
    torch.set_num_threads(1)
    cfg = TrainConfig(arch="fude-cnn-l", epochs=2, batch_size=64, val_split=0.2, init_from="kmnist", freeze=2,
                      augment=NO_AUG)
    result = train(cfg, mnist, tmp_path, progress=False)
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
    mean, std = pixel_mean_std(mnist_test.images[idx])
    assert mean == pytest.approx(mnist_test.images[idx].mean() / 255, abs=1e-12)
    assert std == pytest.approx(mnist_test.images[idx].std() / 255, abs=1e-12)
    assert pixel_mean_std(np.full((3, 28, 28), 255, np.uint8)) == (1.0, 0.0)
    assert pixel_mean_std(torch.from_numpy(mnist_test.images[idx])) == (mean, std)  # a tensor


def test_image_stats_are_exact_on_any_thread_count_and_subtract(mnist_test):
    """Pixel moments are exact integer sums, the same on 1-3 threads (slices of the images at
    once); the moments of a split are all images' less the others'; ink sides equal the plain
    per-image bounding boxes; a Dataset computes them once and keeps them."""
    from fude.datasets import Dataset
    from fude.datasets.stats import PixelMoments, ink_sides, pixel_moments

    images = mnist_test.images  # 7.8 million pixels
    flat = images.reshape(-1).astype(np.int64)
    exact = PixelMoments(flat.size, int(flat.sum()), int((flat * flat).sum()))
    sides = []
    for img in images[:300]:
        ys, xs = np.nonzero(img > 64)
        sides.append(max(np.ptp(ys) + 1, np.ptp(xs) + 1) if len(ys) else 28)
    for threads in (1, 2, 3):
        assert pixel_moments(images, threads) == exact
        assert ink_sides(images[:300], threads=threads).tolist() == sides
    assert pixel_moments(images[:4000]) + pixel_moments(images[4000:]) == exact
    assert exact - pixel_moments(images[4000:]) == pixel_moments(images[:4000])
    with pytest.raises(ValueError, match="no pixels"):
        PixelMoments(0, 0, 0).mean_std()
    with pytest.raises(ValueError, match="uint8"):
        pixel_moments(images.astype(np.float32))
    data = Dataset(images[:500], mnist_test.labels[:500], mnist_test.class_map)
    assert data.image_stats(2) is data.image_stats() and data.image_stats().sides.tolist()[:300] == sides[:300]


@pytest.mark.parametrize("arch, extra, freeze", [("fude-cnn-l", {}, 0), ("fude-cnn", {}, 1), ("keras-cnn", {}, 0),
                                                 ("stroke-conv1d", {"length": 64}, 0),
                                                 ("fude-cnn", {"space_to_depth": True}, 0),
                                                 ("fude-cnn", {"space_to_depth": True, "first_bn": False}, 0),
                                                 ("fude-cnn", {"space_to_depth": True, "first_bn": False, "crop": 2}, 0)])
def test_flops_per_image_agrees_with_pytorchs_flop_counter(arch, extra, freeze):
    """The shape-based count must equal what torch.utils.flop_counter measures on a real backward
    pass, frozen first block (no weight gradient there, no input gradient into it) included."""
    import copy

    from torch.utils.flop_counter import FlopCounterMode

    from fude.models import create_model
    from fude.train import flops_per_image

    model = create_model(arch, **extra)
    for p in model.blocks[:freeze].parameters():
        p.requires_grad_(False)
    with FlopCounterMode(display=False) as counter:
        copy.deepcopy(model)(model.example_input(2)).sum().backward()
    assert flops_per_image(model, torch.device("cpu")) == counter.get_total_flops() // 2 > 1e6
    with FlopCounterMode(display=False) as forward, torch.no_grad():
        model(model.example_input(2))
    assert flops_per_image(model, torch.device("cpu"), training=False) == forward.get_total_flops() // 2 > 1e5


def test_nesterov_sgd_is_bitwise_torch_optim_sgd():
    """fude's optimizer steps with torch's functional SGD; three steps (momentum buffers created,
    then used; weight decay on one group only) must equal torch.optim.SGD's exactly."""
    import copy

    from fude.models import create_model
    from fude.train import make_optimizer

    torch.manual_seed(0)
    ours = create_model("fude-cnn")
    theirs = copy.deepcopy(ours)
    cfg = TrainConfig(lr=0.3, weight_decay=0.01)
    opts = [make_optimizer(ours, cfg)]
    opts.append(torch.optim.SGD([{"params": [p for p in theirs.parameters() if p.ndim > 1], "weight_decay": 0.01},
                                 {"params": [p for p in theirs.parameters() if p.ndim <= 1], "weight_decay": 0.0}],
                                lr=0.3, momentum=0.9, nesterov=True))
    x, y = torch.rand(16, 1, 28, 28), torch.randint(0, 10, (16,))
    for _ in range(3):
        for model, opt in zip([ours, theirs], opts):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
    for (name, a), b in zip(ours.named_parameters(), theirs.parameters()):
        assert torch.equal(a, b), name
        assert torch.equal(opts[0].state[a]["momentum_buffer"], opts[1].state[b]["momentum_buffer"]), name
    assert not torch.equal(ours.head.weight, create_model("fude-cnn").head.weight)


def test_training_a_cnn_never_imports_torch_dynamo(tmp_path):
    """torch._dynamo takes about 1.8 s to import on a 2-core CPU: a quarter of the time budget for
    99% on MNIST. Nothing in a CNN's training run (FLOP count, optimizer step, checkpoints) may pull it in;
    nor scikit-learn (most of a second and ~70 MiB) for the validation split or the class weights."""
    import subprocess
    import sys

    code = ("import sys, fude; from fude.train import TrainConfig, train; "
            "d = fude.load_dataset('kmnist-sample', 'train'); "
            f"train(TrainConfig(epochs=1, batch_size=64, val_split=0.2, class_weights='balanced'), d, "
            f"{str(tmp_path)!r}, progress=False); "
            "print('dynamo' if 'torch._dynamo' in sys.modules else 'clean', "
            "'sklearn' if 'sklearn' in sys.modules else 'clean')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[-1] == "clean clean" and (tmp_path / "model.safetensors").exists()


def test_stratified_split_holds_out_each_class_in_proportion():
    """As scikit-learn's stratified train_test_split: ceil(share * N) held out, each class within
    one image of its share, a partition of the indices; the same seed, the same split."""
    from sklearn.model_selection import train_test_split

    from fude.train import stratified_split

    rng = np.random.default_rng(0)
    for n, k, share in [(60_000, 10, 0.1), (23_236, 49, 0.1), (1_500, 10, 0.2), (45, 7, 0.5)]:
        labels = np.concatenate([np.repeat(np.arange(k), 2), rng.choice(k, n - 2 * k, p=rng.dirichlet(np.ones(k)))])
        rest, held = stratified_split(labels, share, seed=3)
        assert len(held) == int(np.ceil(share * n)) and np.array_equal(np.sort(np.r_[rest, held]), np.arange(n))
        assert np.all(np.diff(rest) > 0) and np.all(np.diff(held) > 0)
        _, theirs = train_test_split(np.arange(n), test_size=share, stratify=labels, random_state=3)
        assert np.abs(np.bincount(labels[held], minlength=k) - np.bincount(labels[theirs], minlength=k)).max() <= 1
        assert np.array_equal(held, stratified_split(labels, share, seed=3)[1])
        assert not np.array_equal(held, stratified_split(labels, share, seed=4)[1])
    assert len(stratified_split(labels, 0, seed=3)[1]) == 0
    with pytest.raises(ValueError, match="needs at least 2 images of every class"):
        stratified_split(np.array([0, 0, 1]), 0.5, seed=0)



def test_ema_run_saves_and_validates_the_moving_average(tmp_path):
    """With ``ema`` the run's model is the moving average: the saved weights are the checkpoint's
    average (not the last step's weights), and each epoch's validation figures are the average's."""
    from fude.train import evaluate_tensors, stratified_split

    d = fude.load_dataset("kmnist-sample", "train")
    torch.set_num_threads(1)
    cfg = TrainConfig(epochs=2, batch_size=64, val_split=0.2, ema=0.95, augment=NO_AUG, precision="fp32")
    train(cfg, d, tmp_path, progress=False)

    saved, ckpt = load_file(tmp_path / "model.safetensors"), load_file(tmp_path / "checkpoint.safetensors")
    assert all(np.array_equal(v, ckpt[f"ema.module.{k}"]) for k, v in saved.items())
    assert not all(np.array_equal(v, ckpt[f"model.{k}"]) for k, v in saved.items())
    _, val_idx = stratified_split(d.labels, cfg.val_split, cfg.seed)
    rec = fude.load_model(tmp_path)
    val = evaluate_tensors(rec.net, torch.from_numpy(d.images[val_idx, None]), torch.from_numpy(d.labels[val_idx]),
                           torch.device("cpu"), "fp32")
    last = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["val_accuracy"] == pytest.approx(val["accuracy"]) and 0.3 < val["accuracy"]


def test_a_crop_that_drops_ink_is_warned_about(tmp_path, caplog, mnist_test, kmnist_dev):
    """border_ink: MNIST's 2-pixel border holds a fraction of a percent of its ink, Kuzushiji-MNIST's
    a tenth; training a network with that crop warns on the second and not on the first."""
    import logging

    from fude.datasets.stats import border_ink

    assert 0.001 < border_ink(mnist_test.images, 2) < 0.005 and border_ink(mnist_test.images, 0) == 0.0
    assert 0.05 < border_ink(kmnist_dev.images, 2) < 0.2
    assert border_ink(np.zeros((2, 28, 28), np.uint8), 2) == 0.0
    with pytest.raises(ValueError, match="leave pixels inside"):
        border_ink(mnist_test.images, 14)
    torch.set_num_threads(1)
    cfg = TrainConfig(epochs=1, batch_size=64, val_split=0, augment=NO_AUG,
                      model_config={"space_to_depth": True, "crop": 2})
    for data, warned in ((mnist_test.subset(np.arange(256)), False), (kmnist_dev.subset(np.arange(256)), True)):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="fude"):
            train(cfg, data, tmp_path / str(warned), progress=False)
        assert any("crop of 2 pixels drops" in r.message for r in caplog.records) == warned
