"""Figures for understanding a dataset and a model, each a matplotlib :class:`~matplotlib.figure.Figure`.

Every function takes arrays plus a :class:`~fude.classmap.ClassMap` and returns a Figure (no pyplot
state, so they are safe in scripts, servers and notebooks alike; ``fig.savefig("x.png")`` saves one).
Images are uint8 ``(N, 28, 28)``, bright ink on black as the datasets store them; they are drawn
dark-on-light, as on paper. Labels and predictions are int ``(N,)`` class indices.

Japanese characters are drawn with IPAexGothic from the ``matplotlib-fontja`` package (IPA Font
License), registered on import, so glyphs render on a machine with no system fonts.
"""

from __future__ import annotations

import matplotlib
import matplotlib_fontja  # noqa: F401  (registers IPAexGothic and makes it matplotlib's font family)
import numpy as np
from matplotlib.figure import Figure

from fude.classmap import ClassMap

FONT_FAMILY = matplotlib_fontja.matplotlib_fontja.FONT_NAME  # "IPAexGothic"
INK = "Greys"  # colour map for images: ink dark on light paper


def _label(class_map: ClassMap, i: int) -> str:
    r = class_map.romaji(i)
    return f"{class_map.char(i)} ({r})" if r else class_map.char(i)


def _tick_size(k: int) -> float:
    return 11 if k <= 12 else 9 if k <= 30 else 7.5


def _colours(k: int) -> np.ndarray:
    """``k`` distinct RGBA colours: tab10 up to 10 classes, tab20 + tab20b + tab20c up to 60."""
    if k <= 10:
        return matplotlib.colormaps["tab10"](np.arange(k))
    pool = np.vstack([matplotlib.colormaps[n](np.arange(20)) for n in ("tab20", "tab20b", "tab20c")])
    return pool[np.arange(k) % len(pool)]


def class_distribution(labels: dict[str, np.ndarray], class_map: ClassMap) -> Figure:
    """Images per class for each split, as grouped bars with the characters on the x axis.

    Args:
        labels: split name -> int labels ``(N,)``, e.g. ``{"train": y_train, "test": y_test}``.
    """
    k = len(class_map)
    fig = Figure(figsize=(max(6.0, 0.32 * k * max(1, len(labels)) + 2), 3.8), layout="constrained")
    ax = fig.add_subplot()
    width = 0.8 / max(1, len(labels))
    for j, (split, y) in enumerate(labels.items()):
        counts = np.bincount(np.asarray(y), minlength=k)
        ax.bar(np.arange(k) + (j - (len(labels) - 1) / 2) * width, counts, width,
               label=f"{split} ({len(y):,} images)")
    ax.set_xticks(np.arange(k), class_map.chars, fontsize=_tick_size(k) + 2)
    ax.set_xlim(-0.6, k - 0.4)
    ax.set_xlabel("class")
    ax.set_ylabel("images")
    ax.set_title("Class distribution", pad=26)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(labels), frameon=False)  # above: no bar hidden
    return fig


def sample_grid(images: np.ndarray, labels: np.ndarray, class_map: ClassMap, per_class: int = 10,
                seed: int = 0) -> Figure:
    """A row per class (its character at the left) with ``per_class`` random examples of it."""
    k = len(class_map)
    rng = np.random.default_rng(seed)
    fig = Figure(figsize=(0.62 * (per_class + 1.2), 0.62 * k + 0.6), layout="constrained")
    axes = fig.subplots(k, per_class + 1, squeeze=False, gridspec_kw={"wspace": 0.02, "hspace": 0.02})
    for c in range(k):
        idx = np.flatnonzero(labels == c)
        pick = rng.choice(idx, min(per_class, len(idx)), replace=False) if len(idx) else []
        axes[c, 0].text(0.5, 0.5, class_map.char(c), fontsize=20, ha="center", va="center")
        for j, ax in enumerate(axes[c]):
            ax.set_axis_off()
            if 1 <= j <= len(pick):
                ax.imshow(images[pick[j - 1]], cmap=INK, vmin=0, vmax=255)
    fig.suptitle(f"Samples: {per_class} per class")
    return fig


def learning_curves(history: list[dict]) -> Figure:
    """Loss and accuracy per epoch (train, and validation where the run had one) and loss per batch.

    Args:
        history: a run's ``metrics.jsonl`` rows: ``epoch``, ``train_loss``, ``train_accuracy``,
            optionally ``val_loss``, ``val_accuracy`` and ``batch_loss`` (a list per epoch).
    """
    if not history:
        raise ValueError("no epochs to plot: the run's metrics.jsonl is empty")
    fig = Figure(figsize=(13, 3.8), layout="constrained")
    ax_loss, ax_acc, ax_batch = fig.subplots(1, 3)
    epochs = [r["epoch"] for r in history]
    for ax, key, name in ((ax_loss, "loss", "Loss"), (ax_acc, "accuracy", "Accuracy")):
        ax.plot(epochs, [r[f"train_{key}"] for r in history], "o-", ms=3, label="train (augmented)")
        if all(f"val_{key}" in r for r in history):
            ax.plot(epochs, [r[f"val_{key}"] for r in history], "o-", ms=3, label="validation")
        ax.set_xlabel("epoch")
        ax.set_title(f"{name} per epoch")
        ax.legend()
        ax.grid(alpha=0.3)
    losses = [v for r in history for v in r.get("batch_loss", [])]
    ax_batch.plot(np.arange(1, len(losses) + 1), losses, lw=0.6)
    ax_batch.set_xlabel("batch (optimizer step)")
    ax_batch.set_title("Training loss per batch")
    ax_batch.grid(alpha=0.3)
    return fig


def per_class_bars(y_true: np.ndarray, y_pred: np.ndarray, class_map: ClassMap) -> Figure:
    """Precision, recall and F1 per class as grouped bars, classes sorted by F1 (worst first)."""
    from fude.evaluate import per_class_scores

    s = per_class_scores(y_true, y_pred, len(class_map))
    k = len(class_map)
    order = np.argsort(s["f1"], kind="stable")
    fig = Figure(figsize=(max(6.0, 0.42 * k + 2), 3.8), layout="constrained")
    ax = fig.add_subplot()
    for j, key in enumerate(("precision", "recall", "f1")):
        ax.bar(np.arange(k) + (j - 1) * 0.27, s[key][order], 0.27, label=key)
    ax.set_xticks(np.arange(k), [class_map.char(i) for i in order], fontsize=_tick_size(k) + 2)
    low = min(float(np.min([s[key] for key in ("precision", "recall", "f1")])), 0.95)
    ax.set_ylim(max(0.0, low - 0.02), 1.0)
    ax.set_xlim(-0.6, k - 0.4)
    ax.set_ylabel("score")
    ax.set_title("Per-class precision, recall and F1, sorted by F1", pad=26)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, frameon=False)  # above: no bar hidden
    ax.grid(axis="y", alpha=0.3)
    return fig


def precision_recall_scatter(y_true: np.ndarray, y_pred: np.ndarray, class_map: ClassMap) -> Figure:
    """Each class as a point at (recall, precision), labelled with its character."""
    from fude.evaluate import per_class_scores

    s = per_class_scores(y_true, y_pred, len(class_map))
    big = len(class_map) > 20  # more room, smaller glyphs, so that 49 labels stay apart
    fig = Figure(figsize=(9.5, 8.5) if big else (6.2, 5.6), layout="constrained")
    ax = fig.add_subplot()
    ax.scatter(s["recall"], s["precision"], s=14, c=_colours(len(class_map)))
    for i, (r, p) in enumerate(zip(s["recall"], s["precision"])):
        ax.annotate(class_map.char(i), (r, p), xytext=(3, 3), textcoords="offset points", fontsize=11 if big else 13)
    lo = max(0.0, min(s["recall"].min(), s["precision"].min()) - 0.01)
    ax.set_xlim(lo, 1.004)
    ax.set_ylim(lo, 1.004)
    ax.plot([lo, 1], [lo, 1], color="grey", lw=0.6, ls="--")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title("Precision vs recall per class")
    ax.grid(alpha=0.3)
    return fig


def confusion_matrix(cm: np.ndarray, class_map: ClassMap, normalize: bool = False) -> Figure:
    """Heatmap of a confusion matrix ``(K, K)`` (rows: true class, columns: predicted), with the
    characters on both axes; ``normalize`` divides each row by its count (recall on the diagonal).
    Cells carry their values when K <= 20."""
    cm = np.asarray(cm)
    k = len(class_map)
    if cm.shape != (k, k):
        raise ValueError(f"confusion matrix of shape {cm.shape} does not match {k} classes")
    values = cm / np.maximum(cm.sum(1, keepdims=True), 1) if normalize else cm
    side = max(5.5, 0.24 * k + 3)
    fig = Figure(figsize=(side + 1, side), layout="constrained")
    ax = fig.add_subplot()
    # counts on a log-like scale so that rare confusions still show beside the diagonal
    norm = (matplotlib.colors.PowerNorm(0.35, vmin=0, vmax=1) if normalize
            else matplotlib.colors.PowerNorm(0.35, vmin=0, vmax=max(1, values.max())))
    im = ax.imshow(values, cmap="Blues", norm=norm)
    fig.colorbar(im, ax=ax, shrink=0.8, label="share of the true class" if normalize else "images")
    ticks = np.arange(k)
    ax.set_xticks(ticks, class_map.chars, fontsize=_tick_size(k) + 1)
    ax.set_yticks(ticks, class_map.chars, fontsize=_tick_size(k) + 1)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("Confusion matrix, row-normalised" if normalize else "Confusion matrix, counts")
    if k <= 20:
        for (i, j), v in np.ndenumerate(values):
            if cm[i, j]:
                text = f"{v:.2f}" if normalize else f"{int(v)}"
                dark = norm(v) > 0.6
                ax.text(j, i, text, ha="center", va="center", fontsize=8, color="white" if dark else "black")
    return fig


def most_confused_pairs(cm: np.ndarray, class_map: ClassMap, n: int = 10) -> list[dict]:
    """The ``n`` off-diagonal (true, predicted) pairs with the highest row-normalised rate.

    Returns:
        ``[{"true", "pred", "true_char", "pred_char", "count", "rate"}, ...]``, highest rate first,
        only pairs that occur at least once.
    """
    cm = np.asarray(cm)
    rates = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    np.fill_diagonal(rates, 0)
    flat = np.argsort(-rates, axis=None, kind="stable")[:n]
    pairs = []
    for t, p in zip(*np.unravel_index(flat, cm.shape)):
        if cm[t, p]:
            pairs.append({"true": int(t), "pred": int(p), "true_char": class_map.char(int(t)),
                          "pred_char": class_map.char(int(p)), "count": int(cm[t, p]), "rate": float(rates[t, p])})
    return pairs


def confused_pairs_gallery(images: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray, class_map: ClassMap,
                           pairs: list[dict], per_pair: int = 8) -> Figure:
    """A row per (true, predicted) pair from :func:`most_confused_pairs`: the images of the true
    class that the model read as the other, e.g. "true ふ, predicted ぬ"."""
    if not pairs:
        fig = Figure(figsize=(6, 1.2))
        fig.text(0.5, 0.5, "no misclassified images", ha="center", va="center", fontsize=14)
        return fig
    fig = Figure(figsize=(0.75 * per_pair + 2.6, 0.8 * len(pairs) + 0.6), layout="constrained")
    axes = fig.subplots(len(pairs), per_pair + 1, squeeze=False)
    for row, pair in zip(axes, pairs):
        idx = np.flatnonzero((y_true == pair["true"]) & (y_pred == pair["pred"]))[:per_pair]
        row[0].text(1.0, 0.5, f"{pair['true_char']} → {pair['pred_char']}\n{pair['rate']:.1%} ({pair['count']})",
                    ha="right", va="center", fontsize=12)
        for j, ax in enumerate(row):
            ax.set_axis_off()
            if 1 <= j <= len(idx):
                ax.imshow(images[idx[j - 1]], cmap=INK, vmin=0, vmax=255)
    fig.suptitle("Most-confused pairs: true → predicted, rate of the true class (count)")
    return fig


def misclassified_gallery(images: np.ndarray, y_true: np.ndarray, probs: np.ndarray, class_map: ClassMap,
                          n: int = 12, k: int = 5, cols: int = 4) -> Figure:
    """The ``n`` most confidently misclassified images, each with its true and predicted character
    and a bar chart of the top-``k`` probabilities (the true class's bar in green).

    Args:
        probs: class probabilities ``(N, K)`` float.
    """
    pred = probs.argmax(1)
    wrong = np.flatnonzero(pred != y_true)
    wrong = wrong[np.argsort(-probs[wrong, pred[wrong]], kind="stable")][:n]
    if not len(wrong):
        fig = Figure(figsize=(6, 1.2))
        fig.text(0.5, 0.5, "no misclassified images", ha="center", va="center", fontsize=14)
        return fig
    rows = -(-len(wrong) // cols)
    fig = Figure(figsize=(4.2 * cols, 1.9 * rows + 0.5), layout="constrained")
    grid = fig.add_gridspec(rows, 2 * cols, width_ratios=[1, 1.5] * cols)
    k = min(k, probs.shape[1])
    for m, i in enumerate(wrong):
        r, c = divmod(m, cols)
        ax_img, ax_bar = fig.add_subplot(grid[r, 2 * c]), fig.add_subplot(grid[r, 2 * c + 1])
        ax_img.imshow(images[i], cmap=INK, vmin=0, vmax=255)
        ax_img.set_axis_off()
        ax_img.set_title(f"true {class_map.char(int(y_true[i]))}  pred {class_map.char(int(pred[i]))}", fontsize=11)
        top = np.argsort(-probs[i], kind="stable")[:k][::-1]
        colours = ["tab:green" if t == y_true[i] else "tab:red" if t == pred[i] else "tab:grey" for t in top]
        ax_bar.barh(np.arange(len(top)), probs[i, top], color=colours)
        ax_bar.set_yticks(np.arange(len(top)), [class_map.char(int(t)) for t in top], fontsize=11)
        ax_bar.set_xlim(0, 1)
        ax_bar.tick_params(axis="x", labelsize=7)
    fig.suptitle(f"Misclassified, most confident first: top-{k} probabilities (green: the true class)")
    return fig


def umap_embedding(x: np.ndarray, seed: int = 0, n_neighbors: int = 15) -> np.ndarray:
    """2-D UMAP embedding ``(N, 2)`` float32 of ``x`` (``(N, ...)``, flattened to rows); raw
    pixels or a model's features. McInnes, Healy & Melville, arXiv:1802.03426 (umap-learn)."""
    import warnings

    import umap

    x = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
    if len(x) <= n_neighbors:
        raise ValueError(f"UMAP needs more than n_neighbors={n_neighbors} points, got {len(x)}")
    with warnings.catch_warnings():  # "n_jobs overridden to 1 by setting random_state": wanted, for repeatability
        warnings.simplefilter("ignore", UserWarning)
        return umap.UMAP(n_neighbors=n_neighbors, random_state=seed).fit_transform(x).astype(np.float32)


def umap_map(panels: list[tuple[str, np.ndarray, np.ndarray, ClassMap]]) -> Figure:
    """One scatter panel per ``(title, embedding (N, 2), labels (N,), class map)``, side by side,
    coloured by class, each class's character written at its median point and in a legend."""
    fig = Figure(figsize=(6.4 * len(panels) + 1.2, 6.0), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (title, emb, labels, cmap) in zip(axes, panels):
        colours = _colours(len(cmap))
        for c in range(len(cmap)):
            pts = emb[labels == c]
            if not len(pts):
                continue
            ax.scatter(pts[:, 0], pts[:, 1], s=2, color=colours[c], label=_label(cmap, c), rasterized=True)
            mx, my = np.median(pts, axis=0)
            ax.text(mx, my, cmap.char(c), fontsize=15, ha="center", va="center",
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": colours[c], "alpha": 0.8})
        ax.set_title(title)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.legend(markerscale=5, fontsize=8, ncol=1 if len(cmap) <= 16 else 2, loc="center left",
                  bbox_to_anchor=(1.0, 0.5), frameon=False)
    return fig
