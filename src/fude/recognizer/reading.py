"""Reading a drawing as composable parts, whatever scores it:

    scorer (strokes -> probabilities over the class map)
      -> small-kana split (by the drawing's size on its canvas)
      -> rescorers (priors and evidence: each a factor per class, multiplied in)
      -> filter (a script, a set of characters) and renormalising
      -> ranking (top-k, twins side by side)

A scorer is any object with a ``class_map`` (:class:`fude.classmap.ClassMap`) and a
``strokes_proba(strokes) -> float32 (K,)`` method: a network (:class:`fude.recognizer.Recognizer`),
a network and its companion, or a new family (template matching, an ONNX-only scorer) written as
one class. :class:`StrokeReader` runs the parts; :func:`rescorers` builds the ones a
:class:`~fude.recognizer.config.RecognizerConfig` asks for. NumPy only.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from fude.classmap import ClassMap
from fude.recognizer.config import RecognizerConfig
from fude.scripts import SMALL_KANA, TWINS, kanjidic, prior_factors, script

SMALL_KANA_SHARE = 0.3  # the small kana's share of a pair's probability when the drawing's size is unknown
FREQUENCY_OFFSET = 100  # rank offset of the frequency prior: the 100 most frequent kanji weigh nearly alike
# ranks given to kanji KANJIDIC2 does not rank, by school grade (8: jōyō; 9, 10: jinmeiyō), and to the rest
UNRANKED = {8: 2600, 9: 3500, 10: 3500, None: 5000}


class Scorer(Protocol):
    """What :class:`StrokeReader` reads drawings with."""

    class_map: ClassMap

    def strokes_proba(self, strokes: list[np.ndarray]) -> np.ndarray:
        """Probabilities float32 ``(K,)`` over ``class_map`` for one drawing of checked strokes."""


class Rescorer(Protocol):
    """A prior or a piece of evidence: a factor for each class, given the drawing."""

    def factors(self, strokes: list[np.ndarray] | None) -> np.ndarray | None:
        """float ``(K,)`` factors for this drawing (None: a picture, no strokes), or None when it
        weighs nothing."""


class ScriptPrior:
    """Every class of a script multiplied by that script's factor (``{"hiragana": 1.5,
    "uncommon-kanji": 0.5}``; :func:`fude.scripts.prior_factors`)."""

    def __init__(self, chars, prior: dict[str, float]) -> None:
        self.weights = prior_factors(chars, prior)

    def factors(self, strokes) -> np.ndarray:
        return self.weights


def frequency_ranks(chars) -> np.ndarray:
    """Each character's newspaper frequency rank (KANJIDIC2; :data:`UNRANKED` by grade for kanji
    beyond the 2,500 ranked), 0 for characters that are not kanji: int ``(len(chars),)``."""
    dic = kanjidic()
    out = np.zeros(len(chars), np.int64)
    for i, c in enumerate(chars):
        if script(c) == "kanji":
            freq, grade = (dic.get(c) or [None, None])[:2]
            out[i] = freq if freq else UNRANKED.get(grade, UNRANKED[None])
    return out


class FrequencyPrior:
    """A kanji's probability multiplied by ``((rank + 100) / 101) ** -strength``: frequent kanji are
    far more often written than rare ones of a similar shape (末/未, 土/士). Kana are not weighed."""

    def __init__(self, chars, strength: float) -> None:
        ranks = frequency_ranks(chars)
        self.weights = np.where(ranks > 0, ((ranks + FREQUENCY_OFFSET) / (FREQUENCY_OFFSET + 1.0)) ** -strength, 1.0)

    def factors(self, strokes) -> np.ndarray:
        return self.weights


class StrokeCount:
    """Stroke-count evidence: a character whose KanjiVG forms have at most ``m`` strokes is unlikely
    the reading of a drawing of many more. Each stroke beyond ``m + ceil(slack * m)`` multiplies its
    probability by ``factor``; fewer strokes than the character has weigh nothing (writers join
    strokes), and ``slack`` lets a writer split strokes too. Characters KanjiVG does not draw are
    never weighed."""

    def __init__(self, chars, factor: float, slack: float = 0.0) -> None:
        from fude.strokes.kanjivg import most_strokes

        most = most_strokes()
        self.most = np.array([most.get(c, 0) for c in chars])
        self.allowed = self.most + np.ceil(slack * self.most).astype(np.int64)
        self.factor = float(factor)

    def factors(self, strokes) -> np.ndarray | None:
        if strokes is None:  # a picture: no strokes to count
            return None
        return self.factor ** extra_strokes(self.allowed, len(strokes))


def extra_strokes(most: np.ndarray, n_strokes: int | np.ndarray) -> np.ndarray:
    """How many strokes a drawing of ``n_strokes`` has beyond each class's most (``most``: int
    ``(K,)``, 0 where unknown; or an allowance such as :attr:`StrokeCount.allowed`): int ``(K,)``, 0
    for the classes with enough strokes and the unknown ones. ``n_strokes`` int ``(N, 1)`` for N
    drawings gives ``(N, K)``."""
    return np.where(most > 0, np.maximum(n_strokes - most, 0), 0)


def rescorers(chars, cfg: RecognizerConfig) -> list[Rescorer]:
    """The rescorers ``cfg`` asks for, in the order they apply (any order gives the same product)."""
    out: list[Rescorer] = []
    if cfg.script_prior:
        out.append(ScriptPrior(chars, cfg.script_prior))
    if cfg.frequency_prior:
        out.append(FrequencyPrior(chars, cfg.frequency_prior))
    if cfg.extra_stroke_factor != 1.0:
        out.append(StrokeCount(chars, cfg.extra_stroke_factor, cfg.stroke_slack))
    return out


def small_kana_pairs(class_map: ClassMap) -> list[tuple[int, int]]:
    """(small, full-size) class indices of every small kana whose full-size form is also a class."""
    index = {c: i for i, c in enumerate(class_map.chars)}
    return [(index[s], index[b]) for s, b in SMALL_KANA.items() if s in index and b in index]


def split_small_kana(probs: np.ndarray, class_map: ClassMap, strokes: list[np.ndarray],
                     canvas: dict | None, pairs: list[tuple[int, int]] | None = None,
                     side: float = 0.35, share: float | None = None) -> np.ndarray:
    """Share each small/full-size kana pair's probability (``(K,)`` float32, changed in place and
    returned) by the drawing's size: small kana fill well under half the writing square, so a
    drawing that spans less than about ``side`` (35%) of the canvas's longer side leans to the
    small one (a logistic in that share); people who write small still draw a full-size kana over
    40% or more of an ordinary canvas, and it stays full-size. Without a canvas,
    :data:`SMALL_KANA_SHARE` goes to the small kana. ``share`` (in [0, 1]), when given, is the small
    kana's share whatever the size (a line judges it by the character's place among the others:
    :mod:`fude.recognizer.line`)."""
    from fude.strokes import bounds

    pairs = small_kana_pairs(class_map) if pairs is None else pairs
    if not pairs:
        return probs
    canvas_side = max(float(canvas.get("width") or 0), float(canvas.get("height") or 0)) if canvas else 0.0
    if share is not None:
        w_small = float(share)
    elif canvas_side > 0:
        lo, hi = bounds(strokes)
        w_small = small_share_by_size(float((hi - lo).max()) / canvas_side, side)
    else:
        w_small = SMALL_KANA_SHARE
    for s, b in pairs:
        mass = probs[s] + probs[b]
        probs[s], probs[b] = mass * w_small, mass * (1 - w_small)
    return probs


def small_share_by_size(rel: float, side: float = 0.35) -> float:
    """A small kana's share of its pair's probability for a character whose ink spans ``rel`` of its
    writing box's longer side (a canvas, a picture): a logistic 0.03 wide around ``side``."""
    return float(1 / (1 + np.exp(np.clip((rel - side) / 0.03, -50, 50))))


def twin_groups(class_map: ClassMap) -> list[np.ndarray] | None:
    """Class indices of each group of twins (:data:`fude.scripts.TWINS`) in a class map (None: no twins)."""
    index = {c: i for i, c in enumerate(class_map.chars)}
    groups = [np.array([index[c] for c in g if c in index]) for g in TWINS]
    return [g for g in groups if len(g) > 1] or None


def rank(probs: np.ndarray, class_map: ClassMap, k: int = 5, keep: np.ndarray | None = None,
         groups: list[np.ndarray] | None = None) -> list[list[dict]]:
    """Probabilities ``(N, K)`` -> the top-``k`` guesses per row: ``[{"index", "char", "codepoint",
    "script", "probability"}, ...]``, most probable first. Twins (``groups``, :func:`twin_groups`)
    are ranked next to each other, the pair where its more probable member would be. ``keep``
    (bool ``(K,)``): only these classes."""
    k = min(k, probs.shape[1] if keep is None else int(keep.sum()))
    if groups:  # each twin's group as one run of class indices: members, where each group starts, its size
        members = np.concatenate(groups)
        starts = np.cumsum([0] + [len(g) for g in groups[:-1]])
        sizes = np.array([len(g) for g in groups])
        leader = np.arange(probs.shape[1])
        leader[members] = np.repeat([g[0] for g in groups], sizes)
    rows = []
    for p in probs:
        if groups is None and keep is None:
            order = np.argsort(-p, kind="stable")[:k]
        else:
            key = p.astype(np.float64)
            if groups:
                key[members] = np.repeat(np.maximum.reduceat(p[members], starts), sizes)
            if keep is not None:
                key[~keep] = -1.0  # filtered out: after every kept class
            # only the best few can make the top k: sort those (a twin's partner may tie at the edge)
            slack = k + (len(members) if groups else 0)
            cand = np.argpartition(-key, slack)[: slack + 1] if slack < len(key) - 1 else np.arange(len(key))
            lead = leader[cand] if groups else cand
            order = cand[np.lexsort((-p[cand], lead, -key[cand]))][:k]
        rows.append([{"index": int(i), "char": class_map.char(int(i)), "codepoint": class_map.codepoint(int(i)),
                      "script": script(class_map.char(int(i))), "probability": float(p[i])} for i in order])
    return rows


class StrokeReader:
    """Reads one drawing with a scorer and the parts a :class:`RecognizerConfig` asks for (see the
    module): ``StrokeReader(scorer, cfg).predict_strokes(strokes, k=5)``.

    Attributes:
        scorer: what gives each drawing its probabilities (:class:`Scorer`).
        config: the reading settings (small-kana side, priors, stroke-count weighing).
        rescorers: the :class:`Rescorer` parts, from ``config`` unless given.
    """

    def __init__(self, scorer: Scorer, config: RecognizerConfig = RecognizerConfig(),
                 parts: list[Rescorer] | None = None) -> None:
        self.scorer = scorer
        self.class_map = scorer.class_map
        self.config = config
        self.rescorers = rescorers(self.class_map.chars, config) if parts is None else list(parts)
        self._pairs = small_kana_pairs(self.class_map)
        self.twins = twin_groups(self.class_map)  # class indices of each group of twins (None: none)

    def proba(self, strokes: list[np.ndarray], canvas: dict | None = None, keep: np.ndarray | None = None,
              scored: np.ndarray | None = None, small_share: float | None = None) -> np.ndarray:
        """The reading's probabilities float32 ``(K,)`` for checked strokes: scored (unless
        ``scored`` gives the scorer's probabilities already), small kana split (by ``canvas``, or
        ``small_share`` when given: :func:`split_small_kana`), rescored and filtered to ``keep``
        (bool ``(K,)``), renormalised."""
        probs = np.array(self.scorer.strokes_proba(strokes) if scored is None else scored, np.float32)
        probs = split_small_kana(probs, self.class_map, strokes, canvas, self._pairs, self.config.small_kana_side,
                                 small_share)
        return self._weigh(probs, strokes, keep)

    def mark_size(self, top: list[dict]) -> list[dict]:
        """``top`` (ranked guesses) with ``"by_size": True`` on the first guess when the size decided
        it: it is a small kana or its full-size form (っ/つ, ョ/ヨ), which the networks see alike, so
        which of the two it is was told by the share of the writing box (or, in a line, the place)
        its ink takes, or without a box by how much more often the full-size one is written. A page
        can offer the other with one tap."""
        if top and self._pairs and any(top[0]["index"] in pair for pair in self._pairs):
            top[0]["by_size"] = True
        return top

    def image_proba(self, probs: np.ndarray, ink_share: float | None = None, keep: np.ndarray | None = None) -> np.ndarray:
        """The reading of a picture from its network's probabilities float32 ``(K,)``: small kana
        split by how much of the picture its ink spans (``ink_share``, in (0, 1]; None: unknown,
        :data:`SMALL_KANA_SHARE`), the priors that need no strokes, filtered to ``keep``,
        renormalised."""
        probs = np.array(probs, np.float32)
        share = None if ink_share is None else small_share_by_size(ink_share, self.config.small_kana_side)
        probs = split_small_kana(probs, self.class_map, [], None, self._pairs, share=share)
        return self._weigh(probs, None, keep)

    def _weigh(self, probs: np.ndarray, strokes: list[np.ndarray] | None, keep: np.ndarray | None) -> np.ndarray:
        """``probs`` times every rescorer's factors and the filter ``keep``, renormalised."""
        w = None
        for part in self.rescorers:
            f = part.factors(strokes)
            if f is not None:
                w = f if w is None else w * f
        if keep is not None:
            w = np.where(keep, 1.0 if w is None else w, 0.0)
        if w is not None:  # the priors and the filter, renormalised once
            probs = (probs * w).astype(np.float32)
            probs /= max(float(probs.sum()), 1e-30)
        return probs

    def predict_strokes(self, strokes, k: int = 5, canvas: dict | None = None, script: str = "all",
                        chars: str | None = None) -> list[dict]:
        """Top-``k`` guesses for one character drawn as strokes (see
        :meth:`fude.recognizer.Recognizer.predict_strokes`, which this is).

        Raises:
            fude.strokes.StrokeError: empty, malformed, non-finite or too many strokes.
            ValueError: an unknown script, or a filter that leaves none of the classes.
        """
        from fude.scripts import allowed
        from fude.strokes import check_strokes

        keep = allowed(self.class_map.chars, script, chars) if script != "all" or chars is not None else None
        strokes = check_strokes(strokes)
        return self.mark_size(rank(self.proba(strokes, canvas, keep)[None], self.class_map, k, keep, self.twins)[0])

    def predict_many(self, requests: list[dict]) -> list[list[dict] | Exception]:
        """Several drawings, each ``{"strokes", "k", "canvas", "script", "chars"}`` (all but
        ``strokes`` optional; ``"small_share"``, optional too, sets the small kana's share as
        :func:`split_small_kana`'s ``share``), read as :meth:`predict_strokes` reads each, scored in
        one call of the scorer's ``strokes_proba_many`` where it has one: each one's guesses, or the
        ``StrokeError``/``ValueError`` its own call would raise."""
        from fude.scripts import allowed
        from fude.strokes import check_strokes

        out: list = [None] * len(requests)
        ready = []  # (index, checked strokes, keep, request)
        for i, r in enumerate(requests):
            script, chars = r.get("script", "all"), r.get("chars")
            try:
                keep = allowed(self.class_map.chars, script, chars) if script != "all" or chars is not None else None
                ready.append((i, check_strokes(r["strokes"]), keep, r))
            except ValueError as e:  # StrokeError is a ValueError
                out[i] = e
        if not ready:
            return out
        drawings = [strokes for _, strokes, _, _ in ready]
        many = getattr(self.scorer, "strokes_proba_many", None)
        scored = many(drawings) if many is not None else [self.scorer.strokes_proba(s) for s in drawings]
        for (i, strokes, keep, r), row in zip(ready, scored):
            probs = self.proba(strokes, r.get("canvas"), keep, scored=row, small_share=r.get("small_share"))
            out[i] = self.mark_size(rank(probs[None], self.class_map, r.get("k", 5), keep, self.twins)[0])
        return out
