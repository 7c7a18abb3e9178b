"""Models: a registry of character classifiers, each with a config dataclass saved beside its weights.

Every model takes ``(B, 1, 28, 28)`` float32 images in [0, 1] (bright ink on black), normalises
them with the training data's mean and std (stored in its config), and returns logits
``(B, num_classes)``. Each has a feature/head split (``forward_features`` -> ``head``) and
``reset_classifier(num_classes)`` for fine-tuning to a new class set.

A saved model is a folder with ``model.safetensors`` (weights) and ``config.json`` (the model
config, class map and preprocessing, plus how it was trained); :func:`load_model` needs nothing
else.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from importlib import resources
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fude.classmap import ClassMap
from fude.runtime import autocast, resolve_precision

IMAGE_SIZE = 28  # pixels per side of the input
PRETRAINED = ("mnist", "kmnist", "hiragana", "hiragana-seq")  # models shipped in fude/pretrained/


class ModelError(Exception):
    """A model name, folder, config or weights file is unknown, missing or invalid."""


# --------------------------------------------------------------------------- architectures

@dataclass
class FudeCNNConfig:
    """fude's CNN: three stages at 28, 14 and 7 pixels, each a 3x3 conv, a 2x2 max-pool, batch
    norm and ReLU (plus ``depth`` conv-BN-ReLU layers in the last two stages, and ``stem`` of them
    at the full 28x28 before the first pool), then a linear head on the flattened ``3x3`` map.

    Pooling straight after the conv (as in Keller Jordan's airbench) runs batch norm and ReLU on
    a quarter of the pixels: 1.15x the training and 1.5x the inference throughput of
    conv-BN-ReLU-pool on a 2-core CPU
    (3,744 vs 3,263 training, 7,458 vs 4,938 inference images/s at widths 16-32-64, batch 512;
    bench/arch.py).

    With ``space_to_depth`` the first stage reads each 2x2 block of pixels as 4 channels at
    14x14 (``nn.PixelUnshuffle``; the "space-to-depth" stem of Ridnik et al., "TResNet", 2021)
    and its conv needs no pooling: a 3x3 conv there sees 6x6 pixels. A conv with one input
    channel and a max-pool at full 28x28 are the slowest layers on a CPU, so a training step
    takes about 20% less time (17.4 -> 14.0 ms, fude-cnn, batch 256, bf16, 2 cores) for the same
    FLOPs. It is the network of the quickest recipes to 99% and 99.5% on MNIST
    (``bench/mnist_speed.py --recipe fast default-s2d``). Off by default: on KMNIST it made no
    clear difference to accuracy (5-fold CV on the dev set, README "Benchmarks").
    """

    num_classes: int = 10
    widths: tuple[int, int, int] = (16, 32, 64)  # channels of the three stages
    depth: int = 0  # extra conv-BN-ReLU layers in each of the last two stages
    stem: int = 0  # conv-BN-ReLU layers at full 28x28 resolution before the first pooling conv
    dropout: float = 0.0  # before the head
    space_to_depth: bool = False  # first stage: 2x2 pixel blocks as 4 channels at 14x14, no pooling
    mean: float = 0.0  # training-data pixel mean, images in [0, 1]
    std: float = 1.0  # training-data pixel standard deviation

    def __post_init__(self) -> None:
        self.widths = tuple(int(w) for w in self.widths)
        if len(self.widths) != 3 or min(self.widths) < 1:
            raise ModelError(f"widths must be three positive channel counts, got {self.widths}")
        if self.depth < 0 or self.stem < 0 or not 0 <= self.dropout < 1:
            raise ModelError(f"depth and stem must be >= 0 and dropout in [0, 1), "
                             f"got {self.depth}, {self.stem}, {self.dropout}")
        if self.stem and self.space_to_depth:
            raise ModelError("stem (layers at full 28x28 resolution) and space_to_depth exclude each other")
        _check_common(self)


@dataclass
class KerasCNNConfig:
    """The reference network of the Keras ``mnist_cnn`` example that the seed notebooks used:
    Conv32-Conv64 (3x3, valid) - MaxPool2 - Dropout .25 - Dense128 - Dropout .5 - Dense.
    Source: https://github.com/keras-team/keras/blob/2.x/examples/mnist_cnn.py"""

    num_classes: int = 10
    mean: float = 0.0
    std: float = 1.0

    def __post_init__(self) -> None:
        _check_common(self)


def _check_common(cfg) -> None:
    if cfg.num_classes < 2:
        raise ModelError(f"num_classes must be at least 2, got {cfg.num_classes}")
    if not cfg.std > 0:
        raise ModelError(f"std must be positive, got {cfg.std}")


def conv_bn(cin: int, cout: int, pool: bool = False) -> nn.Sequential:
    """3x3 'same' conv, [2x2 max-pool], batch norm, ReLU: ``(B, cin, H, W) -> (B, cout, H', W')``."""
    layers = [nn.Conv2d(cin, cout, 3, padding=1, bias=False)] + ([nn.MaxPool2d(2)] if pool else [])
    return nn.Sequential(*layers, nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class CharClassifier(nn.Module):
    """Base class: normalisation, the feature/head split, and the config."""

    config: FudeCNNConfig | KerasCNNConfig | StrokeNetConfig
    head: nn.Linear
    arch: str = ""  # registry name, set by create_model
    input_kind: str = "image"  # image: (B, 1, 28, 28) in [0, 1]; sequence: (B, T, 7) stroke features

    def __init__(self, config) -> None:
        super().__init__()
        self.config = config
        self.register_buffer("mean", torch.tensor(float(config.mean)), persistent=False)
        self.register_buffer("std", torch.tensor(float(config.std)), persistent=False)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 1, 28, 28)`` float in [0, 1] -> features ``(B, num_features)``."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 1, 28, 28)`` float in [0, 1] (``(B, T, 7)`` stroke features for sequence models)
        -> logits ``(B, num_classes)``."""
        return self.head(self.forward_features(x))

    def example_input(self, n: int = 2) -> torch.Tensor:
        """A random input batch of ``n`` of the shape the network reads (FLOP counts, export)."""
        return torch.rand(n, 1, IMAGE_SIZE, IMAGE_SIZE)

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the head with a new, freshly initialised one for ``num_classes`` classes."""
        self.head = nn.Linear(self.head.in_features, num_classes).to(self.head.weight.device)
        self.config.num_classes = num_classes


class FudeCNN(CharClassifier):
    def __init__(self, config: FudeCNNConfig) -> None:
        super().__init__(config)
        w0, w1, w2 = config.widths
        if config.space_to_depth:  # (B, 4, 14, 14) -> (B, w0, 14, 14)
            first = nn.Sequential(nn.PixelUnshuffle(2), conv_bn(4, w0))
        elif config.stem:  # full-resolution layers first: (B, w0, 28, 28), then pool
            stem = [conv_bn(1 if i == 0 else w0, w0) for i in range(config.stem)]
            first = nn.Sequential(*stem, conv_bn(w0, w0, pool=True))
        else:
            first = conv_bn(1, w0, pool=True)  # pool straight after the first conv
        self.blocks = nn.ModuleList([
            first,  # (B, w0, 14, 14)
            nn.Sequential(conv_bn(w0, w1, pool=True), *[conv_bn(w1, w1) for _ in range(config.depth)]),  # 7x7
            nn.Sequential(conv_bn(w1, w2, pool=True), *[conv_bn(w2, w2) for _ in range(config.depth)]),  # 3x3
        ])
        side = IMAGE_SIZE // 2 // 2 // 2  # three floor-halving pools: 28 -> 14 -> 7 -> 3
        self.num_features = w2 * side * side
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(self.num_features, config.num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.normalise(x)
        for block in self.blocks:
            x = block(x)
        return self.drop(x.flatten(1))  # (B, w2 * 3 * 3)


class KerasCNN(CharClassifier):
    def __init__(self, config: KerasCNNConfig) -> None:
        super().__init__(config)
        side = (IMAGE_SIZE - 2 - 2) // 2  # two valid 3x3 convs (28 -> 26 -> 24), then a 2x2 pool
        self.num_features = 128
        self.blocks = nn.ModuleList([
            nn.Conv2d(1, 32, 3),
            nn.Conv2d(32, 64, 3),
            nn.Linear(64 * side * side, self.num_features),  # the seeds' Dense(128) on 9,216 inputs
        ])
        self.head = nn.Linear(self.num_features, config.num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        conv1, conv2, fc = self.blocks
        x = F.relu(conv1(self.normalise(x)))  # (B, 32, 26, 26)
        x = F.max_pool2d(F.relu(conv2(x)), 2)  # (B, 64, 12, 12)
        x = F.dropout(x, 0.25, self.training).flatten(1)
        return F.dropout(F.relu(fc(x)), 0.5, self.training)  # (B, 128)


@dataclass
class StrokeNetConfig:
    """A sequence model on a drawing's points (:func:`fude.strokes.sequence_features` with
    ``length`` points, 7 features each) rather than on its picture.

    ``kind``: ``gru`` or ``lstm`` (bidirectional recurrent layers of ``hidden`` units each way;
    Graves & Schmidhuber 2005, Cho et al. 2014) or ``conv1d`` (four 1-D conv-BN-ReLU layers of
    ``hidden/2 .. 2*hidden`` channels, kernel 5 then 3, two of them max-pooling by 2). The
    features are the mean and the maximum over time of the last layer's outputs.
    """

    num_classes: int = 10
    kind: str = "gru"
    hidden: int = 128
    layers: int = 2  # recurrent layers (gru, lstm)
    length: int = 64  # points per drawing
    dropout: float = 0.1  # before the head
    mean: float = 0.0  # unused: the features are already in the unit box
    std: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in ("gru", "lstm", "conv1d"):
            raise ModelError(f"kind must be gru, lstm or conv1d, got {self.kind!r}")
        if self.hidden < 2 or self.layers < 1 or self.length < 8 or not 0 <= self.dropout < 1:
            raise ModelError(f"hidden >= 2, layers >= 1, length >= 8 and dropout in [0, 1) needed, got "
                             f"{self.hidden}, {self.layers}, {self.length}, {self.dropout}")
        _check_common(self)


class StrokeNet(CharClassifier):
    input_kind = "sequence"

    def __init__(self, config: StrokeNetConfig) -> None:
        super().__init__(config)
        from fude.strokes import SEQUENCE_FEATURES

        h = config.hidden
        if config.kind == "conv1d":
            def layer(cin: int, cout: int, k: int, pool: bool) -> nn.Sequential:
                return nn.Sequential(nn.Conv1d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm1d(cout),
                                     nn.ReLU(inplace=True), *([nn.MaxPool1d(2)] if pool else []))
            self.blocks = nn.ModuleList([layer(SEQUENCE_FEATURES, h // 2, 5, False), layer(h // 2, h, 5, True),
                                         layer(h, 2 * h, 3, True), layer(2 * h, 2 * h, 3, False)])
            width = 2 * h
        else:
            rnn = nn.GRU if config.kind == "gru" else nn.LSTM
            self.blocks = nn.ModuleList([nn.Sequential(nn.Linear(SEQUENCE_FEATURES, h), nn.ReLU(inplace=True)),
                                         rnn(h, h, num_layers=config.layers, batch_first=True, bidirectional=True)])
            width = 2 * h
        self.num_features = 2 * width
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(self.num_features, config.num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T, 7)`` float32 sequence features -> ``(B, num_features)``."""
        if self.config.kind == "conv1d":
            x = x.transpose(1, 2)  # (B, 7, T)
            for block in self.blocks:
                x = block(x)
            x = x.transpose(1, 2)  # (B, T', C)
        else:
            x = self.blocks[1](self.blocks[0](x))[0]  # (B, T, 2 * hidden)
        return self.drop(torch.cat([x.mean(1), x.amax(1)], dim=1))

    def example_input(self, n: int = 2) -> torch.Tensor:
        from fude.strokes import SEQUENCE_FEATURES

        return torch.rand(n, self.config.length, SEQUENCE_FEATURES)


MODELS: dict[str, tuple[type[CharClassifier], type, dict]] = {
    # name: (class, config class, config defaults of this variant)
    "fude-cnn": (FudeCNN, FudeCNNConfig, {}),  # fast: the default
    "fude-cnn-l": (FudeCNN, FudeCNNConfig, {"widths": (32, 64, 128), "depth": 1, "dropout": 0.1}),  # accurate
    "keras-cnn": (KerasCNN, KerasCNNConfig, {}),
    # on stroke sequences (fude.strokes.sequence_features), not images:
    "stroke-gru": (StrokeNet, StrokeNetConfig, {"kind": "gru"}),
    "stroke-lstm": (StrokeNet, StrokeNetConfig, {"kind": "lstm"}),
    "stroke-conv1d": (StrokeNet, StrokeNetConfig, {"kind": "conv1d"}),
}
DEFAULT_ARCH = "fude-cnn"


def create_model(arch: str = DEFAULT_ARCH, **config) -> CharClassifier:
    """Build a registered model with fresh weights, e.g. ``create_model("fude-cnn", num_classes=49)``.

    Raises:
        ModelError: unknown architecture or config field.
    """
    if arch not in MODELS:
        raise ModelError(f"unknown model {arch!r}; registered: {', '.join(MODELS)}")
    cls, cfg_cls, defaults = MODELS[arch]
    known = {f.name for f in fields(cfg_cls)}
    unknown = set(config) - known
    if unknown:
        raise ModelError(f"model {arch!r} has no config field(s) {sorted(unknown)}; fields: {sorted(known)}")
    model = cls(cfg_cls(**{**defaults, **config}))
    model.arch = arch
    return model


def model_config_dict(model: CharClassifier) -> dict:
    """The model's config as JSON-ready ``{"arch": ..., **fields}``."""
    return {"arch": model.arch, **asdict(model.config)}


# --------------------------------------------------------------------------- save and load

def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and a rename, so a reader never sees a
    half-written file and a kill mid-write leaves the old file intact."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def save_model(model: CharClassifier, folder: str | os.PathLike, class_map: ClassMap, extra: dict | None = None,
               name: str = "model") -> None:
    """Write ``<name>.safetensors`` and ``config.json`` (model config, class map, ``extra``) atomically."""
    from safetensors.torch import save

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write(folder / f"{name}.safetensors", save(state))
    config = {**(extra or {}), "model": model_config_dict(model), "class_map": class_map.to_list()}
    atomic_write(folder / "config.json", json.dumps(config, indent=1, ensure_ascii=False).encode())


def resolve_model_dir(name_or_dir: str | os.PathLike) -> Path:
    """A shipped model's name (``"mnist"``, ``"kmnist"``) or a run folder -> the folder."""
    path = Path(name_or_dir)
    if (path / "config.json").exists():
        return path
    if str(name_or_dir) in PRETRAINED:
        return Path(str(resources.files("fude.pretrained").joinpath(str(name_or_dir))))
    raise ModelError(f"no model {str(name_or_dir)!r}: not a shipped model ({', '.join(PRETRAINED)}) and not a "
                     f"folder holding config.json and model.safetensors")


def read_config(folder: Path) -> dict:
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ModelError(f"{folder / 'config.json'}: not a readable JSON config ({e})") from e
    if not isinstance(config, dict) or "model" not in config or "class_map" not in config:
        raise ModelError(f"{folder / 'config.json'}: missing the 'model' or 'class_map' section")
    return config


def build_from_config(config: dict) -> tuple[CharClassifier, ClassMap]:
    """Fresh model and class map from a saved config dict (see :func:`save_model`)."""
    try:
        model_cfg = dict(config["model"])
        arch = model_cfg.pop("arch", None)
        class_map = ClassMap.from_list(config["class_map"])
        model = create_model(arch, **model_cfg)
    except (TypeError, ValueError, KeyError, AttributeError) as e:
        raise ModelError(f"invalid model config: {e}") from e
    if model.config.num_classes != len(class_map):
        raise ModelError(f"config has {model.config.num_classes} classes but its class map has {len(class_map)}")
    return model, class_map


def load_weights(model: nn.Module, path: Path) -> None:
    """Load a safetensors file into ``model``, strictly.

    Raises:
        ModelError: not a safetensors file, or names/shapes that do not match the model.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(path)
    except (SafetensorError, OSError, ValueError) as e:
        raise ModelError(f"{path}: not a readable safetensors weights file ({e})") from e
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise ModelError(f"{path}: weights do not match the model in config.json ({e})") from e


class Recognizer:
    """A trained model with its class map and preprocessing: what ``fude.load_model`` returns.

    Attributes:
        net: the :class:`CharClassifier`, in eval mode.
        class_map: the classes' characters and code points.
        box: pixels the ink is fitted into when preprocessing an image file (see
            :func:`fude.preprocess.to_dataset_image`).
        config: the full saved config (model, class map, training command, data, ...).
        precision: ``"fp32"`` or ``"bf16"``: the autocast of the forward passes. ``"auto"`` (the
            default) picks bf16 where the hardware runs it fast, as training does: on machine B
            (AVX512-BF16) it evaluates the shipped ``kmnist`` model at 16,189 images/s against
            9,203 in fp32, with the same top-1 on all of its 8,000 training images and the
            ``mnist`` model's on all 10,000 MNIST test images (probabilities within 0.01).

    Raises:
        ValueError: an unknown precision.
    """

    def __init__(self, net: CharClassifier, class_map: ClassMap, box: int = 20, config: dict | None = None,
                 device: str | torch.device = "cpu", precision: str = "auto") -> None:
        # channels-last: 3.3x the inference throughput of NCHW for fude-cnn on a 2-core CPU
        # (14,700 vs 4,170 images/s at batch 512; bench/evaluate_speed.py)
        self.net = net.eval().to(device).to(memory_format=torch.channels_last)
        self.class_map = class_map
        self.box = box
        self.config = config or {}
        self.device = torch.device(device)
        self.precision = resolve_precision(precision, self.device)

    @torch.inference_mode()
    def predict_proba(self, images: np.ndarray | torch.Tensor, batch_size: int = 512) -> np.ndarray:
        """Class probabilities ``(N, num_classes)`` float32 for uint8 ``(N, 28, 28)`` images
        (0..255, bright ink) or float ``(N, 1, 28, 28)`` in [0, 1]."""
        return torch.softmax(self.logits(images, batch_size), dim=1).numpy()

    @torch.inference_mode()
    def logits(self, images: np.ndarray | torch.Tensor, batch_size: int = 512) -> torch.Tensor:
        """Logits ``(N, num_classes)`` float32 on the CPU; input as for :meth:`predict_proba`, or
        for a sequence model float32 ``(N, T, 7)`` stroke features (:func:`fude.strokes.sequence_features`)."""
        return self._batched(self.net, images, batch_size, len(self.class_map))

    @torch.inference_mode()
    def features(self, images: np.ndarray | torch.Tensor, batch_size: int = 512) -> np.ndarray:
        """The network's features before the classifier head, ``(N, num_features)`` float32
        (what UMAP maps and fine-tuning start from); input as for :meth:`logits`."""
        return self._batched(self.net.forward_features, images, batch_size, self.net.num_features).numpy()

    def _batched(self, fn, inputs: np.ndarray | torch.Tensor, batch_size: int, width: int) -> torch.Tensor:
        x = to_input(inputs) if self.net.input_kind == "image" else self.to_sequences(inputs)
        layout = torch.channels_last if x.ndim == 4 else torch.contiguous_format
        with autocast(self.device, self.precision):
            out = [fn(x[i: i + batch_size].to(self.device).contiguous(memory_format=layout)).float().cpu()
                   for i in range(0, len(x), batch_size)]
        return torch.cat(out) if out else torch.zeros(0, width)

    def to_sequences(self, x: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Check a sequence model's input: float ``(N, T, 7)`` with T the model's length.

        Raises:
            ValueError: images or another shape.
        """
        from fude.strokes import SEQUENCE_FEATURES

        x = torch.as_tensor(x)
        shape = (self.net.config.length, SEQUENCE_FEATURES)
        if x.ndim != 3 or tuple(x.shape[1:]) != shape or not x.is_floating_point():
            raise ValueError(f"{self.net.arch} reads stroke sequences: float (N, {shape[0]}, {shape[1]}), got "
                             f"{x.dtype} {tuple(x.shape)}; for drawings use predict_strokes")
        return x.float()

    def predict_strokes(self, strokes, k: int = 5, canvas: dict | None = None) -> list[dict]:
        """Top-``k`` guesses for one character drawn as strokes (see :mod:`fude.strokes`): a list of
        ``{"index", "char", "codepoint", "probability"}``, most probable first.

        The strokes are rasterised as the model's training images were (ink fitted into its
        ``box``), or for a sequence model turned into its point sequence. Small kana share their full-size form's shape (ぁ/あ, っ/つ, ...), so the image
        cannot tell them apart: the pair's probability is split by the drawing's size relative to
        ``canvas`` (``{"width", "height"}`` in the strokes' units) when given, and otherwise
        leans 70:30 to the full-size kana (far more frequent in text). Both are ranked.

        Raises:
            fude.strokes.StrokeError: empty, malformed, non-finite or too many strokes.
        """
        from fude.classmap import SMALL_KANA
        from fude.strokes import bounds, check_strokes, rasterise, sequence_features

        strokes = check_strokes(strokes)
        if self.net.input_kind == "sequence":
            probs = self.predict_proba(sequence_features(strokes, length=self.net.config.length)[None])[0]
        else:
            probs = self.predict_proba(rasterise(strokes, box=self.box)[None])[0]
        index = {c: i for i, c in enumerate(self.class_map.chars)}
        pairs = [(index[s], index[b]) for s, b in SMALL_KANA.items() if s in index and b in index]
        if pairs:
            w_small = 0.3
            side = max(float(canvas.get("width") or 0), float(canvas.get("height") or 0)) if canvas else 0.0
            if side > 0:
                lo, hi = bounds(strokes)
                rel = float((hi - lo).max()) / side  # small kana fill well under half the writing square
                w_small = float(1 / (1 + np.exp(np.clip((rel - 0.45) / 0.04, -50, 50))))
            for s, b in pairs:
                mass = probs[s] + probs[b]
                probs[s], probs[b] = mass * w_small, mass * (1 - w_small)
        return self.top_k(probs[None], k)[0]

    def predict(self, images: np.ndarray | torch.Tensor, k: int = 5) -> list[list[dict]]:
        """Top-``k`` guesses per image: a list (one per image) of
        ``[{"index", "char", "codepoint", "probability"}, ...]``, most probable first."""
        return self.top_k(self.predict_proba(images), k)

    def top_k(self, probs: np.ndarray, k: int = 5) -> list[list[dict]]:
        """Probabilities ``(N, K)`` -> the top-``k`` guesses per row (see :meth:`predict`)."""
        k = min(k, probs.shape[1])
        order = np.argsort(-probs, axis=1, kind="stable")[:, :k]
        return [[{"index": int(i), "char": self.class_map.char(int(i)), "codepoint": self.class_map.codepoint(int(i)),
                  "probability": float(p[i])} for i in row] for p, row in zip(probs, order)]


def to_input(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 ``(N, 28, 28)`` or float ``(N, 1, 28, 28)`` in [0, 1] -> float32 ``(N, 1, 28, 28)``.

    Raises:
        ValueError: any other shape or dtype.
    """
    x = torch.as_tensor(images)
    if x.dtype == torch.uint8:
        if x.ndim == 3:
            x = x[:, None]
        x = x.float().div_(255)
    if x.ndim != 4 or x.shape[1:] != (1, IMAGE_SIZE, IMAGE_SIZE) or not x.is_floating_point():
        raise ValueError(f"images must be uint8 (N, 28, 28) or float (N, 1, 28, 28) in [0, 1]; "
                         f"got {x.dtype} {tuple(x.shape)}")
    return x.float()


def load_model(name_or_dir: str | os.PathLike = "kmnist", device: str | torch.device = "cpu",
               weights: str = "model", precision: str = "auto") -> Recognizer:
    """Load a shipped model (``"mnist"``, ``"kmnist"``) or a run folder written by ``fude train``;
    ``precision`` as in :class:`Recognizer`.

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
    load_weights(net, folder / f"{weights}.safetensors")
    return Recognizer(net, class_map, box, config, device, precision)
