"""Training: one loop for every network, its configuration, optimizer, sampling, run folder,
cross-validation, FLOP count and multi-process (``torchrun``) support.

    config.py       TrainConfig: every hyperparameter, its default and help
    loop.py         train() as named steps; train_step, evaluate_tensors
    networks.py     the network a run trains: fresh, or a trained one with a new head (fine-tuning)
    optim.py        SGD with Nesterov momentum, the one-cycle schedule
    data.py         the data as tensors on the device, batches, pixel statistics
    sampling.py     stratified splits, draws and folds; class weights; the balanced sampler
    run.py          the run folder: run.json, metrics.jsonl, checkpoints, resume and overwrite rules
    cv.py           k-fold cross-validation of recipes and baselines
    flops.py        training FLOPs per image
    distributed.py  torchrun's processes (DistributedDataParallel)
"""

from fude.train.config import ARCH_LR, MONITORS, RECIPES, TrainConfig, default_lr
from fude.train.cv import cross_validate, cross_validate_recipe, recipe_folds
from fude.train.data import model_batch, pixel_mean_std, to_tensors
from fude.models.flops import flops_per_image
from fude.train.loop import Run, evaluate_tensors, setup, train, train_step
from fude.train.networks import build_model, start_from
from fude.train.optim import NesterovSGD, lr_at, make_optimizer
from fude.train.run import RunFolderError, read_metrics
from fude.train.sampling import balanced_order, class_weights, cv_folds, stratified_sample, stratified_split

__all__ = ["ARCH_LR", "MONITORS", "NesterovSGD", "RECIPES", "Run", "RunFolderError", "TrainConfig", "balanced_order",
           "build_model", "class_weights", "cross_validate", "cross_validate_recipe", "cv_folds", "default_lr", "evaluate_tensors",
           "flops_per_image", "lr_at", "make_optimizer", "model_batch", "pixel_mean_std", "read_metrics",
           "recipe_folds", "setup", "start_from", "stratified_sample", "stratified_split", "to_tensors", "train",
           "train_step"]
