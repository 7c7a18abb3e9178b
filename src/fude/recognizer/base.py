"""What every recognizer does, whatever runs its network: :class:`BaseRecognizer` reads drawings
(rasterised or turned into point sequences, mixed with a companion's reading, then the parts of
:mod:`fude.recognizer.reading`) and ranks guesses. Its subclasses run the network:
:class:`fude.recognizer.Recognizer` in PyTorch, :class:`fude.recognizer.onnx.OnnxRecognizer` in
onnxruntime from the model's ONNX file. This module imports neither."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fude.classmap import ClassMap
from fude.models.spec import InputSpec
from fude.recognizer.config import RecognizerConfig
from fude.recognizer.reading import StrokeReader, rank


class BaseRecognizer:
    """A network's reading of images and drawings, with its class map and reading settings.

    A subclass sets ``input_spec`` (:class:`~fude.models.spec.InputSpec`: what the network reads)
    and implements :meth:`predict_proba`; everything else is shared.

    Attributes:
        class_map: the classes' characters and code points.
        settings: the :class:`~fude.recognizer.config.RecognizerConfig` (ink box, companion weight,
            priors, stroke-count weighing) that :meth:`predict_strokes` applies.
        config: the full saved config (model, class map, training command, data, ...).
        companion: a second recognizer of the same classes that reads drawings another way (a
            stroke-sequence network beside an image network), or None; see
            :meth:`strokes_proba`.

    Raises:
        ValueError: a companion with other classes or with a companion of its own.
    """

    input_spec: InputSpec

    def __init__(self, class_map: ClassMap, settings: RecognizerConfig | None = None, config: dict | None = None,
                 companion: BaseRecognizer | None = None) -> None:
        self.class_map = class_map
        self.settings = settings or RecognizerConfig()
        self.config = config or {}
        problem = companion_problem(companion, class_map)
        if problem:
            raise ValueError(problem)
        self.companion = companion
        self._mix = None  # float32 (K,) the companion's weight per class
        if companion is not None:
            from fude.scripts import script

            self._mix = np.array(self.settings.companion_weights([script(c) for c in class_map.chars]), np.float32)
        self._reader = StrokeReader(self, self.settings)

    @property
    def reader(self) -> StrokeReader:
        """The :class:`~fude.recognizer.reading.StrokeReader` that reads with this recognizer's
        settings (small kana, priors, stroke counts, filter, ranking)."""
        return self._reader

    @property
    def box(self) -> float:
        """Pixels the ink is fitted into when preprocessing an image file or rasterising a drawing."""
        return self.settings.box

    @property
    def input_size(self) -> int:
        """Pixels per side of the images the network reads (0 for a sequence model)."""
        return self.input_spec.size

    def predict_proba(self, inputs, batch_size: int = 512) -> np.ndarray:
        """Class probabilities float32 ``(N, num_classes)`` for what the network reads (see the
        subclass)."""
        raise NotImplementedError

    def strokes_proba(self, strokes: list[np.ndarray]) -> np.ndarray:
        """The probabilities float32 ``(K,)`` for one drawing of checked strokes
        (:func:`fude.strokes.check_strokes`), rasterised or turned into a point sequence as the
        network reads it, mixed with the companion's when there is one (``settings.companion_weight``
        on the companion's, per script if the settings say so: the two miss different drawings, an
        image not knowing the stroke order and a sequence not seeing the finished shape); no
        small-kana split, no priors, no filter (:meth:`predict_strokes` adds those)."""
        return self.strokes_proba_many([strokes])[0]

    def strokes_proba_many(self, drawings: list[list[np.ndarray]]) -> np.ndarray:
        """:meth:`strokes_proba` for several drawings at once, float32 ``(N, K)``: each network runs
        once on all of them (what the server's batches do)."""
        return self.read_many(drawings)[0]

    def read_many(self, drawings: list[list[np.ndarray]], features: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """:meth:`strokes_proba_many`, and with ``features`` the drawings' features float32 ``(N, D)``
        from the same runs of the networks: each network's features before its head, scaled to
        unit length, side by side with the companion's, the whole scaled to unit length (what a
        writer's memory compares drawings by: :mod:`fude.recognizer.writer`); else None.

        Raises:
            ModelError: ``features`` asked of a network that cannot give them.
        """
        from fude.strokes import rasterise, sequence_features

        spec = self.input_spec
        if spec.kind == "sequence":
            inputs = np.stack([sequence_features(s, length=spec.length) for s in drawings])
        else:
            inputs = np.stack([rasterise(s, size=spec.size, box=self.box) for s in drawings])
        feats = None
        if features:
            logits, raw = self.logits_and_features(inputs)
            probs, feats = softmax(np.asarray(logits)), unit_rows(raw)
        else:
            probs = self.predict_proba(inputs)
        if self.companion is not None:
            other, other_feats = self.companion.read_many(drawings, features)
            probs = (1.0 - self._mix) * probs + self._mix * other
            probs = (probs / probs.sum(axis=1, keepdims=True)).astype(np.float32)
            if features:
                feats = unit_rows(np.concatenate([feats, other_feats], axis=1))
        return finite(probs), feats

    def logits_and_features(self, inputs, batch_size: int = 512) -> tuple[np.ndarray, np.ndarray]:
        """Logits ``(N, K)`` and features before the head ``(N, D)``, float32 (see the subclass)."""
        raise NotImplementedError

    def predict_strokes(self, strokes, k: int = 5, canvas: dict | None = None, script: str = "all",
                        chars: str | None = None) -> list[dict]:
        """Top-``k`` guesses for one character drawn as strokes (see :mod:`fude.strokes`): a list of
        ``{"index", "char", "codepoint", "script", "probability"}``, most probable first.

        The strokes are rasterised as the model's training images were (ink fitted into its
        ``box``), or for a sequence model turned into its point sequence, and read by the parts of
        :mod:`fude.recognizer.reading` under ``settings``: with a ``companion`` the two networks'
        probabilities are averaged; small kana share their full-size form's shape (ぁ/あ, ッ/ツ,
        ...), so the pair's probability is split by the drawing's size relative to ``canvas``
        (``{"width", "height"}`` in the strokes' units) when given, and otherwise leans 70:30 to the
        full-size kana (far more frequent in text); the priors and the stroke-count weighing then
        multiply each class's probability.

        Args:
            script: only characters of this script (:data:`fude.scripts.SCRIPT_FILTERS`: ``all``,
                ``hiragana``, ``katakana``, ``kana``, ``kanji``); the probabilities are renormalised
                over what is left.
            chars: only these characters (e.g. the kana of a lesson), within ``script``.

        Raises:
            fude.strokes.StrokeError: empty, malformed, non-finite or too many strokes.
            ValueError: an unknown script, or a filter that leaves none of the model's characters.
        """
        return self._reader.predict_strokes(strokes, k, canvas, script, chars)

    def predict_strokes_many(self, requests: list[dict]) -> list[list[dict] | Exception]:
        """Several drawings read as :meth:`predict_strokes` reads each, the networks run once for
        all of them: ``requests`` holds ``{"strokes", "k", "canvas", "script", "chars"}`` dicts (all
        but ``strokes`` optional, defaults as :meth:`predict_strokes`); the answer for each is its
        guesses, or the ``StrokeError``/``ValueError`` that :meth:`predict_strokes` would raise for
        it (one bad drawing does not fail the others). The guesses are those of one-at-a-time
        calls (the same ranking; probabilities to float rounding: tested)."""
        return self._reader.predict_many(requests)

    def writer(self, path=None):
        """A writer's memory over this recognizer (:class:`fude.recognizer.writer.Writer`): empty, or
        loaded from ``path`` (a file :meth:`Writer.save` wrote with this model).

        Raises:
            fude.recognizer.writer.WriterError: a damaged file, or one made with another model.
        """
        from fude.recognizer.writer import Writer

        return Writer(self, path)

    def predict_line(self, strokes, k: int = 5, script: str = "all", chars: str | None = None,
                     abandoned=None) -> dict:
        """Several characters written left to right in one drawing, read together
        (:func:`fude.recognizer.line.read_line`): ``{"text", "characters": [{"strokes": [stroke
        indices], "top": [top-``k`` guesses]}, ...]}``.

        Raises:
            fude.strokes.StrokeError: empty, malformed, non-finite or too many strokes.
            ValueError: an unknown script, or a filter that leaves none of the model's characters.
        """
        from fude.recognizer.line import read_line

        return read_line(self, strokes, k, script, chars, abandoned=abandoned)

    def predict(self, images, k: int = 5, ink_share=None, script: str = "all", chars: str | None = None,
                weigh: bool = True) -> list[list[dict]]:
        """Top-``k`` guesses per image: a list (one per image) of
        ``[{"index", "char", "codepoint", "script", "probability"}, ...]``, most probable first.

        The network's probabilities are read as a drawing's are, less what needs strokes: small
        kana split by how much of its picture each character's ink spans (``ink_share``: float
        ``(N,)`` in (0, 1], from :func:`fude.datasets.preprocess.read_picture`; None: unknown, the
        pair leans to the full-size kana), the reading settings' priors (a rare kanji needs far
        stronger ink evidence than a common look-alike), then the ``script``/``chars`` filter.
        ``weigh=False``: the network's probabilities alone. The first guess carries
        ``"by_size": True`` when the size decided between a small kana and its full-size form.

        Args:
            images: uint8 ``(N, S, S)`` or float32 ``(N, 1, S, S)`` in [0, 1], ``S`` the network's
                input size, bright ink on black (:func:`fude.datasets.preprocess.to_dataset_image`).

        Raises:
            ValueError: images of another shape, an unknown script, or a filter that leaves none of
                the model's characters.
        """
        probs = finite(self.predict_proba(images))
        if not weigh:
            return self.top_k(probs, k)
        from fude.scripts import allowed

        keep = allowed(self.class_map.chars, script, chars) if script != "all" or chars is not None else None
        shares = [None] * len(probs) if ink_share is None else [float(v) for v in np.asarray(ink_share).ravel()]
        if len(shares) != len(probs):
            raise ValueError(f"ink_share needs one value per image ({len(probs)}), got {len(shares)}")
        probs = np.stack([self._reader.image_proba(p, s, keep) for p, s in zip(probs, shares)]) if len(probs) else probs
        return [self._reader.mark_size(top) for top in self.top_k(probs, k, keep)]

    def top_k(self, probs: np.ndarray, k: int = 5, keep: np.ndarray | None = None) -> list[list[dict]]:
        """Probabilities ``(N, K)`` -> the top-``k`` guesses per row (:func:`fude.recognizer.reading.rank`:
        twins side by side; ``keep``, bool ``(K,)``: only these classes)."""
        return rank(probs, self.class_map, k, keep, self._reader.twins)


def image_array(images, size: int) -> np.ndarray:
    """uint8 ``(N, size, size)`` (0..255) or float ``(N, 1, size, size)`` in [0, 1] -> float32
    ``(N, 1, size, size)`` in [0, 1], C-contiguous.

    Raises:
        ValueError: any other shape or dtype.
    """
    x = np.asarray(images)
    if x.dtype == np.uint8:
        if x.ndim == 3:
            x = x[:, None]
        x = x.astype(np.float32) / np.float32(255)
    if x.ndim != 4 or x.shape[1:] != (1, size, size) or x.dtype.kind != "f":
        raise ValueError(f"images must be uint8 (N, {size}, {size}) or float (N, 1, {size}, {size}) in [0, 1]; "
                         f"got {x.dtype} {tuple(x.shape)}")
    return np.ascontiguousarray(x, np.float32)


def companion_location(folder: Path, name: str) -> Path | str:
    """Where a model folder's companion ``name`` is: a folder relative to ``folder`` when one with a
    config is there, else a shipped model's name (or any path :func:`fude.load_model` resolves)."""
    return folder / name if (folder / name / "config.json").exists() else name


def companion_problem(companion: BaseRecognizer | None, class_map: ClassMap) -> str | None:
    """What is wrong with ``companion`` as the companion of a recognizer of ``class_map`` (see
    :class:`BaseRecognizer`), or None when nothing is."""
    if companion is None:
        return None
    if companion.companion is not None:
        return "a companion recognizer cannot have a companion of its own"
    if companion.class_map.chars != class_map.chars:
        return "a companion recognizer must read the same classes in the same order"
    return None


def finite(probs: np.ndarray) -> np.ndarray:
    """``probs``, checked: a network whose answer holds NaN or infinity has damaged weights, and its
    reading would show as ``nan%``.

    Raises:
        fude.errors.ModelError: a value that is not finite.
    """
    if not np.isfinite(probs).all():
        from fude.errors import ModelError

        raise ModelError("the model's network answered NaN or infinite probabilities: its weights are damaged")
    return probs


def unit_rows(x: np.ndarray) -> np.ndarray:
    """float ``(N, D)`` -> float32 ``(N, D)``, each row scaled to unit length (zero rows stay zero)."""
    x = np.asarray(x, np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of float ``(N, K)`` logits -> float32 ``(N, K)`` probabilities."""
    z = logits.astype(np.float32, copy=True)
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z
