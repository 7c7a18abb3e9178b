"""The figures of a model on a dataset, by name (:data:`FIGURES`, what ``fude plot KIND`` draws), and
one self-contained HTML report with all of them, a sortable classification report and the
most-confused pairs — PNGs embedded, so the file opens offline.

    fude report --model kmnist --dataset kmnist --split dev --out report/
"""

from __future__ import annotations

import base64
import html
import io
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from fude.datasets import Dataset
from fude.evaluate import training_overlap
from fude.files import atomic_write, atomic_write_json
from fude.recognizer import Recognizer

logger = logging.getLogger(__name__)


def _plots():
    """fude.plots, imported when a figure is drawn: matplotlib takes a second to import, and the
    command line reads FIGURES to build its parser."""
    from fude import plots

    return plots

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


@dataclass
class Analysis:
    """What the figures are drawn from: a model, labelled data (``None`` for the learning curves
    alone), and optionally the run's history, the training labels and a second (model, dataset)."""

    rec: Recognizer
    data: Dataset | None
    model_name: str = ""
    tta: int = 0
    history: list[dict] | None = None  # the run's metrics.jsonl rows
    train_labels: np.ndarray | None = None  # labels of the training data, drawn beside the evaluated ones
    compare: tuple[Recognizer, Dataset] | None = None  # a second model and its dataset, for UMAP maps
    umap_points: int = 5000  # images per UMAP map (a stratified draw); 0: no UMAP maps
    pairs: int = 8  # most-confused pairs shown
    seed: int = 0

    @cached_property
    def probs(self) -> np.ndarray:
        """Class probabilities ``(N, K)`` float32 (:func:`fude.evaluate.predict_proba`)."""
        from fude.evaluate import predict_proba

        return predict_proba(self.rec, self.data.images, self.tta)

    @cached_property
    def pred(self) -> np.ndarray:
        return self.probs.argmax(1)

    @cached_property
    def result(self) -> dict:
        """:func:`fude.evaluate.metrics` of the predictions."""
        from fude.evaluate import metrics

        return metrics(self.data.labels, self.pred, self.data.class_map)

    @cached_property
    def top_pairs(self) -> list[dict]:
        return _plots().most_confused_pairs(np.array(self.result["confusion_matrix"]), self.data.class_map, self.pairs)

    def labels_by_split(self) -> dict[str, np.ndarray]:
        y = self.data.labels
        return {"train": self.train_labels, "evaluated": y} if self.train_labels is not None else {"evaluated": y}


@dataclass(frozen=True)
class FigureSpec:
    """One figure: its file stem and title in the report, and how it is drawn."""

    stem: str
    title: str
    draw: Callable[[Analysis], object]  # -> matplotlib Figure
    available: Callable[[Analysis], bool] = lambda a: True  # False: the report leaves it out


def _confusion(a: Analysis, normalize: bool):
    return _plots().confusion_matrix(np.array(a.result["confusion_matrix"]), a.data.class_map, normalize=normalize)


def _umap(a: Analysis):
    return _plots().umap_map(umap_panels([(a.rec, a.data)] + ([a.compare] if a.compare else []), a.umap_points, a.seed))


FIGURES: dict[str, FigureSpec] = {  # fude plot KIND -> the figure, in the report's order
    "distribution": FigureSpec("class_distribution", "Class distribution",
                               lambda a: _plots().class_distribution(a.labels_by_split(), a.data.class_map)),
    "samples": FigureSpec("samples", "Samples",
                          lambda a: _plots().sample_grid(a.data.images, a.data.labels, a.data.class_map, seed=a.seed)),
    "curves": FigureSpec("learning_curves", "Learning curves", lambda a: _plots().learning_curves(a.history),
                         lambda a: bool(a.history)),
    "scores": FigureSpec("per_class_scores", "Per-class scores",
                         lambda a: _plots().per_class_bars(a.data.labels, a.pred, a.data.class_map)),
    "precision-recall": FigureSpec("precision_recall", "Precision vs recall",
                                   lambda a: _plots().precision_recall_scatter(a.data.labels, a.pred, a.data.class_map)),
    "confusion": FigureSpec("confusion_counts", "Confusion matrix (counts)", lambda a: _confusion(a, False)),
    "confusion-normalised": FigureSpec("confusion_normalised", "Confusion matrix (row-normalised)",
                                       lambda a: _confusion(a, True)),
    "confused-pairs": FigureSpec("confused_pairs", "Most-confused pairs", lambda a: _plots().confused_pairs_gallery(
        a.data.images, a.data.labels, a.pred, a.data.class_map, a.top_pairs)),
    "misclassified": FigureSpec("misclassified", "Misclassified images", lambda a: _plots().misclassified_gallery(
        a.data.images, a.data.labels, a.probs, a.data.class_map)),
    "umap": FigureSpec("umap", "UMAP maps", _umap, lambda a: a.umap_points > 0),
}


def draw_figure(kind: str, a: Analysis):
    """The figure named ``kind`` (a key of :data:`FIGURES`) of ``a``.

    Raises:
        ValueError: an unknown kind, learning curves without a run's history, or other figures
            without labelled data.
    """
    if kind not in FIGURES:
        raise ValueError(f"unknown figure {kind!r}; figures: {', '.join(FIGURES)}")
    if kind == "curves":
        if not a.history:
            raise ValueError(f"{a.model_name} has no metrics.jsonl: learning curves need a run folder of fude train")
    elif a.data is None or a.data.labels is None:
        raise ValueError(f"plot {kind} needs labelled data")
    return FIGURES[kind].draw(a)


def build_report(a: Analysis, out: str | Path) -> Path:
    """Evaluate ``a.rec`` on ``a.data`` (labelled) and write ``out/report.html`` plus every figure of
    :data:`FIGURES` as PNG and the metrics as JSON.

    Returns:
        the path of ``report.html``.

    Raises:
        ValueError: unlabelled data, class maps that differ (see :func:`fude.evaluate.evaluate`).
    """
    from fude.evaluate import check_class_maps

    if a.data.labels is None:
        raise ValueError("a report needs labelled data; the dataset has no labels")
    check_class_maps(a.rec, a.data)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    result = a.result
    sections, shown = [], []
    for kind, spec in FIGURES.items():
        if not spec.available(a):
            continue
        if kind == "umap":
            logger.info(f"UMAP maps of {min(a.umap_points, len(a.data)):,} points: a few minutes on 2 cores, "
                        "with nothing to show until they are done (--umap-points 0 leaves them out) ...")
        png = _png(spec.draw(a))
        atomic_write(out / f"{spec.stem}.png", png)
        shown.append(spec)
        sections.append(f'<h2 id="{spec.stem}">{html.escape(spec.title)}</h2>'
                        f'<img alt="{html.escape(spec.title)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">')
        if kind == "precision-recall":  # the table goes beside the per-class figures
            sections.append("<h2 id=\"classification_report\">Classification report</h2>"
                            "<p>Click a column header to sort.</p>" + _table_html(class_table(result, a.data.class_map)))
        if kind == "confusion-normalised" and a.top_pairs:
            rows = [{"true": f"{p['true_char']}", "predicted": p["pred_char"], "count": p["count"],
                     "rate": p["rate"]} for p in a.top_pairs]
            sections.append("<h3>Most-confused pairs</h3>" + _table_html(rows))
    atomic_write_json(out / "metrics.json", {**result, "tta": a.tta, "model": a.model_name, "data": a.data.source})

    page = _page(a, result, sections, shown, time.perf_counter() - t0)
    atomic_write(out / "report.html", page.encode())
    return out / "report.html"


def _page(a: Analysis, result: dict, sections: list[str], shown: list[FigureSpec], seconds: float) -> str:
    """The report's HTML: a title, a warning when the data are the model's training data, the facts,
    a table of contents and the sections."""
    warn = ""
    if training_overlap(a.rec, a.data):
        warn = ('<p class="warn">These images are the data this model was trained on, so the scores below are '
                "optimistic: they measure memory, not generalisation. Evaluate on held-out images (another split, "
                "or <code>fude cv</code>) for an honest estimate.</p>")
    src, cmap = a.data.source, a.data.class_map
    facts = {"model": a.model_name or "(in memory)", "architecture": a.rec.net.arch or type(a.rec.net).__name__,
             "data": f"{src.get('name', 'data')} {src.get('split', '')}".strip() + f", {len(a.data):,} images, "
             f"{len(cmap)} classes", "accuracy": f"{result['accuracy']:.4f}",
             "balanced accuracy": f"{result['balanced_accuracy']:.4f}", "test-time augmentation": f"level {a.tta}",
             "misclassified": f"{int((a.pred != a.data.labels).sum()):,}", "made": time.strftime("%Y-%m-%d %H:%M"),
             "seconds to build": f"{seconds:.0f}"}
    dl = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in facts.items())
    toc = " · ".join(f'<a href="#{s.stem}">{html.escape(s.title)}</a>' for s in shown)
    name = html.escape(a.model_name)
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
            f'content="width=device-width,initial-scale=1"><title>fude report: {name}</title>'
            f"<style>{_CSS}</style></head><body><h1>fude report: {name} on "
            f"{html.escape(facts['data'])}</h1>{warn}<dl>{dl}</dl><p>{toc}</p>{''.join(sections)}"
            f"<script>{_JS}</script></body></html>")


def umap_panels(models_and_data: list[tuple[Recognizer, Dataset]], points: int = 5000, seed: int = 0) -> list[tuple]:
    """For each (model, labelled dataset): UMAP panels of raw pixels and of the model's features,
    over a stratified draw of at most ``points`` images; input for :func:`fude.plots.umap_map`."""
    from fude.train.sampling import stratified_sample

    panels = []
    for rec, d in models_and_data:
        idx = stratified_sample(d.labels, points, seed)
        tag = d.source.get("name", "data")
        panels.append((f"{tag}: pixels", _plots().umap_embedding(d.images[idx], seed), d.labels[idx], d.class_map))
        panels.append((f"{tag}: model features", _plots().umap_embedding(rec.features(d.images[idx]), seed),
                       d.labels[idx], d.class_map))
    return panels
