"""What reading needs beyond a network's weights: :class:`RecognizerConfig`, saved in a model
folder's ``config.json`` under ``"recognizer"`` by code (:func:`save_recognizer_config`,
``fude configure``), read back by :func:`fude.load_model`, and checked both ways. No PyTorch here.

A model whose ``config.json`` predates it (``preprocess.box``, ``companion``, ``script_prior`` and
``extra_stroke_factor`` at the top level) still loads: :meth:`RecognizerConfig.from_model_config`
reads those keys.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from fude.datasets.base import INK_BOX
from fude.errors import ModelError
from fude.scripts import PRIOR_GROUPS

# the scripts a companion weight may name (besides "default"): fude.scripts.script's answers
WEIGHT_SCRIPTS: tuple[str, ...] = tuple(g for g in PRIOR_GROUPS if g != "uncommon-kanji")


def _number(x) -> bool:
    """An int or float as JSON gives it (not a bool, which Python counts as an int), and finite."""
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


@dataclass(frozen=True)
class RecognizerConfig:
    """Everything :meth:`fude.recognizer.Recognizer.predict_strokes` needs beyond the network.

    Attributes:
        box: pixels the ink's longer side is fitted into when an image file is preprocessed or a
            drawing rasterised (20 for 28-pixel models, as MNIST; the network's training images'
            box).
        companion: a second model of the same classes that reads drawings another way (a
            stroke-sequence network beside an image network): a shipped model's name, or a folder
            relative to this model's folder; None: none.
        companion_weight: the companion's share when the two's probabilities are averaged, in
            (0, 1): one number, or ``{script: weight}`` (scripts of :data:`WEIGHT_SCRIPTS`; a
            script left out takes ``companion_weight["default"]`` if given, else 0.5), weighing each
            class by its script — the image network alone reads finger-drawn kana better, the pair
            reads kanji better.
        script_prior: ``{group: factor}`` (:data:`PRIOR_GROUPS`): every class of that script's
            probability multiplied by the factor (a kanji outside JIS X 0208 level 1 also by the
            ``uncommon-kanji`` one).
        frequency_prior: ``a >= 0``: each kanji's probability multiplied by ``((r + 100) / 101) ** -a``
            with ``r`` its newspaper frequency rank in KANJIDIC2 (1 = most frequent; kanji beyond the
            2,500 ranked take a rank by school grade: jōyō 2,600, jinmeiyō 3,500, others 5,000),
            relative to the most frequent kanji; 0: off. Kana and other scripts are not weighed.
        extra_stroke_factor: in (0, 1]: a class's probability multiplied by this for each stroke
            the drawing has beyond the most any of its KanjiVG forms has, less ``stroke_slack``; 1: no
            weighing.
        stroke_slack: ``s >= 0``: strokes a drawing may have beyond a character's most without
            weighing, as a share of that most (rounded up): a writer who splits strokes (the pen
            lifted at 口's turn) is not punished for it; 0: every extra stroke weighs.
        small_kana_side: a drawing spanning this share of its canvas's longer side is as likely a
            small kana (ぁ, ッ, ...) as its full-size form; smaller drawings lean to the small one.
        picture_pen: a picture's ink thinner than this share of its longer side is thickened to it
            before the picture is fitted (:func:`fude.datasets.preprocess.read_picture`): a mouse's
            hairline on a large canvas, shrunk to the network's size, would fade to a trace the
            training images never had; 0: pictures are read as they are.

    Raises:
        ValueError: any field out of its range (the message names the field and the range).
    """

    box: float = INK_BOX
    companion: str | None = None
    companion_weight: float | dict = 0.5
    script_prior: dict = field(default_factory=dict)
    frequency_prior: float = 0.0
    extra_stroke_factor: float = 1.0
    stroke_slack: float = 0.0
    small_kana_side: float = 0.35
    picture_pen: float = 0.0

    def __post_init__(self) -> None:
        problem = self.problem()
        if problem:
            raise ValueError(problem)

    def problem(self) -> str | None:
        """What is wrong with this config, or None."""
        if not (_number(self.box) and 4 <= self.box <= 512):
            return f"'box' must be a number of pixels in [4, 512], got {self.box!r}"
        if self.companion is not None and not (isinstance(self.companion, str) and self.companion.strip()):
            return f"'companion' must be a model name or folder, or null, got {self.companion!r}"
        w = self.companion_weight
        weights = w.values() if isinstance(w, dict) else [w]
        if not all(_number(x) and 0 < x < 1 for x in weights) or (isinstance(w, dict) and (
                not w or set(w) - set(WEIGHT_SCRIPTS) - {"default"})):
            return (f"'companion_weight' must be a number in (0, 1) or {{script: number in (0, 1)}} with scripts of "
                    f"{', '.join(WEIGHT_SCRIPTS)} or 'default', got {w!r}")
        p = self.script_prior
        if not (isinstance(p, dict) and all(_number(f) and f > 0 for f in p.values())):
            return f"'script_prior' must map script names to positive numbers, got {p!r}"
        unknown = sorted(set(p) - set(PRIOR_GROUPS))
        if unknown:
            return f"'script_prior' names {', '.join(map(repr, unknown))}; it weighs {', '.join(PRIOR_GROUPS)}"
        if not (_number(self.frequency_prior) and 0 <= self.frequency_prior <= 10):
            return f"'frequency_prior' must be a number in [0, 10] (0: off), got {self.frequency_prior!r}"
        if not (_number(self.extra_stroke_factor) and 0 < self.extra_stroke_factor <= 1):
            return f"'extra_stroke_factor' must be a number in (0, 1] (1: no weighing), got {self.extra_stroke_factor!r}"
        if not (_number(self.stroke_slack) and 0 <= self.stroke_slack <= 10):
            return f"'stroke_slack' must be a number in [0, 10], got {self.stroke_slack!r}"
        if not (_number(self.small_kana_side) and 0 < self.small_kana_side < 1):
            return f"'small_kana_side' must be a share of the canvas in (0, 1), got {self.small_kana_side!r}"
        if not (_number(self.picture_pen) and 0 <= self.picture_pen <= 0.5):
            return f"'picture_pen' must be a share of the picture in [0, 0.5] (0: off), got {self.picture_pen!r}"
        return None

    def companion_weights(self, scripts) -> list[float]:
        """The companion's weight for classes of each of ``scripts`` (one script name per class)."""
        w = self.companion_weight
        if not isinstance(w, dict):
            return [float(w)] * len(scripts)
        default = float(w.get("default", 0.5))
        return [float(w.get(s, default)) for s in scripts]

    def to_dict(self) -> dict:
        """The config as JSON-ready values (what ``config.json`` holds under ``"recognizer"``)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d) -> RecognizerConfig:
        """The config of a ``"recognizer"`` section.

        Raises:
            ValueError: not a mapping, an unknown key (the known ones named), or a value out of range.
        """
        if not isinstance(d, dict):
            raise ValueError(f"'recognizer' must be a JSON object, got {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"'recognizer' has unknown keys {', '.join(map(repr, unknown))}; "
                             f"it takes {', '.join(sorted(known))}")
        return cls(**d)

    @classmethod
    def from_model_config(cls, config: dict) -> RecognizerConfig:
        """The config a model folder's ``config.json`` gives: its ``"recognizer"`` section, or for a
        folder written before there was one, its ``preprocess.box``, ``companion``
        (``{"model", "weight"}``), ``script_prior`` and ``extra_stroke_factor``.

        Raises:
            ValueError: a section or key out of range (the message says which).
        """
        if "recognizer" in config:
            return cls.from_dict(config["recognizer"])
        pre = config.get("preprocess", {})
        if not isinstance(pre, dict):
            raise ValueError(f"invalid 'preprocess' section ({pre!r})")
        old: dict = {"box": pre.get("box", INK_BOX)}
        if config.get("companion") is not None:
            spec = config["companion"]
            if not (isinstance(spec, dict) and "model" in spec and "weight" in spec):
                raise ValueError(f"'companion' must be {{\"model\": NAME, \"weight\": W}}, got {spec!r}")
            old["companion"], old["companion_weight"] = str(spec["model"]), spec["weight"]
        for key in ("script_prior", "extra_stroke_factor"):
            if config.get(key) is not None:
                old[key] = config[key]
        return cls(**old)


def save_recognizer_config(folder: str | os.PathLike, cfg: RecognizerConfig) -> Path:
    """Write ``cfg`` into the model folder's ``config.json`` (under ``"recognizer"``, replacing the
    keys an older fude kept at the top level), atomically: a reader sees the old file or the new,
    never a part. Returns the config file's path.

    Raises:
        ModelError: no readable ``config.json`` in ``folder``.
    """
    from fude.files import atomic_write

    path = Path(folder) / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ModelError(f"{path}: cannot read the model's config ({e})") from e
    if not isinstance(config, dict):
        raise ModelError(f"{path}: not a model config (a JSON object)")
    for key in ("companion", "script_prior", "extra_stroke_factor"):
        config.pop(key, None)
    config.setdefault("preprocess", {})["box"] = cfg.box
    config["recognizer"] = cfg.to_dict()
    atomic_write(path, json.dumps(config, indent=1, ensure_ascii=False).encode("utf-8"))
    return path
