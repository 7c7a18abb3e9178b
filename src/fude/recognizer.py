"""Reading characters with a trained network: :class:`Recognizer` (what ``fude.load_model`` returns)
turns images, stroke sequences or drawings into class probabilities and top-k guesses, in batches,
under the precision the hardware runs fastest."""

from __future__ import annotations

import os

import numpy as np
import torch

from fude.classmap import ClassMap
from fude.datasets.base import IMAGE_SIZE
from fude.models import CharClassifier, ModelError, build_from_config, forward_batched, load_weights, read_config, \
    resolve_model_dir
from fude.models.fuse import fused_for_inference
from fude.runtime import resolve_precision
from fude.scripts import SMALL_KANA

SMALL_KANA_SHARE = 0.3  # the small kana's share of a pair's probability when the drawing's size is unknown
SMALL_KANA_SIDE = 0.35  # a drawing spanning this share of the canvas's longer side is as likely small as full-size
# the automatic backend: calls of fewer images stay in PyTorch (one drawing, a page of them) ...
ORT_MIN_IMAGES = 2048
# ... and so do larger ones until their forward work (images x forward FLOPs per image) adds up to this:
# onnxruntime first exports the network, up to 0.2 s, which less work does not earn back (bench/evaluate_speed.py)
ORT_MIN_GFLOP = 50
BACKENDS = ("auto", "torch", "onnxruntime")


class Recognizer:
    """A trained network with its class map and preprocessing.

    Attributes:
        net: the :class:`~fude.models.CharClassifier`, in eval mode, channels-last.
        fused: a copy of ``net`` with its batch norms folded into the convolutions
            (:mod:`fude.models.fuse`): what the forward passes run.
        class_map: the classes' characters and code points.
        box: pixels the ink is fitted into when preprocessing an image file or rasterising a
            drawing (see :func:`fude.datasets.preprocess.to_dataset_image`).
        config: the full saved config (model, class map, training command, data, ...).
        precision: ``"fp32"`` or ``"bf16"``: the autocast of the forward passes. ``"auto"`` (the
            default) picks bf16 where the hardware runs it fast, as training does
            (:func:`fude.runtime.resolve_precision`); bf16 and fp32 give the same top-1 on the
            shipped models' test images (tested), and ``bench/evaluate_speed.py`` measures both.
        backend: ``"torch"``, ``"onnxruntime"`` (:class:`fude.models.ort.OrtRunner`; image
            networks in fp32 on the CPU), or ``"auto"`` (the default): where onnxruntime applies
            and is installed, calls of at least :data:`ORT_MIN_IMAGES` images run in it once such
            calls of this recognizer have added up to :data:`ORT_MIN_GFLOP` GFLOP of forward work,
            this call's included (e.g. one call on the 10,000 MNIST test images with the shipped
            ``mnist`` network; with the fast recipe's small network the third such call): the up
            to 0.2 s onnxruntime needs to set up is then repaid, as skis are bought once their
            rent has added up to their price; PyTorch otherwise. The two give the same logits to
            float rounding (tested).
        companion: a second recognizer of the same classes that reads drawings another way (a
            stroke-sequence network beside an image network), or None. :meth:`predict_strokes`
            averages the two's probabilities, ``companion_weight`` on the companion's: the two
            miss different drawings (an image does not know the stroke order; a sequence does not
            see the finished shape). Images (:meth:`predict`) are read by ``net`` alone.
        script_prior: {group: factor} (:data:`fude.scripts.PRIOR_GROUPS`: a script name such as
            ``"hiragana"``, or ``"uncommon-kanji"``; e.g. ``{"hiragana": 1.5, "uncommon-kanji":
            0.5}``): :meth:`predict_strokes` multiplies the probability of every class of that
            script by the factor (a kanji outside JIS X 0208 level 1 also by the
            ``uncommon-kanji`` one) and renormalises — a prior, for a drawing that could be either
            (り or リ, て or マ, a common kanji or a rare one of nearly the same shape): hiragana are
            most of what people write, and common kanji far more often written than the rest.
            Default: none. Read from a model's config (``"script_prior"``).
        extra_stroke_factor: in (0, 1]: :meth:`predict_strokes` multiplies the probability of a
            character by this factor for each stroke the drawing has beyond the most that any of
            its KanjiVG forms has (:func:`fude.strokes.kanjivg.most_strokes`): a writer often joins
            strokes (fewer is not weighed) but rarely splits them, so a 12-stroke drawing is
            unlikely a 4-stroke character. 1 (the default): no weighing; characters KanjiVG does
            not draw are never weighed. Read from a model's config (``"extra_stroke_factor"``).

    Raises:
        ValueError: an unknown precision or backend, a companion with other classes, a weight
            outside (0, 1), a script prior that is not positive, or an extra-stroke factor
            outside (0, 1].
    """

    def __init__(self, net: CharClassifier, class_map: ClassMap, box: int = 20, config: dict | None = None,
                 device: str | torch.device = "cpu", precision: str = "auto", backend: str = "auto",
                 companion: Recognizer | None = None, companion_weight: float = 0.5,
                 script_prior: dict[str, float] | None = None, extra_stroke_factor: float = 1.0) -> None:
        # channels-last: several times the inference throughput of NCHW for the CNNs on a CPU
        # (bench/evaluate_speed.py)
        self.net = net.eval().to(device).to(memory_format=torch.channels_last)
        # what the forward passes run: the same network with its batch norms folded into the convolutions
        self.fused = fused_for_inference(self.net).to(memory_format=torch.channels_last)  # folded weights too
        self.class_map = class_map
        self.box = box
        self.config = config or {}
        self.device = torch.device(device)
        self.precision = resolve_precision(precision, self.device)
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        self.backend = backend
        self._ort = None  # the onnxruntime runner, made on first use
        self._flops = None  # forward FLOPs per input, counted on first use
        self._work = 0.0  # forward FLOPs of the calls large enough for onnxruntime so far
        problem = (companion_problem(companion, class_map, companion_weight) or script_prior_problem(script_prior)
                   or extra_stroke_problem(extra_stroke_factor))
        if problem:
            raise ValueError(problem)
        self.companion = companion
        self.companion_weight = companion_weight
        self.script_prior = dict(script_prior or {})
        self._prior = None  # float32 (K,) factors, or None: no prior
        if self.script_prior:
            from fude.scripts import prior_factors

            self._prior = prior_factors(class_map.chars, self.script_prior)
        self.extra_stroke_factor = float(extra_stroke_factor)
        self._most = None  # int (K,) most strokes of each class (0: unknown), or None: no weighing
        if self.extra_stroke_factor != 1.0:
            from fude.strokes.kanjivg import most_strokes

            most = most_strokes()
            self._most = np.array([most.get(c, 0) for c in class_map.chars])

    @property
    def input_size(self) -> int:
        """Pixels per side of the images the network reads (0 for a sequence model)."""
        return self.net.input_spec.size

    @torch.inference_mode()
    def predict_proba(self, images: np.ndarray | torch.Tensor, batch_size: int = 512) -> np.ndarray:
        """Class probabilities ``(N, num_classes)`` float32 for uint8 ``(N, 28, 28)`` images
        (0..255, bright ink) or float ``(N, 1, 28, 28)`` in [0, 1] (the network's input size), or
        for a sequence model float32 ``(N, T, 7)`` stroke sequences."""
        return torch.softmax(self.logits(images, batch_size), dim=1).numpy()

    @torch.inference_mode()
    def logits(self, images: np.ndarray | torch.Tensor, batch_size: int = 512) -> torch.Tensor:
        """Logits ``(N, num_classes)`` float32 on the CPU; input as for :meth:`predict_proba`.

        Raises:
            ValueError: input of another shape or dtype than the network reads.
        """
        return self._batched(self.fused, images, batch_size, len(self.class_map))

    @torch.inference_mode()
    def features(self, images: np.ndarray | torch.Tensor, batch_size: int = 512) -> np.ndarray:
        """The network's features before the classifier head, ``(N, num_features)`` float32
        (what UMAP maps and fine-tuning start from); input as for :meth:`logits`."""
        return self._batched(self.fused.forward_features, images, batch_size, self.net.num_features).numpy()

    def _batched(self, fn, inputs: np.ndarray | torch.Tensor, batch_size: int, width: int) -> torch.Tensor:
        x = self.to_inputs(inputs)
        if fn is self.fused and self._onnxruntime(len(x)):
            return torch.cat([self._ort(x[i: i + batch_size]) for i in range(0, len(x), batch_size)]) \
                if len(x) else torch.zeros(0, width)
        layout = torch.channels_last if x.ndim == 4 else torch.contiguous_format
        return forward_batched(fn, x, batch_size, self.device, self.precision,
                               prepare=lambda xb: xb.contiguous(memory_format=layout), width=width).cpu()

    def _forward_flops(self) -> int:
        """FLOPs of one input's forward pass (:func:`fude.models.flops.flops_per_image`)."""
        if self._flops is None:
            from fude.models.flops import flops_per_image

            self._flops = flops_per_image(self.fused, self.device, training=False)
        return self._flops

    def _onnxruntime(self, n: int) -> bool:
        """Whether a call on ``n`` inputs runs in onnxruntime (see ``backend``)."""
        import importlib.util

        if self.backend == "torch" or self.net.input_spec.kind != "image" or self.device.type != "cpu":
            return False
        if self.backend == "auto":
            if self.precision != "fp32" or n < ORT_MIN_IMAGES or importlib.util.find_spec("onnxruntime") is None:
                return False
            self._work += n * self._forward_flops()
            if self._work < ORT_MIN_GFLOP * 1e9:
                return False
        if self._ort is None:
            from fude.models.ort import OrtRunner

            try:
                self._ort = OrtRunner(self.fused)
            except Exception as e:  # an export or runtime that fails here: PyTorch reads these networks too
                if self.backend == "onnxruntime":
                    raise ModelError(f"onnxruntime could not run {self.net.arch}: {e}") from e
                self.backend = "torch"
                return False
        return True

    def to_inputs(self, x: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Check and convert what the network reads: images (:func:`to_input`) or float
        ``(N, T, 7)`` sequences with T the network's length.

        Raises:
            ValueError: another shape or dtype.
        """
        spec = self.net.input_spec
        if spec.kind == "image":
            return to_input(x, spec.size)
        x = torch.as_tensor(x)
        if x.ndim != 3 or tuple(x.shape[1:]) != spec.shape or not x.is_floating_point():
            raise ValueError(f"{self.net.arch} reads stroke sequences: float (N, {spec.length}, {spec.features}), got "
                             f"{x.dtype} {tuple(x.shape)}; for drawings use predict_strokes")
        return x.float()

    def predict_strokes(self, strokes, k: int = 5, canvas: dict | None = None, script: str = "all",
                        chars: str | None = None) -> list[dict]:
        """Top-``k`` guesses for one character drawn as strokes (see :mod:`fude.strokes`): a list of
        ``{"index", "char", "codepoint", "script", "probability"}``, most probable first.

        The strokes are rasterised as the model's training images were (ink fitted into its
        ``box``), or for a sequence model turned into its point sequence. Small kana share their
        full-size form's shape (ぁ/あ, ッ/ツ, ...), so the picture cannot tell them apart: the pair's
        probability is split by the drawing's size relative to ``canvas`` (``{"width", "height"}`` in
        the strokes' units) when given (:func:`split_small_kana`), and otherwise leans 70:30 to the
        full-size kana (far more frequent in text). Both are ranked. With a ``companion`` the two
        networks' probabilities are averaged first; a ``script_prior`` then weighs the scripts, and
        an ``extra_stroke_factor`` the characters with fewer strokes than drawn.

        Args:
            script: only characters of this script (:data:`fude.scripts.SCRIPT_FILTERS`: ``all``,
                ``hiragana``, ``katakana``, ``kana``, ``kanji``); the probabilities are renormalised
                over what is left.
            chars: only these characters (e.g. the kana of a lesson), within ``script``.

        Raises:
            fude.strokes.StrokeError: empty, malformed, non-finite or too many strokes.
            ValueError: an unknown script, or a filter that leaves none of the model's characters.
        """
        from fude.scripts import allowed
        from fude.strokes import check_strokes

        keep = allowed(self.class_map.chars, script, chars) if script != "all" or chars is not None else None
        strokes = check_strokes(strokes)
        probs = split_small_kana(self.strokes_proba(strokes), self.class_map, strokes, canvas, self._small_kana_pairs())
        weights = self._weights(len(strokes), keep)
        if weights is not None:  # the priors and the filter, renormalised once
            probs = (probs * weights).astype(np.float32)
            probs /= max(float(probs.sum()), 1e-30)
        return self.top_k(probs[None], k, keep)[0]

    def _weights(self, n_strokes: int, keep: np.ndarray | None) -> np.ndarray | None:
        """What :meth:`predict_strokes` multiplies each class's probability by for a drawing of
        ``n_strokes`` strokes: the script prior, the extra-stroke factor and 0 outside the filter
        ``keep``; float ``(K,)``, or None when there is nothing to weigh."""
        w = self._prior
        if self._most is not None:
            f = self.extra_stroke_factor ** extra_strokes(self._most, n_strokes)
            w = f if w is None else w * f
        if keep is not None:
            w = np.where(keep, 1.0 if w is None else w, 0.0)
        return w

    def strokes_proba(self, strokes: list[np.ndarray]) -> np.ndarray:
        """The probabilities float32 ``(K,)`` for one drawing of checked strokes
        (:func:`fude.strokes.check_strokes`), rasterised or turned into a point sequence as the
        network reads it, mixed with the companion's when there is one; no small-kana split, no
        filter (:meth:`predict_strokes` adds those)."""
        from fude.strokes import rasterise, sequence_features

        spec = self.net.input_spec
        if spec.kind == "sequence":
            probs = self.predict_proba(sequence_features(strokes, length=spec.length)[None])[0]
        else:
            probs = self.predict_proba(rasterise(strokes, size=spec.size, box=self.box)[None])[0]
        if self.companion is not None:
            w = self.companion_weight
            probs = ((1.0 - w) * probs + w * self.companion.strokes_proba(strokes)).astype(np.float32)
        return probs

    def predict(self, images: np.ndarray | torch.Tensor, k: int = 5) -> list[list[dict]]:
        """Top-``k`` guesses per image: a list (one per image) of
        ``[{"index", "char", "codepoint", "probability"}, ...]``, most probable first."""
        return self.top_k(self.predict_proba(images), k)

    def top_k(self, probs: np.ndarray, k: int = 5, keep: np.ndarray | None = None) -> list[list[dict]]:
        """Probabilities ``(N, K)`` -> the top-``k`` guesses per row (see :meth:`predict`), each with
        its ``"script"`` (:func:`fude.scripts.script`). Characters drawn the same in two scripts
        (へ/ヘ, カ/力, ロ/口, ...: :data:`fude.scripts.TWINS`) are ranked next to each other, the pair
        where its more probable member would be. ``keep`` (bool ``(K,)``): only these classes."""
        from fude.scripts import script

        k = min(k, probs.shape[1] if keep is None else int(keep.sum()))
        groups = self._twin_groups()
        rows = []
        for p in probs:
            if groups is None and keep is None:
                order = np.argsort(-p, kind="stable")[:k]
            else:
                key = p.astype(np.float64)
                for members in groups or ():
                    key[members] = p[members].max()
                if keep is not None:
                    key[~keep] = -1.0  # filtered out: after every kept class
                # only the best few can make the top k: sort those (a twin's partner may tie at the edge)
                slack = k + sum(len(g) for g in groups or ())
                cand = np.argpartition(-key, slack)[: slack + 1] if slack < len(key) - 1 else np.arange(len(key))
                lead = cand.copy()
                for members in groups or ():
                    lead[np.isin(cand, members)] = members[0]
                order = cand[np.lexsort((-p[cand], lead, -key[cand]))][:k]
            rows.append([{"index": int(i), "char": self.class_map.char(int(i)),
                          "codepoint": self.class_map.codepoint(int(i)), "script": script(self.class_map.char(int(i))),
                          "probability": float(p[i])} for i in order])
        return rows

    def _small_kana_pairs(self) -> list[tuple[int, int]]:
        """(small, full-size) class indices of the small kana pairs in this class map, found once."""
        if not hasattr(self, "_pairs"):
            self._pairs = small_kana_pairs(self.class_map)
        return self._pairs

    def _twin_groups(self) -> list[np.ndarray] | None:
        """Class indices of each group of twins in this class map (None: no twins)."""
        if not hasattr(self, "_twins"):
            from fude.scripts import TWINS

            index = {c: i for i, c in enumerate(self.class_map.chars)}
            groups = [np.array([index[c] for c in g if c in index]) for g in TWINS]
            self._twins = [g for g in groups if len(g) > 1] or None
        return self._twins


def small_kana_pairs(class_map: ClassMap) -> list[tuple[int, int]]:
    """(small, full-size) class indices of every small kana whose full-size form is also a class."""
    index = {c: i for i, c in enumerate(class_map.chars)}
    return [(index[s], index[b]) for s, b in SMALL_KANA.items() if s in index and b in index]


def split_small_kana(probs: np.ndarray, class_map: ClassMap, strokes: list[np.ndarray],
                     canvas: dict | None, pairs: list[tuple[int, int]] | None = None) -> np.ndarray:
    """Share each small/full-size kana pair's probability (``(K,)`` float32, changed in place and
    returned) by the drawing's size: small kana fill well under half the writing square, so a
    drawing that spans less than about :data:`SMALL_KANA_SIDE` (35%) of the canvas's longer side
    leans to the small one (a logistic in that share); people who write small still draw a
    full-size kana over 40% or more of an ordinary canvas, and it stays full-size. Without a
    canvas, :data:`SMALL_KANA_SHARE` goes to the small kana."""
    from fude.strokes import bounds

    pairs = small_kana_pairs(class_map) if pairs is None else pairs
    if not pairs:
        return probs
    w_small = SMALL_KANA_SHARE
    side = max(float(canvas.get("width") or 0), float(canvas.get("height") or 0)) if canvas else 0.0
    if side > 0:
        lo, hi = bounds(strokes)
        rel = float((hi - lo).max()) / side
        w_small = float(1 / (1 + np.exp(np.clip((rel - SMALL_KANA_SIDE) / 0.03, -50, 50))))
    for s, b in pairs:
        mass = probs[s] + probs[b]
        probs[s], probs[b] = mass * w_small, mass * (1 - w_small)
    return probs


def to_input(images: np.ndarray | torch.Tensor, size: int = IMAGE_SIZE) -> torch.Tensor:
    """uint8 ``(N, size, size)`` or float ``(N, 1, size, size)`` in [0, 1] -> float32 ``(N, 1, size, size)``.

    Raises:
        ValueError: any other shape or dtype.
    """
    x = torch.as_tensor(images)
    if x.dtype == torch.uint8:
        if x.ndim == 3:
            x = x[:, None]
        x = x.float().div_(255)
    if x.ndim != 4 or x.shape[1:] != (1, size, size) or not x.is_floating_point():
        raise ValueError(f"images must be uint8 (N, {size}, {size}) or float (N, 1, {size}, {size}) in [0, 1]; "
                         f"got {x.dtype} {tuple(x.shape)}")
    return x.float()


def load_model(name_or_dir: str | os.PathLike = "kmnist", device: str | torch.device = "cpu",
               weights: str = "model", precision: str = "auto", backend: str = "auto") -> Recognizer:
    """Load a shipped model (``"mnist"``, ``"kmnist"``, ``"hiragana"``, ``"hiragana-seq"``) or a model
    folder written by ``fude train``; ``precision`` and ``backend`` as in :class:`Recognizer`.

    Raises:
        ModelError: unknown name, missing or invalid config or weights.
        ValueError: an unknown precision.
    """
    folder = resolve_model_dir(name_or_dir)
    config = read_config(folder)
    try:
        net, class_map = build_from_config(config)
        box = int(config.get("preprocess", {}).get("box", 20))
    except ModelError as e:
        raise ModelError(f"{folder / 'config.json'}: {e}") from e
    except (AttributeError, TypeError, ValueError) as e:
        raise ModelError(f"{folder / 'config.json'}: invalid 'preprocess' section ({e})") from e
    checksums = config.get("weights_sha256")
    sha256 = checksums.get(f"{weights}.safetensors") if isinstance(checksums, dict) else None
    load_weights(net, folder / f"{weights}.safetensors", sha256)
    companion, weight = None, 0.5
    if config.get("companion") is not None:  # {"model": shipped name or folder (relative to this one), "weight": w}
        spec = config["companion"]
        try:
            name, weight = str(spec["model"]), float(spec["weight"])
        except (KeyError, TypeError, ValueError) as e:
            raise ModelError(f"{folder / 'config.json'}: 'companion' must be {{\"model\": NAME, \"weight\": W}}, "
                             f"got {spec!r}") from e
        where = folder / name if (folder / name / "config.json").exists() else name
        companion = load_model(where, device, "model", precision, backend)
        problem = companion_problem(companion, class_map, weight)
        if problem:
            raise ModelError(f"{folder / 'config.json'}: companion {name!r}: {problem}")
    prior = config.get("script_prior")
    extra = config.get("extra_stroke_factor", 1.0)
    problem = script_prior_problem(prior) or extra_stroke_problem(extra)
    if problem:
        raise ModelError(f"{folder / 'config.json'}: {problem}")
    return Recognizer(net, class_map, box, config, device, precision, backend, companion, weight, prior, extra)


def companion_problem(companion: Recognizer | None, class_map: ClassMap, weight: float) -> str | None:
    """What is wrong with ``companion`` as the companion of a recognizer of ``class_map`` at
    ``weight`` (see :class:`Recognizer`), or None when nothing is."""
    if companion is None:
        return None
    if companion.companion is not None:
        return "a companion recognizer cannot have a companion of its own"
    if companion.class_map.chars != class_map.chars:
        return "a companion recognizer must read the same classes in the same order"
    if not 0.0 < weight < 1.0:
        return f"companion_weight must lie strictly between 0 and 1, got {weight}"
    return None


def script_prior_problem(prior) -> str | None:
    """What is wrong with a script prior (see :class:`Recognizer`), or None when nothing is."""
    from fude.scripts import PRIOR_GROUPS

    if prior is None:
        return None
    if not (isinstance(prior, dict) and all(_number(f) and f > 0 for f in prior.values())):
        return f"'script_prior' must map script names to positive numbers, got {prior!r}"
    unknown = sorted(set(prior) - set(PRIOR_GROUPS))
    if unknown:
        return f"'script_prior' names {', '.join(map(repr, unknown))}; it weighs {', '.join(PRIOR_GROUPS)}"
    return None


def extra_strokes(most: np.ndarray, n_strokes: int) -> np.ndarray:
    """How many strokes a drawing of ``n_strokes`` has beyond each class's most (``most``: int
    ``(K,)``, 0 where unknown, :func:`fude.strokes.kanjivg.most_strokes`): int ``(K,)``, 0 for the
    classes with enough strokes and the unknown ones."""
    return np.where(most > 0, np.maximum(n_strokes - most, 0), 0)


def extra_stroke_problem(factor) -> str | None:
    """What is wrong with an extra-stroke factor (see :class:`Recognizer`), or None when nothing is."""
    if _number(factor) and 0 < factor <= 1:
        return None
    return f"'extra_stroke_factor' must be a number in (0, 1] (1: no weighing), got {factor!r}"


def _number(x) -> bool:
    """An int or float as a config's JSON gives it (not a bool, which Python counts as an int)."""
    return isinstance(x, (int, float)) and not isinstance(x, bool)
