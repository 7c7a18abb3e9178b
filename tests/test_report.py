"""Figures, report, baselines and cross-validation on small real data (KMNIST sample, MNIST test)."""

import io
import json
import warnings

import numpy as np
import pytest
from matplotlib.figure import Figure

import fude
from fude import plots
from fude.classmap import ClassMap
from fude.train import TrainConfig, cv_folds, train


@pytest.fixture(scope="module")
def sample():
    return fude.load_dataset("kmnist-sample", "test")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A real 3-epoch run on the shipped KMNIST sample: a model that still makes mistakes."""
    import torch

    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("run")
    train(TrainConfig(epochs=3, batch_size=64, seed=0), fude.load_dataset("kmnist-sample", "train"), out,
          progress=False)
    return out


@pytest.fixture(scope="module")
def predictions(tiny_run, sample):
    from fude.evaluate import predict_proba

    probs = predict_proba(fude.load_model(tiny_run), sample.images)
    return probs, probs.argmax(1)


def _rendered_glyph_warnings(text: str) -> list[str]:
    fig = Figure()
    fig.text(0.1, 0.5, text, fontsize=20)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig.savefig(io.BytesIO(), format="png")
    return [str(w.message) for w in caught if "missing from font" in str(w.message)]


def test_japanese_glyphs_render_from_the_packaged_font():
    """Fails if matplotlib-fontja is missing or not used: the glyphs would fall back to a font
    without kana and matplotlib would warn "Glyph ... missing from font(s)"."""
    from matplotlib import font_manager, rcParams

    path = font_manager.findfont(font_manager.FontProperties(family=rcParams["font.family"]), fallback_to_default=False)
    assert path.endswith("ipaexg.ttf")  # IPAexGothic from the matplotlib-fontja package, not a system font
    chars = "".join(ClassMap.packaged("k49").chars) + "".join(ClassMap.packaged("kmnist").chars)
    assert _rendered_glyph_warnings(chars) == []
    assert _rendered_glyph_warnings("\U0001F600")  # the check itself can fail: an emoji the font lacks


def test_distribution_and_samples(sample):
    fig = plots.class_distribution({"train": sample.labels[:200], "test": sample.labels}, sample.class_map)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == list(sample.class_map.chars)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train (200 images)", "test (300 images)"]
    heights = [p.get_height() for p in ax.patches]
    assert sum(heights) == 500

    fig = plots.sample_grid(sample.images, sample.labels, sample.class_map, per_class=4)
    assert len(fig.axes) == 10 * 5 and fig.axes[0].texts[0].get_text() == "お"
    assert len(fig.axes[1].images) == 1 and len(fig.axes[5].texts) and fig.axes[5].texts[0].get_text() == "き"


def test_learning_curves(tiny_run):
    rows = [json.loads(line) for line in (tiny_run / "metrics.jsonl").read_text().splitlines()]
    fig = plots.learning_curves(rows)
    loss, acc, batch = fig.axes
    assert loss.get_title() == "Loss per epoch" and [ln.get_label() for ln in loss.get_lines()] == [
        "train (augmented)", "validation"]
    assert list(acc.get_lines()[1].get_ydata()) == [r["val_accuracy"] for r in rows]
    assert len(batch.get_lines()[0].get_xdata()) == sum(len(r["batch_loss"]) for r in rows)
    with pytest.raises(ValueError, match="no epochs"):
        plots.learning_curves([])


def test_scores_confusion_and_galleries(sample, predictions):
    from sklearn.metrics import confusion_matrix

    from fude.evaluate import per_class_scores

    probs, pred = predictions
    y, cmap = sample.labels, sample.class_map
    assert (pred != y).sum() > 5  # the tiny model errs: the galleries have something to show

    bars = plots.per_class_bars(y, pred, cmap).axes[0]
    f1 = per_class_scores(y, pred, len(cmap))["f1"]
    assert [t.get_text() for t in bars.get_xticklabels()] == [cmap.char(i) for i in np.argsort(f1, kind="stable")]
    scatter = plots.precision_recall_scatter(y, pred, cmap).axes[0]
    assert sorted(t.get_text() for t in scatter.texts) == sorted(cmap.chars)

    cm = confusion_matrix(y, pred, labels=range(10))
    counts = plots.confusion_matrix(cm, cmap).axes[0]
    assert [t.get_text() for t in counts.get_yticklabels()] == list(cmap.chars)
    assert np.array_equal(counts.images[0].get_array(), cm)
    normed = plots.confusion_matrix(cm, cmap, normalize=True).axes[0]
    assert np.allclose(normed.images[0].get_array().sum(1), 1)

    pairs = plots.most_confused_pairs(cm, cmap, 5)
    rates = cm / cm.sum(1, keepdims=True)
    assert pairs[0]["rate"] == max(rates[i, j] for i in range(10) for j in range(10) if i != j)
    assert all(p["true"] != p["pred"] and p["count"] == cm[p["true"], p["pred"]] for p in pairs)
    gallery = plots.confused_pairs_gallery(sample.images, y, pred, cmap, pairs, per_pair=4)
    assert f"{pairs[0]['true_char']} → {pairs[0]['pred_char']}" in gallery.axes[0].texts[0].get_text()

    mis = plots.misclassified_gallery(sample.images, y, probs, cmap, n=6, k=3)
    first = np.flatnonzero(pred != y)[np.argmax(probs[pred != y].max(1))]
    assert mis.axes[0].get_title() == f"true {cmap.char(y[first])}  pred {cmap.char(pred[first])}"
    assert len(mis.axes) == 12 and len(mis.axes[1].patches) == 3


def test_umap_map_has_a_legend_of_characters(sample):
    from sklearn.decomposition import PCA

    emb = PCA(2).fit_transform(sample.images.reshape(len(sample), -1).astype(np.float32))
    fig = plots.umap_map([("kmnist", emb, sample.labels, sample.class_map),
                          ("digits", emb, sample.labels, ClassMap.digits())])
    assert len(fig.axes) == 2 and fig.axes[0].get_title() == "kmnist"
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend[0] == "お (o)" and legend[-1] == "を (wo)"
    assert sorted(t.get_text() for t in fig.axes[1].texts) == list("0123456789")


@pytest.mark.slow
def test_report_builds_from_a_tiny_run(tiny_run, sample, tmp_path):
    from fude.report import Analysis, build_report

    rows = [json.loads(line) for line in (tiny_run / "metrics.jsonl").read_text().splitlines()]
    path = build_report(Analysis(fude.load_model(tiny_run), sample, "tiny", history=rows,
                                 train_labels=fude.load_dataset("kmnist-sample", "train").labels, umap_points=120),
                        tmp_path)
    page = path.read_text()
    for stem in ("class_distribution", "samples", "learning_curves", "per_class_scores", "precision_recall",
                 "confusion_counts", "confusion_normalised", "confused_pairs", "misclassified", "umap"):
        assert (tmp_path / f"{stem}.png").stat().st_size > 5000, stem
        assert f'id="{stem}"' in page
    assert page.count("data:image/png;base64,") == 10 and "http" not in page.split("<body>")[1]  # offline
    assert '<td class="char" data-v="12362">お</td>' in page and "<td>o</td>" in page  # char + romaji
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["n"] == 300 and "overlap" not in page
    assert "optimistic" not in page  # evaluated on the sample's test split, not its training images


def test_report_warns_when_evaluated_on_training_data(tiny_run, tmp_path):
    from fude.report import training_overlap

    rec = fude.load_model(tiny_run)
    assert training_overlap(rec, fude.load_dataset("kmnist-sample", "train"))
    assert not training_overlap(rec, fude.load_dataset("kmnist-sample", "test"))


def test_cv_folds_are_stratified_and_disjoint(sample):
    folds = cv_folds(sample.labels, 5, seed=0)
    tests = [te for _, te in folds]
    assert sorted(np.concatenate(tests).tolist()) == list(range(len(sample)))  # disjoint and covering
    for tr, te in folds:
        assert not set(tr) & set(te)
        assert (np.bincount(sample.labels[te], minlength=10) == 6).all()  # 30 per class / 5 folds
    with pytest.raises(ValueError, match="at least 7 images of every class"):
        cv_folds(np.repeat(np.arange(3), [20, 20, 5]), 7)


def test_baselines_on_real_data(mnist_test):
    from fude.baselines import run_baseline

    train, test = mnist_test.subset(np.arange(2000)), mnist_test.subset(np.arange(2000, 2500))
    dummy = run_baseline("dummy", train, test)
    assert dummy["accuracy"] == (test.labels == np.bincount(train.labels).argmax()).mean()
    knn = run_baseline("knn", train, test)
    assert 0.85 < knn["accuracy"] < 1 and knn["n_train"] == 2000 and len(knn["per_class"]) == 10
    assert run_baseline("pca-knn", train, test)["accuracy"] > 0.85
    svm = run_baseline("svm", train, test, max_train=1000)
    assert svm["n_train"] == 1000 and 0.85 < svm["accuracy"] < 1
    with pytest.raises(ValueError, match="unknown baseline"):
        run_baseline("forest", train, test)
