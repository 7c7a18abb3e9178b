"""Datasets: a registry of named datasets, checksummed download, a local cache/mirror, and readers.

Every loader returns a :class:`Dataset`: uint8 images ``(N, 28, 28)`` (ink bright on a dark
background, as in MNIST), int64 labels ``(N,)`` (or ``None`` for unlabelled data) and a
:class:`~fude.classmap.ClassMap`.

Sources:
- MNIST: LeCun, Cortes & Burges, http://yann.lecun.com/exdb/mnist/ (files from the mirror
  torchvision uses).
- Kuzushiji-MNIST and Kuzushiji-49: Clanuwat et al., "Deep Learning for Classical Japanese
  Literature", arXiv:1812.01718, https://github.com/rois-codh/kmnist (CC BY-SA 4.0).

Where files are looked for: ``data_dir`` argument, else the ``FUDE_DATA_DIR`` environment
variable, else ``~/.cache/fude``; a dataset's files lie in ``<data_dir>/<dataset>/``. A file
that is there and has the right md5 is read without any network; a missing one is downloaded
there (unless ``download=False``).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import os
import tempfile
import urllib.request
import zipfile
import zlib
from importlib import resources
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fude.classmap import ClassMap

IMAGE_SIZE = 28  # pixels per side of every dataset image
IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm"}


class DatasetError(Exception):
    """A dataset file is missing, corrupt, or holds data of the wrong shape, dtype or range."""


@dataclass(frozen=True)
class RemoteFile:
    """One file of a named dataset: where to get it and how to check it.

    ``url``/``size``/``md5`` are ``None`` for files that exist only in a local mirror.
    """

    filename: str
    url: str | None = None
    size: int | None = None  # bytes
    md5: str | None = None


@dataclass(frozen=True)
class DatasetSpec:
    """A named dataset: per split, the images file and the labels file."""

    name: str
    splits: dict[str, tuple[RemoteFile, RemoteFile]]
    classmap: str  # "digits" or the name of a packaged official class map
    description: str
    packaged: bool = False  # files ship inside fude (fude/resources), no download needed

    def class_map(self) -> ClassMap:
        return ClassMap.digits() if self.classmap == "digits" else ClassMap.packaged(self.classmap)


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
    ),
}


@dataclass
class Dataset:
    """Images, labels and a class map.

    Attributes:
        images: ``(N, 28, 28)`` uint8, ink bright (255) on a dark (0) background.
        labels: ``(N,)`` int64 in ``[0, len(class_map))``, or ``None`` when unlabelled.
        class_map: the classes' characters and code points.
        source: where the data came from: name, split and each file with its md5.
    """

    images: np.ndarray
    labels: np.ndarray | None
    class_map: ClassMap
    source: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_arrays(self.images, self.labels, len(self.class_map), self.source.get("name", "dataset"))

    def __len__(self) -> int:
        return len(self.images)

    @property
    def inputs(self) -> np.ndarray:
        """What a model reads: the images."""
        return self.images

    def subset(self, index: np.ndarray) -> "Dataset":
        """The images (and labels) at ``index``, an int array; same class map and source."""
        labels = None if self.labels is None else self.labels[index]
        return Dataset(self.images[index], labels, self.class_map, dict(self.source))


@dataclass
class SequenceDataset:
    """Drawings as point sequences, labels and a class map: training data for the sequence
    models (``stroke-gru``, ``stroke-lstm``, ``stroke-conv1d``).

    Attributes:
        sequences: ``(N, T, 7)`` float32, finite: :func:`fude.strokes.sequence_features` with
            ``length=T`` of each drawing.
        labels: ``(N,)`` int64 in ``[0, len(class_map))``, or ``None`` when unlabelled.
        class_map: the classes' characters and code points.
        source: where the data came from.
    """

    sequences: np.ndarray
    labels: np.ndarray | None
    class_map: ClassMap
    source: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        from fude.strokes import SEQUENCE_FEATURES

        what, x = self.source.get("name", "sequences"), self.sequences
        if not isinstance(x, np.ndarray) or x.dtype != np.float32 or x.ndim != 3 or x.shape[2] != SEQUENCE_FEATURES:
            raise DatasetError(f"{what}: sequences must be float32 (N, T, {SEQUENCE_FEATURES}), got "
                               f"{getattr(x, 'dtype', type(x))} of shape {getattr(x, 'shape', '?')}")
        if not np.isfinite(x).all():
            raise DatasetError(f"{what}: sequences hold NaN or infinite values")
        if self.labels is not None:
            check_labels(self.labels, len(x), len(self.class_map), what, "sequences")

    def __len__(self) -> int:
        return len(self.sequences)

    @property
    def inputs(self) -> np.ndarray:
        """What a model reads: the sequences."""
        return self.sequences

    def subset(self, index: np.ndarray) -> "SequenceDataset":
        """The sequences (and labels) at ``index``, an int array; same class map and source."""
        labels = None if self.labels is None else self.labels[index]
        return SequenceDataset(self.sequences[index], labels, self.class_map, dict(self.source))


def check_arrays(images: np.ndarray, labels: np.ndarray | None, num_classes: int, what: str) -> None:
    """Raise :class:`DatasetError` unless images are uint8 ``(N, 28, 28)`` and labels int64
    ``(N,)`` in ``[0, num_classes)``."""
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8:
        raise DatasetError(f"{what}: images must be a uint8 array, got {getattr(images, 'dtype', type(images))}")
    if images.ndim != 3 or images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise DatasetError(f"{what}: images must have shape (N, 28, 28), got {images.shape}")
    if labels is not None:
        check_labels(labels, len(images), num_classes, what)


def check_labels(labels: np.ndarray, n: int, num_classes: int, what: str, noun: str = "images") -> None:
    """Raise :class:`DatasetError` unless labels are int64 ``(n,)`` in ``[0, num_classes)``
    (``n`` of ``noun``)."""
    if not isinstance(labels, np.ndarray) or labels.dtype != np.int64 or labels.ndim != 1:
        raise DatasetError(f"{what}: labels must be a 1-D int64 array, got {getattr(labels, 'dtype', type(labels))} "
                           f"of shape {getattr(labels, 'shape', '?')}")
    if len(labels) != n:
        raise DatasetError(f"{what}: {n} {noun} but {len(labels)} labels")
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise DatasetError(f"{what}: labels must lie in [0, {num_classes - 1}] for {num_classes} classes, "
                           f"found values in [{labels.min()}, {labels.max()}]")


# --------------------------------------------------------------------------- files and cache

def default_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The directory datasets are read from and downloaded to.

    ``data_dir`` if given, else ``$FUDE_DATA_DIR``, else ``~/.cache/fude``.
    """
    if data_dir is not None:
        return Path(data_dir).expanduser()
    env = os.environ.get("FUDE_DATA_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "fude"


def md5sum(path: Path) -> str:
    """Hex md5 of a file's bytes."""
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch(dataset: str, remote: RemoteFile, data_dir: Path, download: bool = True) -> Path:
    """Path to a verified local copy of ``remote``, downloading it into ``data_dir/dataset/`` if needed.

    Raises:
        DatasetError: the file is missing and cannot be downloaded (says where it looked and
            where to get it), or its md5 differs from the official one (the file is not used).
    """
    path = data_dir / dataset / remote.filename
    if not path.exists():
        if remote.url is None:
            raise DatasetError(f"{remote.filename} not found: looked in {path.parent}. This file is not published "
                               f"online; it comes from a local data mirror. Point FUDE_DATA_DIR (or --data-dir) at "
                               f"the directory that holds '{dataset}/{remote.filename}'.")
        if not download:
            raise DatasetError(f"{remote.filename} not found: looked in {path.parent} and downloads are off. "
                               f"Get it from {remote.url} into that directory, or set FUDE_DATA_DIR to a mirror.")
        _download(remote, path)
    if remote.md5 is not None:
        actual = md5sum(path)
        if actual != remote.md5:
            raise DatasetError(f"md5 mismatch for {path}: expected {remote.md5}, got {actual}. The file is corrupt "
                               f"or not the official one and was not used; delete it and fetch it again "
                               f"from {remote.url}.")
    return path


def _download(remote: RemoteFile, path: Path) -> None:
    """Download to a temporary file beside ``path``; rename only after size and md5 match."""
    from tqdm import tqdm

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DatasetError(f"{remote.filename} not found in {path.parent}, and that directory cannot be created "
                           f"to download it ({e}). Set FUDE_DATA_DIR or --data-dir to a writable directory.") from e
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{remote.filename}.", suffix=".part")
    try:
        h = hashlib.md5()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(remote.url, timeout=60) as response, \
                tqdm(total=remote.size, unit="B", unit_scale=True, desc=remote.filename, leave=False) as bar:
            for block in iter(lambda: response.read(1 << 16), b""):
                out.write(block)
                h.update(block)
                bar.update(len(block))
        if remote.md5 is not None and h.hexdigest() != remote.md5:
            raise DatasetError(f"downloaded {remote.url} but its md5 is {h.hexdigest()}, expected {remote.md5}; "
                               f"the download was discarded. Try again later.")
        os.replace(tmp, path)
    except OSError as e:  # URLError is an OSError
        raise DatasetError(f"{remote.filename} not found in {path.parent} and the download from {remote.url} failed "
                           f"({e}). Download it by hand into that directory, or set FUDE_DATA_DIR (or --data-dir) "
                           f"to a local mirror that holds '{path.parent.name}/{remote.filename}'.") from e
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


# --------------------------------------------------------------------------- readers

def read_array(path: str | os.PathLike) -> np.ndarray:
    """Read an array from an official npz (key ``arr_0``) or an IDX file (gzipped or raw).

    Raises:
        DatasetError: unreadable file, wrong npz key, or IDX header that disagrees with the data.
    """
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path} not found")
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as npz:
                if "arr_0" not in npz.files:
                    raise DatasetError(f"{path}: npz has keys {npz.files}; expected the official key 'arr_0'")
                return npz["arr_0"]
        except (zipfile.BadZipFile, zlib.error, ValueError, OSError, EOFError, NotImplementedError) as e:
            raise DatasetError(f"{path}: not a readable npz file ({e})") from e
        except MemoryError:
            raise DatasetError(f"{path}: the npz declares an array larger than this machine's memory") from None
    return read_idx(path)


_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (the MNIST format: http://yann.lecun.com/exdb/mnist/), ``.gz`` or raw."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            gzipped = f.read(2) == b"\x1f\x8b"
        data = gzip.open(path).read() if gzipped else path.read_bytes()
    except (OSError, EOFError, zlib.error) as e:
        raise DatasetError(f"{path}: cannot read ({e})") from e
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES or data[3] == 0:
        raise DatasetError(f"{path}: not an IDX file (bad magic number {data[:4].hex() or 'empty'}); "
                           f"expected 0x0000 then a type byte and a dimension count")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DatasetError(f"{path}: IDX header is truncated")
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - header != expected:
        raise DatasetError(f"{path}: IDX header says shape {shape} ({expected} bytes of data) "
                           f"but the file holds {len(data) - header} bytes")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def as_images(array: np.ndarray, what: str) -> np.ndarray:
    """Check and convert an image array to uint8 ``(N, 28, 28)``.

    Accepts ``(N, 28, 28)``, ``(N, 784)`` and ``(N, 1, 28, 28)``; integer values must be in
    0..255. Raises :class:`DatasetError` otherwise.
    """
    if array.ndim == 2 and array.shape[1] == IMAGE_SIZE * IMAGE_SIZE:
        array = array.reshape(-1, IMAGE_SIZE, IMAGE_SIZE)
    if array.ndim == 4 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 3 or array.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise DatasetError(f"{what}: images must have shape (N, 28, 28) or (N, 784), got {array.shape}")
    if array.dtype != np.uint8:
        if not np.issubdtype(array.dtype, np.integer):
            raise DatasetError(f"{what}: images must be integers 0..255 (uint8), got dtype {array.dtype}")
        if array.size and (array.min() < 0 or array.max() > 255):
            raise DatasetError(f"{what}: pixel values must lie in 0..255, found [{array.min()}, {array.max()}]")
        array = array.astype(np.uint8)
    return np.ascontiguousarray(array)


def as_labels(array: np.ndarray, what: str) -> np.ndarray:
    """Check and convert a label array to int64 ``(N,)``; raises :class:`DatasetError`."""
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        raise DatasetError(f"{what}: labels must be a 1-D integer array, got dtype {array.dtype} shape {array.shape}")
    return array.astype(np.int64)


def save_pair(folder: str | os.PathLike, name: str, images: np.ndarray, labels: np.ndarray,
              class_map: ClassMap, kind: str = "imgs") -> tuple[Path, Path, Path]:
    """Write a dataset in the official layout that :func:`load_pair` reads: ``<name>-imgs.npz`` and
    ``<name>-labels.npz`` (key ``arr_0``, compressed) and ``<name>_classmap.csv``, each atomically
    (``kind="seqs"``: stroke sequences in ``<name>-seqs.npz``, for :func:`load_sequences`).
    Returns the three paths."""
    import io

    from fude.models import atomic_write

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = (folder / f"{name}-{kind}.npz", folder / f"{name}-labels.npz", folder / f"{name}_classmap.csv")
    for path, arr in zip(paths, (images, labels)):
        buf = io.BytesIO()
        np.savez_compressed(buf, arr_0=arr)
        atomic_write(path, buf.getvalue())
    atomic_write(paths[2], class_map.to_csv().encode())
    return paths


def load_pair(images: str | os.PathLike, labels: str | os.PathLike | None = None,
              class_map: ClassMap | str | os.PathLike | None = None) -> Dataset:
    """Load explicit image and label files (official npz with ``arr_0``, or IDX, gzipped or raw).

    Args:
        images: file of ``(N, 28, 28)`` uint8 images.
        labels: file of ``(N,)`` integer labels, or ``None`` for unlabelled images.
        class_map: a :class:`ClassMap`, a path to an official class-map CSV, or ``None``
            (classes named by index; 10 classes of labels 0..9 are taken as digits).
    """
    x = as_images(read_array(images), str(images))
    y = None if labels is None else as_labels(read_array(labels), str(labels))
    cmap = _resolve_class_map(class_map, y)
    return Dataset(x, y, cmap, {"name": "files", "files": file_records(images, labels)})


def load_sequences(sequences: str | os.PathLike, labels: str | os.PathLike | None = None,
                   class_map: ClassMap | str | os.PathLike | None = None) -> SequenceDataset:
    """Load stroke sequences ``(N, T, 7)`` float32 from an npz (key ``arr_0``; ``fude synth``
    writes them as ``<name>-seqs.npz``) with their labels and class map, as :func:`load_pair`.

    Raises:
        DatasetError: unreadable files, or arrays of the wrong shape, dtype or values.
    """
    x = read_array(sequences)
    y = None if labels is None else as_labels(read_array(labels), str(labels))
    cmap = _resolve_class_map(class_map, y)
    return SequenceDataset(x, y, cmap, {"name": str(sequences), "files": file_records(sequences, labels)})


def file_records(*paths: str | os.PathLike | None) -> list[dict]:
    """``[{"file": absolute path, "md5": ...}]`` for each path given (``None`` skipped): a data source."""
    return [{"file": str(Path(p).resolve()), "md5": md5sum(Path(p))} for p in paths if p is not None]


def _resolve_class_map(class_map, labels: np.ndarray | None) -> ClassMap:
    if isinstance(class_map, ClassMap):
        return class_map
    if class_map is not None:
        return ClassMap.from_csv(class_map)
    k = int(labels.max()) + 1 if labels is not None and len(labels) else 10
    return ClassMap.digits() if k <= 10 else ClassMap.indices(k)


def load_csv(path: str | os.PathLike, class_map: ClassMap | str | os.PathLike | None = None) -> Dataset:
    """Load the Kaggle layout: header ``label,pixel0,...,pixel783`` (the label column optional).

    Raises:
        DatasetError: wrong header, a missing or non-numeric cell, or a pixel outside 0..255,
            naming the row (1 = first data row) and column.
    """
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path} not found")
    with open(path, newline="", encoding="utf-8", errors="replace") as f:  # bad bytes show up as U+FFFD in the named cell
        reader = csv.reader(f)
        header = next(reader, None)
        pixels = [f"pixel{i}" for i in range(IMAGE_SIZE * IMAGE_SIZE)]
        if header is None or header[-len(pixels):] != pixels or header[:-len(pixels)] not in ([], ["label"]):
            raise DatasetError(f"{path}: expected the Kaggle header 'label,pixel0,...,pixel783' (label optional), "
                               f"got {','.join((header or [])[:3])}... with {len(header or [])} columns")
    try:
        data = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.int64, ndmin=2)
    except ValueError as e:
        _raise_bad_csv_cell(path, header)
        raise DatasetError(f"{path}: cannot parse as integers ({e})") from e
    if data.shape[1] != len(header):
        _raise_bad_csv_cell(path, header)
        raise DatasetError(f"{path}: no data rows after the header")
    has_label = header[0] == "label"
    pix = data[:, 1:] if has_label else data
    bad = np.argwhere((pix < 0) | (pix > 255))
    if len(bad):
        r, c = bad[0]
        raise DatasetError(f"{path}: row {r + 1}, column 'pixel{c}': value {pix[r, c]} is outside 0..255")
    y = data[:, 0] if has_label else None
    cmap = _resolve_class_map(class_map, y)
    return Dataset(pix.astype(np.uint8).reshape(-1, IMAGE_SIZE, IMAGE_SIZE), y, cmap,
                   {"name": "csv", "files": [{"file": str(path.resolve()), "md5": md5sum(path)}]})


def _raise_bad_csv_cell(path: Path, header: list[str]) -> None:
    """Find the first malformed row or cell of a CSV (the slow path) and raise DatasetError naming it."""
    with open(path, newline="", encoding="utf-8", errors="replace") as f:  # bad bytes show up as U+FFFD in the named cell
        reader = csv.reader(f)
        next(reader)
        for r, row in enumerate(reader, start=1):
            if len(row) != len(header):
                raise DatasetError(f"{path}: row {r} has {len(row)} cells, expected {len(header)}")
            for c, cell in enumerate(row):
                if not cell.strip().lstrip("-").isdigit():
                    raise DatasetError(f"{path}: row {r}, column '{header[c]}': {cell!r} is not an integer")


def load_image_folder(root: str | os.PathLike, box: int = 20) -> Dataset:
    """Load a folder with one sub-folder per class, each holding image files.

    A sub-folder named by a character (``あ``) or a code point (``U+3042``) gives that character,
    any other name is used as the class name; class indices follow the names' code-point order. Images of
    any size or colour go through :func:`fude.preprocess.to_dataset_image`.

    Raises:
        DatasetError: no class folders, a class with no images, or an unreadable image.
    """
    from fude.preprocess import ImageError, load_image

    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: not a directory; expected a folder with one sub-folder per class")
    def class_name(folder: Path) -> str:
        name = folder.name
        try:
            return chr(int(name[2:], 16)) if name.upper().startswith("U+") else name
        except ValueError:
            return name

    # classes in code-point order of their names, however the folders are spelt
    classes = sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")), key=class_name)
    if not classes:
        raise DatasetError(f"{root}: no class sub-folders found; expected e.g. {root}/あ/001.png")
    images, labels, chars = [], [], []
    for label, folder in enumerate(classes):
        chars.append(class_name(folder))
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
        if not files:
            raise DatasetError(f"{folder}: class folder holds no images ({', '.join(sorted(IMAGE_EXTENSIONS))})")
        for file in files:
            try:
                images.append(_folder_image(load_image(file), box))
            except ImageError as e:
                raise DatasetError(str(e)) from e
            labels.append(label)
    return Dataset(np.stack(images), np.array(labels, dtype=np.int64), ClassMap(tuple(chars)),
                   {"name": "folder", "files": [{"file": str(root.resolve())}]})


def _folder_image(img, box: int) -> np.ndarray:
    from fude.preprocess import paper_is_light, to_dataset_image

    if img.size == (IMAGE_SIZE, IMAGE_SIZE) and img.mode == "L":
        x = np.asarray(img, dtype=np.uint8)
        return 255 - x if paper_is_light(x) else x.copy()
    return to_dataset_image(img, box=box)


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
