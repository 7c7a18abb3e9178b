"""Reading a word written in a row: several characters drawn left to right as one drawing, the
strokes in the order they were written. The strokes are over-segmented at the places a new
character may begin (a stroke that starts right of everything drawn since the last such place),
every run of strokes between two of them that could be one character is read by the character
recognizer (all in one batch: :meth:`~fude.recognizer.base.BaseRecognizer.predict_strokes_many`),
and the best path through them is chosen by dynamic programming over the places: the sum over its
characters of the log-probability of each one's best reading, plus a shape term (a character is
about as wide as the line is high: a lone stroke of 川 is not, nor two characters together) and a
constant per character. This is
the segmentation-by-recognition of online handwriting recognisers (e.g. Nakagawa et al., "A model
of on-line handwritten Japanese text recognition free from line direction and writing format
constraints", IEICE Trans. 2005), with the recognizer fude already has as its character model and
no language model. Each character keeps its own top-k, so one misread character can be fixed alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fude.strokes import MAX_LINE_POINTS, MAX_LINE_STROKES, check_strokes
from fude.strokes.features import bounds

MAX_CHAR_STROKES = 30  # the most strokes one character of a line may have (kanji with more are rare)
MAX_WIDTH = 1.6  # widest character, in line heights
READ_CHUNK = 64  # candidate runs read in one batch: memory stays that of 64 drawings however long the line


@dataclass(frozen=True)
class LineSettings:
    """How a line is cut into characters (see the module); the defaults were chosen on generated
    lines (``bench/accuracy/line_reading.py``, its tuning seeds, with the shipped ``ja``: the gap,
    thin-run and tiny-run terms did not help there and are off).

    Attributes:
        overlap: line heights a new character's first stroke may start left of the ink before it.
        char_bonus: log-score added per character: how readily a drawing is cut into more.
        gap_weight: log-score per line height of gap before the next character (capped at 0.3):
            characters are set apart by more space than the strokes within one.
        thin_penalty: log-score taken from a run of strokes under 0.2 line heights wide and over
            0.45 high (a lone stroke of 日 or 川: no common character is that thin).
        tiny_penalty: log-score taken from a run of strokes under 0.25 line heights both ways
            (a dot of 学 or 氵 alone: the smallest characters, small kana, are larger).
        wide_from, wide_penalty: log-score taken per line height that a run of strokes is wider than
            ``wide_from`` (two characters written tight, read as one complex kanji: on the tuning
            lines one character spans at most 1.1 line heights in 99 cases of 100, such pairs
            1.25-1.6).
        small_kana_slope, small_kana_offset, small_kana_scale: a kana reads as a small one (ゃ,
            っ, ...) when its ink starts more than ``slope`` x its size - ``offset`` line heights
            below the line's top (small kana are small and sit low; its size: the longer side of its
            ink box, in line heights), a logistic ``scale`` line heights wide. Fitted (logistic
            regression) on the tuning lines' kana: 92% of small/full-size calls right there, against
            83% for the size alone.
        reads_per_stroke: the work a line may cost: its candidate runs hold at most this many
            strokes per stroke of the line, plus 64 (on generated lines, neat and casual, at most
            7.4 with the default overlap); past it the longest runs are left out (a character of
            fewer strokes is tried first), so strokes piled in one place cannot make every run of
            30 strokes a candidate.
    """

    overlap: float = 0.1
    char_bonus: float = -0.5
    gap_weight: float = 0.0
    thin_penalty: float = 0.0
    tiny_penalty: float = 0.0
    wide_from: float = 1.1
    wide_penalty: float = 20.0
    small_kana_slope: float = 0.95
    small_kana_offset: float = 0.45
    small_kana_scale: float = 0.07
    reads_per_stroke: float = 12.0


def runs_of(strokes: list[np.ndarray], height: float, overlap: float, max_strokes: int = MAX_CHAR_STROKES,
            max_width: float = MAX_WIDTH) -> list[tuple[int, int, float]]:
    """The runs of strokes ``[i, j)`` that may be one character, each with the gap (line heights)
    from its ink to stroke ``j``'s start (0 at the end): ``i`` is 0 or a place where a character may
    begin, and stroke ``j`` (when there is one) starts no more than ``overlap`` line heights left of
    the run's ink; at most ``max_strokes`` strokes and ``max_width`` line heights wide. There is
    always a path of runs from the first stroke to the last."""
    n = len(strokes)
    lo = np.array([s[:, 0].min() for s in strokes])
    hi = np.array([s[:, 0].max() for s in strokes])
    runs = []
    reach = {0}  # the places a character may begin: the first stroke and the ends of runs so far
    for i in range(n):
        if i not in reach:
            continue
        right, left = -np.inf, np.inf
        for j in range(i + 1, min(n, i + max_strokes) + 1):
            right, left = max(right, hi[j - 1]), min(left, lo[j - 1])
            if right - left > max_width * height and j > i + 1:
                break
            if j == n:
                runs.append((i, j, 0.0))
            elif lo[j] >= right - overlap * height:
                runs.append((i, j, float(lo[j] - right) / height))
            else:
                continue
            reach.add(j)
    if n not in reach:  # where the rules leave the end unreachable, the last run reaches it anyway
        runs.append((max(reach), n, 0.0))
    return runs


def budgeted_runs(strokes: list[np.ndarray], height: float, settings: LineSettings = LineSettings()) -> list[tuple[int, int, float]]:
    """:func:`runs_of` within the line's budget (:attr:`LineSettings.reads_per_stroke`): the most
    strokes a run may hold is cut by a third at a time until the runs hold at most
    ``reads_per_stroke * len(strokes) + 64`` strokes in all (one-stroke runs always fit)."""
    budget = settings.reads_per_stroke * len(strokes) + 64
    most = MAX_CHAR_STROKES
    while True:
        runs = runs_of(strokes, height, settings.overlap, max_strokes=most)
        if most == 1 or sum(j - i for i, j, _ in runs) <= budget:
            return runs
        most = max(1, most * 2 // 3)


def line_height(strokes: list[np.ndarray]) -> float:
    """The line's height (its ink's), the unit the segmentation measures in."""
    lo, hi = bounds(strokes)
    return max(float(hi[1] - lo[1]), 0.25 * float(hi[0] - lo[0]) / max(1, len(strokes)), 1e-6)


class LineAbandoned(Exception):
    """A line's reading stopped because no one waits for it any more (its client left)."""


def candidates(rec, strokes: list[np.ndarray], k: int = 5, script: str = "all", chars: str | None = None,
               settings: LineSettings = LineSettings(), abandoned=None) -> list[dict]:
    """Every run of checked ``strokes`` that may be one character, read: ``{"run": (i, j), "gap",
    "width", "height" (line heights), "top"}``; read :data:`READ_CHUNK` at a time, and before each
    chunk ``abandoned()`` (when given) is asked whether anyone still waits: if not, the reading
    stops (:class:`LineAbandoned`).

    Raises:
        ValueError: an unknown script, or a filter that leaves none of the model's characters.
    """
    height = line_height(strokes)
    line_top = bounds(strokes)[0][1]
    runs = budgeted_runs(strokes, height, settings)
    boxes = [bounds(strokes[i:j]) for i, j, _ in runs]
    requests = [{"strokes": strokes[i:j], "k": k, "script": script, "chars": chars,
                 "small_share": small_kana_share(lo, hi, line_top, height, settings)}
                for (i, j, _), (lo, hi) in zip(runs, boxes)]
    reads = []
    for start in range(0, len(requests), READ_CHUNK):
        if abandoned is not None and abandoned():
            raise LineAbandoned(f"stopped after {start} of {len(requests)} candidate characters: no one waits")
        reads += rec.predict_strokes_many(requests[start: start + READ_CHUNK])
    out = []
    for (i, j, gap), top, (lo, hi) in zip(runs, reads, boxes):
        if isinstance(top, Exception):
            raise top
        w, h = (hi - lo) / height
        out.append({"run": (i, j), "gap": gap, "width": float(w), "height": float(h), "top": top})
    return out


def small_kana_share(lo: np.ndarray, hi: np.ndarray, line_top: float, height: float,
                     settings: LineSettings = LineSettings()) -> float:
    """How likely a character with ink box ``lo``-``hi`` (``(2,)`` each, the strokes' units) is a
    small kana rather than its full-size form, by its size and how low it starts below the line's
    top (:class:`LineSettings`): in [0, 1]."""
    size = float((hi - lo).max()) / height
    below = (float(lo[1]) - line_top) / height
    z = (below - settings.small_kana_slope * size + settings.small_kana_offset) / settings.small_kana_scale
    return float(1 / (1 + np.exp(-np.clip(z, -50, 50))))


def best_path(cands: list[dict], n: int, settings: LineSettings = LineSettings()) -> list[dict]:
    """The candidates that cut ``n`` strokes into characters with the highest total score (see
    the module and :class:`LineSettings`), left to right. Candidates read with a wider overlap than
    ``settings.overlap`` are used only where nothing else reaches the end."""
    best = np.full(n + 1, -np.inf)
    best[0] = 0.0
    back: list = [None] * (n + 1)
    for c in sorted(cands, key=lambda c: (c["run"][1], c["run"][0])):
        i, j = c["run"]
        score = np.log(max(c["top"][0]["probability"], 1e-12)) + settings.char_bonus \
            + settings.gap_weight * min(c["gap"], 0.3)
        if c["width"] < 0.2 and c["height"] > 0.45:
            score -= settings.thin_penalty
        if max(c["width"], c["height"]) < 0.25:
            score -= settings.tiny_penalty
        score -= settings.wide_penalty * max(0.0, c["width"] - settings.wide_from)
        if c["gap"] < -settings.overlap:  # read with a wider overlap than these settings allow: a last resort
            score -= 100.0
        if best[i] + score > best[j]:
            best[j], back[j] = best[i] + score, c
    path, j = [], n
    while j > 0:
        path.append(back[j])
        j = back[j]["run"][0]
    return path[::-1]


def read_line(rec, strokes, k: int = 5, script: str = "all", chars: str | None = None,
              settings: LineSettings = LineSettings(), abandoned=None) -> dict:
    """Read the characters of a line written left to right (see the module): ``{"text": the best
    reading, "characters": [{"strokes": [indices of its strokes], "top": [its top-``k`` guesses,
    as predict_strokes gives them]}, ...]}``.

    Args:
        rec: a recognizer (:class:`~fude.recognizer.base.BaseRecognizer`).
        strokes: the strokes in writing order, each ``[[x, y], ...]`` (y down), in any unit.
        script, chars: the guesses' filter, as for ``predict_strokes``.
        abandoned: a function that says whether anyone still waits for the reading (a server's
            client that left), asked between chunks of candidates; None: read to the end.

    Raises:
        fude.strokes.StrokeError: empty, malformed or non-finite strokes, or more than
            :data:`~fude.strokes.MAX_LINE_STROKES` strokes or :data:`~fude.strokes.MAX_LINE_POINTS` points.
        ValueError: an unknown script, or a filter that leaves none of the model's characters.
        LineAbandoned: ``abandoned()`` said so.
    """
    strokes = check_strokes(strokes, MAX_LINE_STROKES, MAX_LINE_POINTS)
    path = best_path(candidates(rec, strokes, k, script, chars, settings, abandoned), len(strokes), settings)
    characters = [{"strokes": list(range(*c["run"])), "top": c["top"]} for c in path]
    return {"text": "".join(c["top"][0]["char"] for c in characters), "characters": characters}
