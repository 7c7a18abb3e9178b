"""The hyperparameters of a training run: :class:`TrainConfig`, the one home of every default.

Each field carries its help text; ``fude train`` builds its flags from these fields
(:mod:`fude.cli.train`), and a run folder's ``run.json`` stores the resolved config.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from fude.datasets.augment import AugmentConfig
from fude.recipes import training_recipes

MONITORS = {"val_accuracy": "max", "val_balanced_accuracy": "max", "val_loss": "min"}  # what early stopping watches
ARCH_LR = {"stroke-conv1d": 0.05}  # 0.2 made it diverge on 540 drawings in batches of 64 (0.05: 98% val)
MAX_LR = 1e3  # learning rates beyond this are typos: one step would overflow float32 weights
# named recipes: TrainConfig fields that differ from the defaults (``fude train --recipe NAME``,
# TrainConfig.from_recipe; "augment": "off" stands for AugmentConfig.off(), `--no-augment`), from the
# recipe files that hold them (fude/resources/recipes/*.json, fude.recipes);
# bench/speed/mnist_speed.py measures them
RECIPES = training_recipes()


def _f(default, help: str, **meta):
    """A config field with its help text (and ``choices``, ``flag`` for the command line)."""
    if callable(default):
        return field(default_factory=default, metadata={"help": help, **meta})
    return field(default=default, metadata={"help": help, **meta})


@dataclass
class TrainConfig:
    """Hyperparameters of one training run; saved as ``run.json`` in the run folder.

    Raises:
        ValueError: (on creation) a value out of range, or options that contradict each other.
    """

    arch: str = _f("fude-cnn", "model architecture (fude.models.ARCHS)")
    model_config: dict = _f(dict, "network config fields beyond the architecture's defaults, e.g. "
                            "{\"widths\": [32, 64, 128]} (fude.models.cnn.FudeCNNConfig)", flag=False)
    epochs: int = _f(8, "passes over the training data")
    batch_size: int = _f(256, "images per optimizer step")
    lr: float = _f(0.2, "peak learning rate of SGD with Nesterov momentum, per batch of batch_size (ARCH_LR: "
                   "what some architectures need instead)")
    momentum: float = _f(0.9, "SGD momentum", flag=False)
    weight_decay: float = _f(5e-4, "L2 weight decay on conv and linear weights only, not on norms or biases",
                             flag=False)
    warmup: float = _f(0.15, "share of all steps over which the learning rate rises linearly from a tenth of its "
                       "peak to the peak; it then falls linearly to 0 (one-cycle)")
    label_smoothing: float = _f(0.1, "label smoothing of the cross-entropy")
    augment: dict = _f(lambda: asdict(AugmentConfig()), "batch augmentation (fude.datasets.augment.AugmentConfig)",
                       flag=False)
    val_split: float = _f(0.1, "share of the data held out (stratified) for validation; 0: none")
    seed: int = _f(0, "random seed; same seed, same run")
    device: str = _f("auto", "auto, cpu, cuda, cuda:N")
    precision: str = _f("auto", "autocast of the forward passes: bf16 where the hardware runs it fast (GPU, CPUs "
                        "with AMX/AVX512-BF16), else fp32", choices=("auto", "fp32", "bf16"))
    early_stopping: int = _f(0, "patience: stop after this many epochs without a better --monitor and restore the "
                             "best epoch; 0: off", metavar="PATIENCE")
    monitor: str = _f("val_accuracy", "validation metric that picks the best epoch", choices=tuple(MONITORS))
    class_weights: str = _f("none", "balanced: weight each class's loss by n / (classes * count), as "
                            "scikit-learn", choices=("none", "balanced"))
    sampler: str = _f("shuffle", "shuffle: each image once per epoch; balanced: draw batches so every class is "
                      "seen equally often", choices=("shuffle", "balanced"))
    init_from: str = _f("", "fine-tuning: start from this shipped model or run folder, with a new head", flag=False)
    freeze: int = _f(0, "fine-tuning: keep the first N blocks of the network fixed (the new head always trains)",
                     flag=False)
    ema: float = _f(0.0, "the model is an exponential moving average of the weights, updated every step with "
                    "this decay (e.g. 0.999); 0: off", metavar="DECAY")

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 2:
            raise ValueError(f"batch_size must be at least 2 (batch norm needs 2 images), got {self.batch_size}")
        if not 0 <= self.val_split < 1:
            raise ValueError(f"val_split must be in [0, 1), got {self.val_split}")
        if not 0 < self.lr <= MAX_LR:
            raise ValueError(f"lr must be positive and at most {MAX_LR:g} (past that every weight overflows), got {self.lr}")
        if not 0 <= self.warmup < 1:
            raise ValueError(f"warmup must be in [0, 1), got {self.warmup}")
        if self.early_stopping < 0:
            raise ValueError(f"early_stopping (patience in epochs) must be 0 (off) or more, got {self.early_stopping}")
        if self.monitor not in MONITORS:
            raise ValueError(f"monitor must be one of {sorted(MONITORS)}, got {self.monitor!r}")
        if self.early_stopping and self.val_split == 0:
            raise ValueError("early stopping watches the validation set: give a val_split above 0 (e.g. 0.1)")
        if self.class_weights not in ("none", "balanced"):
            raise ValueError(f"class_weights must be 'none' or 'balanced', got {self.class_weights!r}")
        if self.sampler not in ("shuffle", "balanced"):
            raise ValueError(f"sampler must be 'shuffle' or 'balanced', got {self.sampler!r}")
        if self.freeze < 0 or (self.freeze and not self.init_from):
            raise ValueError(f"freeze must be 0, or a block count with init_from (fine-tuning); got {self.freeze}")
        if not 0 <= self.ema < 1:
            raise ValueError(f"ema (the moving average's decay per step) must be in [0, 1), 0 for off; got {self.ema}")
        unknown = set(self.augment) - {f.name for f in fields(AugmentConfig)}
        if unknown:
            raise ValueError(f"unknown augment field(s) {sorted(unknown)}")

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """Inverse of ``asdict``; raises ValueError naming any unknown field. Reads the runs and
        models of fude 0.1.0 before the layout change too, whose ``model`` field is ``model_config``."""
        if "model" in d and "model_config" not in d:
            d = {("model_config" if k == "model" else k): v for k, v in d.items()}
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown training config field(s) {sorted(unknown)}")
        return cls(**d)

    @classmethod
    def from_recipe(cls, name: str, **changes) -> "TrainConfig":
        """The named recipe (:data:`RECIPES`) with ``changes``: a ``model_config`` adds to the
        recipe's network fields (or replaces those it names), any other field replaces the recipe's.

        Raises:
            ValueError: an unknown recipe (naming the known ones), or a value the config refuses.
        """
        if name not in RECIPES:
            raise ValueError(f"unknown recipe {name!r}; known: {', '.join(RECIPES)}")
        recipe = {**RECIPES[name]}
        if recipe.get("augment") == "off":
            recipe["augment"] = asdict(AugmentConfig.off())
        model_config = {**recipe.get("model_config", {}), **changes.pop("model_config", {})}
        return cls.from_dict({**recipe, **changes, "model_config": model_config})

    def replace(self, **changes) -> "TrainConfig":
        """A copy with ``changes``, checked again."""
        return TrainConfig.from_dict({**asdict(self), **changes})


def default_lr(arch: str) -> float:
    """The peak learning rate fude's recipe uses for ``arch``: 0.2, or what that network needs."""
    return ARCH_LR.get(arch, TrainConfig.lr)
