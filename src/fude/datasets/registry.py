"""The registered datasets by name, and :func:`load_dataset`.

Sources:
- MNIST: LeCun, Cortes & Burges, http://yann.lecun.com/exdb/mnist/ (files from the mirror
  torchvision uses).
- Kuzushiji-MNIST and Kuzushiji-49: Clanuwat et al., "Deep Learning for Classical Japanese
  Literature", arXiv:1812.01718, https://github.com/rois-codh/kmnist (CC BY-SA 4.0).
- KanjiVG: Ulrich Apel et al., http://kanjivg.tagaini.net, https://github.com/KanjiVG/kanjivg
  (CC BY-SA 3.0): stroke-order templates of every kana and kanji (:data:`STROKE_SOURCES`).
- Tomoe: https://github.com/hiroyuki-komatsu/tomoe_data (Apache-2.0 or CC BY 4.0): one person's
  stroke templates, 3,048 drawings of 3,012 characters.
- Mediotaku: https://github.com/Mediotaku/Kanji-Recognition (CC BY 4.0): real casual characters
  drawn on a web canvas by volunteers (:data:`IMAGE_SOURCES`), used only to measure and tune reading.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from fude.classmap import ClassMap
from fude.datasets.base import Dataset, DatasetError
from fude.datasets.cache import RemoteFile, default_data_dir, fetch
from fude.datasets.formats import as_images, as_labels, read_array
from fude.files import md5sum


@dataclass(frozen=True)
class DatasetSpec:
    """A named dataset: per split, the images file and the labels file."""

    name: str
    splits: dict[str, tuple[RemoteFile, RemoteFile]]
    classmap: str  # "digits" or the name of a packaged official class map
    description: str
    packaged: bool = False  # files ship inside fude (fude/resources), no download needed
    drawn_from: dict[str, tuple[str, str]] = field(default_factory=dict)  # split -> the (dataset, split) holding its images

    def class_map(self) -> ClassMap:
        return ClassMap.digits() if self.classmap == "digits" else ClassMap.packaged(self.classmap)

    def downloadable_splits(self) -> list[str]:
        """The splits whose files are all published online (not the mirror-only ones)."""
        return [s for s, files in self.splits.items() if all(f.url for f in files)]


_MNIST = "https://ossci-datasets.s3.amazonaws.com/mnist/"
_KMNIST = "http://codh.rois.ac.jp/kmnist/dataset/kmnist/"
_K49 = "http://codh.rois.ac.jp/kmnist/dataset/k49/"

DATASETS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec(
        "mnist",
        {
            "train": (
                RemoteFile("train-images-idx3-ubyte.gz", _MNIST + "train-images-idx3-ubyte.gz", 9912422, "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
                RemoteFile("train-labels-idx1-ubyte.gz", _MNIST + "train-labels-idx1-ubyte.gz", 28881, "d53e105ee54ea40749a09fcbcd1e9432"),
            ),
            "test": (
                RemoteFile("t10k-images-idx3-ubyte.gz", _MNIST + "t10k-images-idx3-ubyte.gz", 1648877, "9fb629c4189551a2d022fa330f9573f3"),
                RemoteFile("t10k-labels-idx1-ubyte.gz", _MNIST + "t10k-labels-idx1-ubyte.gz", 4542, "ec29112dd5afa0611ce80d1b7f02629c"),
            ),
        },
        "digits",
        "MNIST handwritten digits, 60,000 train / 10,000 test, 10 classes",
    ),
    "kmnist": DatasetSpec(
        "kmnist",
        {
            "train": (
                RemoteFile("kmnist-train-imgs.npz", _KMNIST + "kmnist-train-imgs.npz", 18384171, "a183fbc01ed9a345513b145673d3d0bb"),
                RemoteFile("kmnist-train-labels.npz", _KMNIST + "kmnist-train-labels.npz", 29700, "b0e1d240e8afec72b50437fc3bc5908a"),
            ),
            "test": (
                RemoteFile("kmnist-test-imgs.npz", _KMNIST + "kmnist-test-imgs.npz", 3079479, "dace6de62ca8b90843cc45366337d02e"),
                RemoteFile("kmnist-test-labels.npz", _KMNIST + "kmnist-test-labels.npz", 5304, "3ae489a79983d0fe386152684e3b5412"),
            ),
            # A local-only subset: 8,000 of the official test images (stratified), in the
            # official npz layout. It is in the shared data mirror, not on the internet.
            "dev": (RemoteFile("kmnist-dev-imgs.npz"), RemoteFile("kmnist-dev-labels.npz")),
        },
        "kmnist",
        "Kuzushiji-MNIST cursive kana, 60,000 train / 10,000 test, 10 classes",
        drawn_from={"dev": ("kmnist", "test")},
    ),
    "k49": DatasetSpec(
        "k49",
        {
            "train": (
                RemoteFile("k49-train-imgs.npz", _K49 + "k49-train-imgs.npz", 66117696, "7ac088b20481cf51dcd01ceaab89d821"),
                RemoteFile("k49-train-labels.npz", _K49 + "k49-train-labels.npz", 164485, "44a8e1b893f81e63ff38d73cad420f7a"),
            ),
            "test": (
                RemoteFile("k49-test-imgs.npz", _K49 + "k49-test-imgs.npz", 10971201, "d352e201d846ce6b94f42c990966f374"),
                RemoteFile("k49-test-labels.npz", _K49 + "k49-test-labels.npz", 27450, "4da6f7a62e67a832d5eb1bd85c5ee448"),
            ),
        },
        "k49",
        "Kuzushiji-49 cursive kana, 232,365 train / 38,547 test, 49 classes (imbalanced)",
    ),
    # A small stratified sample of the KMNIST dev images, shipped with fude so the demo and
    # first steps work offline (built by tools/make_demo_data.py).
    "kmnist-sample": DatasetSpec(
        "kmnist-sample",
        {split: (RemoteFile(f"kmnist-sample-{split}-imgs.npz"), RemoteFile(f"kmnist-sample-{split}-labels.npz"))
         for split in ("train", "test")},
        "kmnist",
        "Kuzushiji-MNIST sample shipped with fude, 1,200 train / 300 test, 10 classes",
        packaged=True,
        drawn_from={"train": ("kmnist", "dev"), "test": ("kmnist", "dev")},
    ),
}


def containing(name: str, split: str) -> set[tuple[str, str]]:
    """``(name, split)`` and every registered split that holds its images (``kmnist-sample``'s were
    drawn from ``kmnist`` dev, which is part of ``kmnist`` test)."""
    found, todo = set(), [(name, split)]
    while todo:
        key = todo.pop()
        if key not in found:
            found.add(key)
            spec = DATASETS.get(key[0])
            if spec is not None and key[1] in spec.drawn_from:
                todo.append(spec.drawn_from[key[1]])
    return found


def load_dataset(name: str, split: str = "train", data_dir: str | os.PathLike | None = None,
                 download: bool = True) -> Dataset:
    """Load a registered dataset split, from the cache/mirror or by checksummed download.

    Args:
        name: ``"mnist"``, ``"kmnist"`` or ``"k49"`` (see :data:`DATASETS`).
        split: ``"train"`` or ``"test"`` (``kmnist`` also has the local-only ``"dev"``); splits
            joined by ``+`` are concatenated in that order (``"train+test"``, as the seeds'
            cross-validation over all 70,000 images).
        data_dir: where files are looked for and downloaded to (see :func:`default_data_dir`).
        download: fetch missing files from the official source.

    Returns:
        a :class:`Dataset` with uint8 ``(N, 28, 28)`` images and int64 ``(N,)`` labels.

    Raises:
        DatasetError: unknown name or split, a missing file that cannot be downloaded, an md5
            mismatch, or data of the wrong shape.
    """
    if name not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    spec = DATASETS[name]
    if "+" in split:
        parts = [load_dataset(name, part, data_dir, download) for part in split.split("+")]
        return Dataset(np.concatenate([d.images for d in parts]), np.concatenate([d.labels for d in parts]),
                       spec.class_map(), {"name": name, "split": split,
                                          "files": [f for d in parts for f in d.source["files"]]})
    if split not in spec.splits:
        raise DatasetError(f"dataset {name!r} has no split {split!r}; splits: {', '.join(spec.splits)}")
    img_file, lab_file = spec.splits[split]
    if spec.packaged:
        res = Path(str(resources.files("fude.resources")))
        img_path, lab_path = res / img_file.filename, res / lab_file.filename
    else:
        root = default_data_dir(data_dir)
        img_path = fetch(name, img_file, root, download)
        lab_path = fetch(name, lab_file, root, download)
    x = as_images(read_array(img_path), str(img_path))
    y = as_labels(read_array(lab_path), str(lab_path))
    files = [{"file": f.filename, "md5": f.md5 or md5sum(p)} for f, p in ((img_file, img_path), (lab_file, lab_path))]
    return Dataset(x, y, spec.class_map(), {"name": name, "split": split, "files": files})


@dataclass(frozen=True)
class StrokeSource:
    """A named collection of characters as strokes, read by :mod:`fude.strokes`: a folder of
    KanjiVG SVG files or a Tomoe dictionary file, at ``path`` under the data directory."""

    name: str
    path: str  # under the data directory
    description: str
    home: str  # where it is published
    remote: RemoteFile | None = None  # a single file with a checksummed download


_TOMOE = "https://raw.githubusercontent.com/hiroyuki-komatsu/tomoe_data/eb972ca751cc6c2dc6c7250a8ce29f08975876e4/"

STROKE_SOURCES: dict[str, StrokeSource] = {
    "kanjivg": StrokeSource(
        "kanjivg", "kanjivg/kanji",
        "KanjiVG stroke-order SVGs of every kana and kanji, standard and variant forms: 11,662 files, 6,703 characters",
        "the kanji/ folder of https://github.com/KanjiVG/kanjivg (commit 1957802840a6f059d1e27dcb5755722955cc7dbb)"),
    "kanjivg-hiragana": StrokeSource(
        "kanjivg-hiragana", "kanjivg_hiragana", "KanjiVG's SVGs of the 86 hiragana code points U+3041..U+3096",
        "the 03041.svg..03096.svg files of https://github.com/KanjiVG/kanjivg's kanji/ folder"),
    "tomoe": StrokeSource(
        "tomoe", "tomoe/all.tdic", "Tomoe's templates: one person's strokes, 3,048 drawings of 3,012 characters (2,949 kanji, 52 kana)",
        _TOMOE + "all.tdic", RemoteFile("all.tdic", _TOMOE + "all.tdic", 770174, "d5d6ea0f0b91933f912415085ef3e4c6")),
}


def stroke_source(name: str, data_dir: str | os.PathLike | None = None, download: bool = True) -> Path:
    """The local path of the registered stroke collection ``name`` (:data:`STROKE_SOURCES`) under
    the data directory (``data_dir``, ``$FUDE_DATA_DIR`` or ``~/.cache/fude``): a folder of SVG
    files, or a file, downloaded and md5-checked where it is published as one file (Tomoe).

    Raises:
        ValueError: an unknown name (the known ones named).
        DatasetError: not there (and not downloadable): where it looked and where to get it.
    """
    if name not in STROKE_SOURCES:
        raise ValueError(f"unknown stroke collection {name!r}; known: {', '.join(STROKE_SOURCES)}")
    spec, root = STROKE_SOURCES[name], default_data_dir(data_dir)
    if spec.remote is not None:
        return fetch(str(Path(spec.path).parent), spec.remote, root, download)
    path = root / spec.path
    if not path.is_dir():
        raise DatasetError(f"{name}: {path} not found. Get {spec.home} into that folder, or point FUDE_DATA_DIR "
                           f"(or --data-dir) at a data mirror that holds '{spec.path}'.")
    return path


@dataclass(frozen=True)
class ImageSource:
    """A named folder of character pictures, each labelled by its file name (``学_3_big.png``: the
    character, then the number of the submission it came from), at ``path`` under the data
    directory. Its ``tune`` split is the submissions whose number is 1 more than a multiple of 4, its
    ``report`` split the others: whole submissions (one writer's sitting) on one side."""

    name: str
    path: str
    description: str
    home: str


IMAGE_SOURCES: dict[str, ImageSource] = {
    "mediotaku": ImageSource(
        "mediotaku", "mediotaku/images",
        "real casual characters drawn on a web canvas by volunteers (mouse, finger, stylus): 755 300x300 PNGs, "
        "100 classes (49 hiragana, 17 katakana, 34 kanji); tune 355 (submissions 1, 5, 9, 13) / report 400",
        "the odd-numbered files of open_dataset/big in https://github.com/Mediotaku/Kanji-Recognition (CC BY 4.0)"),
}


@dataclass(frozen=True)
class LabelledPictures:
    """Pictures of characters: ``files`` (paths), ``labels`` (the character of each) and ``groups``
    (the submission each came from), in file-name order."""

    files: list[Path]
    labels: list[str]
    groups: list[int]

    def __len__(self) -> int:
        return len(self.files)


def load_pictures(name: str, split: str = "all", data_dir: str | os.PathLike | None = None) -> LabelledPictures:
    """The pictures of the registered image source ``name`` (:data:`IMAGE_SOURCES`), ``split``
    ``"tune"``, ``"report"`` or ``"all"`` (see :class:`ImageSource`), read from the data directory
    (``data_dir``, ``$FUDE_DATA_DIR`` or ``~/.cache/fude``).

    Raises:
        ValueError: an unknown name or split.
        DatasetError: the folder is not there (where it looked and where to get it), or holds a file
            whose name is not ``<character>_<submission>_...png``.
    """
    if name not in IMAGE_SOURCES:
        raise ValueError(f"unknown image source {name!r}; known: {', '.join(IMAGE_SOURCES)}")
    if split not in ("tune", "report", "all"):
        raise ValueError(f"split must be tune, report or all; got {split!r}")
    spec = IMAGE_SOURCES[name]
    folder = default_data_dir(data_dir) / spec.path
    if not folder.is_dir():
        raise DatasetError(f"{name}: {folder} not found. Get {spec.home} into that folder, or point FUDE_DATA_DIR "
                           f"(or --data-dir) at a data mirror that holds '{spec.path}'.")
    files, labels, groups = [], [], []
    for path in sorted(folder.glob("*.png")):
        parts = path.stem.split("_")
        if len(parts) < 2 or len(parts[0]) != 1 or not parts[1].isdigit():
            raise DatasetError(f"{path}: expected a name <character>_<submission>_...png")
        group = int(parts[1])
        if split == "all" or (split == "tune") == (group % 4 == 1):
            files.append(path)
            labels.append(parts[0])
            groups.append(group)
    return LabelledPictures(files, labels, groups)
