"""One self-contained HTML report of a model on a dataset: every figure of :mod:`fude.plots`, a
sortable classification report, the most-confused pairs — PNGs embedded, so the file opens offline.

    fude report --model kmnist --dataset kmnist --split dev --out report/
"""

from __future__ import annotations

import base64
import html
import io
import json
import time
from pathlib import Path

import numpy as np

from fude.datasets import Dataset
from fude.models import Recognizer, atomic_write

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ddd;padding-bottom:.2em}
img{max-width:100%;height:auto;border:1px solid #eee}
table{border-collapse:collapse;font-size:.92em}th,td{padding:.25em .7em;text-align:right;border-bottom:1px solid #eee}
th{cursor:pointer;background:#f6f6f6;position:sticky;top:0}th:hover{background:#e8eefc}
td.char{font-size:1.5em;text-align:center}.warn{background:#fff4e0;border-left:4px solid #f0a000;padding:.6em 1em}
dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1.2em}dt{font-weight:600}
"""

# click a header to sort by that column; numbers numerically, text by code point
_JS = """
document.querySelectorAll('table.sortable').forEach(t=>{t.querySelectorAll('th').forEach((th,i)=>{
th.addEventListener('click',()=>{const b=t.tBodies[0],rows=[...b.rows],asc=th.dataset.asc!=='1';
t.querySelectorAll('th').forEach(h=>delete h.dataset.asc);th.dataset.asc=asc?'1':'0';
rows.sort((x,y)=>{const a=x.cells[i].dataset.v??x.cells[i].textContent,c=y.cells[i].dataset.v??y.cells[i].textContent;
const n=parseFloat(a)-parseFloat(c);return (isNaN(n)?a.localeCompare(c):n)*(asc?1:-1)});
rows.forEach(r=>b.appendChild(r))})})});
"""


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return buf.getvalue()


def class_table(result: dict, class_map) -> list[dict]:
    """The classification report joined with the class map: ``index, codepoint, char, romaji,
    precision, recall, f1, support`` per class (``result`` from :func:`fude.evaluate.metrics`)."""
    return [{"index": c["index"], "codepoint": c["codepoint"], "char": c["char"],
             "romaji": class_map.romaji(c["index"]) or "", "precision": c["precision"], "recall": c["recall"],
             "f1": c["f1"], "support": c["support"]} for c in result["per_class"]]


def _table_html(rows: list[dict]) -> str:
    head = "".join(f"<th>{html.escape(k)}</th>" for k in rows[0])
    body = []
    for r in rows:
        cells = []
        for k, v in r.items():
            if k == "char":
                cells.append(f'<td class="char" data-v="{ord(v[0])}">{html.escape(v)}</td>')
            elif isinstance(v, float):
                cells.append(f'<td data-v="{v}">{v:.4f}</td>')
            else:
                cells.append(f"<td>{html.escape(str(v))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="sortable"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def training_overlap(rec: Recognizer, data: Dataset) -> bool:
    """True when ``data`` is (by file md5, or by dataset name and split) what ``rec`` was trained on."""
    trained = rec.config.get("data") or {}
    md5s = {f.get("md5") for f in trained.get("files", [])} - {None}
    if md5s and md5s & {f.get("md5") for f in data.source.get("files", [])}:
        return True
    return bool(trained.get("name")) and (trained.get("name"), trained.get("split")) == (
        data.source.get("name"), data.source.get("split"))


def build_report(rec: Recognizer, data: Dataset, out: str | Path, model_name: str = "", *, tta: int = 0,
                 history: list[dict] | None = None, train_labels: np.ndarray | None = None,
                 compare: tuple[Recognizer, Dataset] | None = None, umap_points: int = 5000, pairs: int = 8,
                 seed: int = 0, log=print) -> Path:
    """Evaluate ``rec`` on labelled ``data`` and write ``out/report.html`` plus every figure as PNG
    and the metrics as JSON.

    Args:
        history: the run's ``metrics.jsonl`` rows, for learning curves (skipped if None).
        train_labels: labels of the training data, for the class distribution beside ``data``'s.
        compare: a second (model, dataset), e.g. the MNIST model and MNIST test images, whose UMAP
            maps are drawn beside this one's.
        umap_points: at most this many images (a stratified random draw) go into each UMAP map.

    Returns:
        the path of ``report.html``.

    Raises:
        ValueError: unlabelled data, class maps that differ (see :func:`fude.evaluate.evaluate`).
    """
    from fude import plots
    from fude.evaluate import check_class_maps, metrics, predict_proba

    if data.labels is None:
        raise ValueError("a report needs labelled data; the dataset has no labels")
    check_class_maps(rec, data)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cmap, x, y = data.class_map, data.images, data.labels
    t0 = time.perf_counter()
    probs = predict_proba(rec, x, tta)
    pred = probs.argmax(1)
    result = metrics(y, pred, cmap)
    cm = np.array(result["confusion_matrix"])
    top_pairs = plots.most_confused_pairs(cm, cmap, pairs)

    figures: list[tuple[str, str, object]] = []  # (file stem, title, Figure)
    dist = {"train": train_labels, "evaluated": y} if train_labels is not None else {"evaluated": y}
    figures.append(("class_distribution", "Class distribution", plots.class_distribution(dist, cmap)))
    figures.append(("samples", "Samples", plots.sample_grid(x, y, cmap, seed=seed)))
    if history:
        figures.append(("learning_curves", "Learning curves", plots.learning_curves(history)))
    figures.append(("per_class_scores", "Per-class scores", plots.per_class_bars(y, pred, cmap)))
    figures.append(("precision_recall", "Precision vs recall", plots.precision_recall_scatter(y, pred, cmap)))
    figures.append(("confusion_counts", "Confusion matrix (counts)", plots.confusion_matrix(cm, cmap)))
    figures.append(("confusion_normalised", "Confusion matrix (row-normalised)",
                    plots.confusion_matrix(cm, cmap, normalize=True)))
    figures.append(("confused_pairs", "Most-confused pairs",
                    plots.confused_pairs_gallery(x, y, pred, cmap, top_pairs)))
    figures.append(("misclassified", "Misclassified images", plots.misclassified_gallery(x, y, probs, cmap)))
    if umap_points:
        log("UMAP maps (a minute on 2 cores for 5,000 points) ...")
        pairs_ = [(rec, data)] + ([compare] if compare else [])
        figures.append(("umap", "UMAP maps", plots.umap_map(umap_panels(pairs_, umap_points, seed))))

    sections = []
    for stem, title, fig in figures:
        png = _png(fig)
        atomic_write(out / f"{stem}.png", png)
        sections.append(f'<h2 id="{stem}">{html.escape(title)}</h2>'
                        f'<img alt="{html.escape(title)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">')
        if stem == "precision_recall":  # the table goes beside the per-class figures
            sections.append("<h2 id=\"classification_report\">Classification report</h2>"
                            "<p>Click a column header to sort.</p>" + _table_html(class_table(result, cmap)))
        if stem == "confusion_normalised" and top_pairs:
            rows = [{"true": f"{p['true_char']}", "predicted": p["pred_char"], "count": p["count"],
                     "rate": p["rate"]} for p in top_pairs]
            sections.append("<h3>Most-confused pairs</h3>" + _table_html(rows))
    atomic_write(out / "metrics.json", json.dumps({**result, "tta": tta, "model": model_name,
                                                   "data": data.source}, indent=1, ensure_ascii=False).encode())

    warn = ""
    if training_overlap(rec, data):
        warn = ('<p class="warn">These images are the data this model was trained on, so the scores below are '
                "optimistic: they measure memory, not generalisation. Evaluate on held-out images (another split, "
                "or <code>fude cv</code>) for an honest estimate.</p>")
    src = data.source
    facts = {"model": model_name or "(in memory)", "architecture": rec.net.arch or type(rec.net).__name__,
             "data": f"{src.get('name', 'data')} {src.get('split', '')}".strip() + f", {len(data):,} images, "
             f"{len(cmap)} classes", "accuracy": f"{result['accuracy']:.4f}",
             "balanced accuracy": f"{result['balanced_accuracy']:.4f}", "test-time augmentation": f"level {tta}",
             "misclassified": f"{int((pred != y).sum()):,}", "made": time.strftime("%Y-%m-%d %H:%M"),
             "seconds to build": f"{time.perf_counter() - t0:.0f}"}
    dl = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in facts.items())
    toc = " · ".join(f'<a href="#{stem}">{html.escape(title)}</a>' for stem, title, _ in figures)
    page = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
            f'content="width=device-width,initial-scale=1"><title>fude report: {html.escape(model_name)}</title>'
            f"<style>{_CSS}</style></head><body><h1>fude report: {html.escape(model_name)} on "
            f"{html.escape(facts['data'])}</h1>{warn}<dl>{dl}</dl><p>{toc}</p>{''.join(sections)}"
            f"<script>{_JS}</script></body></html>")
    atomic_write(out / "report.html", page.encode())
    return out / "report.html"


def umap_panels(models_and_data: list[tuple[Recognizer, Dataset]], points: int = 5000, seed: int = 0) -> list[tuple]:
    """For each (model, labelled dataset): UMAP panels of raw pixels and of the model's features,
    over a stratified draw of at most ``points`` images; input for :func:`fude.plots.umap_map`."""
    from fude.plots import umap_embedding

    panels = []
    for rec, d in models_and_data:
        idx = _stratified_sample(d.labels, points, seed)
        tag = d.source.get("name", "data")
        panels.append((f"{tag}: pixels", umap_embedding(d.images[idx], seed), d.labels[idx], d.class_map))
        panels.append((f"{tag}: model features", umap_embedding(rec.features(d.images[idx]), seed), d.labels[idx],
                       d.class_map))
    return panels


def _stratified_sample(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """At most ``n`` indices, the same share from every class (all of them if there are fewer)."""
    if len(labels) <= n:
        return np.arange(len(labels))
    from sklearn.model_selection import train_test_split

    idx, _ = train_test_split(np.arange(len(labels)), train_size=n, stratify=labels, random_state=seed)
    return np.sort(idx)
