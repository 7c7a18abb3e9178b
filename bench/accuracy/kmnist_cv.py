"""KMNIST dev set (8,000 images), stratified 5-fold cross-validation, three methods on the same folds:

- fude: the recipe of the shipped `kmnist` model (read from its config.json), via fude's trainer;
- keras-cnn: the seeds' reference recipe (Keras mnist_cnn: Adadelta lr 1.0, batch 128, 12 epochs,
  no augmentation), written out here as they ran it;
- 4-NN: k-nearest neighbours (k=4, distance-weighted) on raw pixels, as in the Kuzushiji-MNIST
  benchmark table (scikit-learn).

    FUDE_DATA_DIR=../shared/data .venv/bin/python bench/accuracy/kmnist_cv.py [--methods fude keras-cnn knn]
        [--epochs N] [--elastic ALPHA] [--tta 0 1 2]

``--epochs`` and ``--elastic`` override the shipped recipe's epochs and elastic distortion; ``--tta``
also scores fude's fold models with test-time augmentation (shifted views, fude.evaluate.TTA_SHIFTS).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import save_results, table  # noqa: E402

import fude  # noqa: E402
from fude.evaluate import predict_proba  # noqa: E402
from fude.models import create_model  # noqa: E402
from fude.recognizer import Recognizer  # noqa: E402
from fude.train import TrainConfig, cv_folds, train  # noqa: E402

FOLDS, SEED = 5, 0


EPOCHS = None  # --epochs
ELASTIC = None  # --elastic


def fit_fude(x_tr, y_tr, data, out) -> Recognizer:
    shipped = fude.load_model("kmnist").config["train"]
    augment = {**shipped["augment"], **({"elastic": ELASTIC} if ELASTIC is not None else {})}
    cfg = TrainConfig.from_dict({**shipped, "val_split": 0.0, **({"epochs": EPOCHS} if EPOCHS else {}),
                                 "augment": augment})
    train(cfg, data.subset(x_tr), out, progress=False)
    return fude.load_model(out)


def fit_keras_reference(x_tr, y_tr, data, out) -> Recognizer:
    """The seeds' Keras recipe: Adadelta(lr=1.0, rho=0.95, eps=1e-7), batch 128, 12 epochs."""
    torch.manual_seed(SEED)
    x = torch.from_numpy(data.images[x_tr])[:, None].float() / 255
    y = torch.from_numpy(data.labels[x_tr])
    model = create_model("keras-cnn", num_classes=len(data.class_map)).to(memory_format=torch.channels_last)
    opt = torch.optim.Adadelta(model.parameters(), lr=1.0, rho=0.95, eps=1e-7)
    for epoch in range(12):
        model.train()
        for idx in torch.randperm(len(x)).split(128):
            loss = F.cross_entropy(model(x[idx].contiguous(memory_format=torch.channels_last)), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return Recognizer(model.eval(), data.class_map)


def knn_accuracy(tr, te, data) -> float:
    from sklearn.neighbors import KNeighborsClassifier

    knn = KNeighborsClassifier(n_neighbors=4, weights="distance", n_jobs=-1)
    knn.fit(data.images[tr].reshape(len(tr), -1), data.labels[tr])
    return float((knn.predict(data.images[te].reshape(len(te), -1)) == data.labels[te]).mean())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--methods", nargs="+", default=["fude", "keras-cnn", "knn"])
    p.add_argument("--epochs", type=int, help="override the shipped recipe's epochs")
    p.add_argument("--elastic", type=float, help="elastic distortion strength instead of the shipped recipe's")
    p.add_argument("--tta", type=int, nargs="+", default=[0], help="TTA levels to score fude's fold models at")
    p.add_argument("--max-folds", type=int, default=FOLDS, help="run only the first N folds (a quick look)")
    args = p.parse_args()
    global EPOCHS, ELASTIC
    EPOCHS = args.epochs
    ELASTIC = args.elastic
    data = fude.load_dataset("kmnist", "dev")
    folds = cv_folds(data.labels, FOLDS, SEED)[:args.max_folds]  # fude cv's folds
    rows = []
    for method in args.methods:
        levels = args.tta if method == "fude" else [0]
        accs, t0 = {t: [] for t in levels}, time.perf_counter()
        for k, (tr, te) in enumerate(folds, 1):
            if method == "knn":
                accs[0].append(knn_accuracy(tr, te, data))
            else:
                fit = fit_fude if method == "fude" else fit_keras_reference
                with tempfile.TemporaryDirectory() as tmp:
                    rec = fit(tr, None, data, tmp)
                for t in levels:
                    pred = predict_proba(rec, data.images[te], tta=t).argmax(1)
                    accs[t].append(float((pred == data.labels[te]).mean()))
            print(f"{method} fold {k}: " + ", ".join(f"TTA {t} {accs[t][-1]:.4f}" for t in levels), flush=True)
        seconds = time.perf_counter() - t0
        for t in levels:
            name = method + (f" (TTA {t})" if t else "")
            rows.append({"method": name, "mean_accuracy": f"{np.mean(accs[t]):.4f}", "std": f"{np.std(accs[t]):.4f}",
                         "folds": " ".join(f"{a:.4f}" for a in accs[t]), "seconds_per_fold": seconds / len(folds)})
    print(table(rows))
    tag = "+".join(args.methods) + (f"-first{args.max_folds}" if args.max_folds < FOLDS else "") + (f"-epochs{EPOCHS}" if EPOCHS else "") + (f"-elastic{ELASTIC:g}" if ELASTIC is not None else "")
    save_results(f"kmnist_cv-{tag}", rows, folds=FOLDS, seed=SEED)


if __name__ == "__main__":
    main()
