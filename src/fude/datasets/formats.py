"""Dataset file formats: official npz (key ``arr_0``), IDX (MNIST's, gzipped or raw), the Kaggle
CSV (``label,pixel0..pixel783``) and folders of images (one sub-folder per class); readers check
shapes, dtypes and ranges and say what is wrong, naming the file.
"""

from __future__ import annotations

import csv
import gzip
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

from fude.classmap import ClassMap
from fude.datasets.base import IMAGE_SIZE, INK_BOX, Dataset, DatasetError, SequenceDataset
from fude.files import atomic_write, md5sum, npz_bytes

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm"}


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
        data = path.read_bytes()
        if data[:2] == b"\x1f\x8b":  # gzip: in one call, for which zlib lets go of Python's lock
            data = gzip.decompress(data)  # (fude.cli.args.prefetch reads beside PyTorch's import)
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
    """Check and convert an image array to uint8 ``(N, S, S)``: square images of any size S >= 8
    (28 for the standard datasets).

    Accepts ``(N, S, S)``, ``(N, 1, S, S)`` and, for 28-pixel images, ``(N, 784)``; integer values
    must be in 0..255. Raises :class:`DatasetError` otherwise.
    """
    if array.ndim == 2 and array.shape[1] == IMAGE_SIZE * IMAGE_SIZE:
        array = array.reshape(-1, IMAGE_SIZE, IMAGE_SIZE)
    if array.ndim == 4 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 3 or array.shape[1] != array.shape[2] or array.shape[1] < 8:
        raise DatasetError(f"{what}: images must be square, shape (N, S, S) with S >= 8 (e.g. (N, {IMAGE_SIZE}, "
                           f"{IMAGE_SIZE})) or (N, {IMAGE_SIZE ** 2}), got {array.shape}")
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
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = (folder / f"{name}-{kind}.npz", folder / f"{name}-labels.npz", folder / f"{name}_classmap.csv")
    for path, arr in zip(paths, (images, labels)):
        atomic_write(path, npz_bytes(arr_0=arr))
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
    cmap = resolve_class_map(class_map, y)
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
    cmap = resolve_class_map(class_map, y)
    return SequenceDataset(x, y, cmap, {"name": str(sequences), "files": file_records(sequences, labels)})


def file_records(*paths: str | os.PathLike | None) -> list[dict]:
    """``[{"file": absolute path, "md5": ...}]`` for each path given (``None`` skipped): a data source."""
    return [{"file": str(Path(p).resolve()), "md5": md5sum(Path(p))} for p in paths if p is not None]


def resolve_class_map(class_map, labels: np.ndarray | None) -> ClassMap:
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
        try:
            header = next(reader, None)
        except csv.Error as e:  # a field over the csv module's limit (131,072 characters), a NUL byte, ...
            raise DatasetError(f"{path}: not a readable CSV ({e})") from None
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
    cmap = resolve_class_map(class_map, y)
    return Dataset(pix.astype(np.uint8).reshape(-1, IMAGE_SIZE, IMAGE_SIZE), y, cmap,
                   {"name": "csv", "files": [{"file": str(path.resolve()), "md5": md5sum(path)}]})


def _raise_bad_csv_cell(path: Path, header: list[str]) -> None:
    """Find the first malformed row or cell of a CSV (the slow path) and raise DatasetError naming it."""
    with open(path, newline="", encoding="utf-8", errors="replace") as f:  # bad bytes show up as U+FFFD in the named cell
        reader = csv.reader(f)
        next(reader)
        r = 0
        try:
            for r, row in enumerate(reader, start=1):
                if len(row) != len(header):
                    raise DatasetError(f"{path}: row {r} has {len(row)} cells, expected {len(header)}")
                for c, cell in enumerate(row):
                    if not cell.strip().lstrip("-").isdigit():
                        raise DatasetError(f"{path}: row {r}, column '{header[c]}': {cell[:40]!r} is not an integer")
        except csv.Error as e:
            raise DatasetError(f"{path}: row {r + 1} is not readable CSV ({e})") from None


def load_image_folder(root: str | os.PathLike, box: int = INK_BOX) -> Dataset:
    """Load a folder with one sub-folder per class, each holding image files.

    A sub-folder named by a character (``あ``) or a code point (``U+3042``) gives that character,
    any other name is used as the class name; class indices follow the names' code-point order. Images of
    any size or colour go through :func:`fude.datasets.preprocess.to_dataset_image`.

    Raises:
        DatasetError: no class folders, a class with no images, or an unreadable image.
    """
    from fude.datasets.preprocess import ImageError, load_image

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
    from fude.datasets.preprocess import paper_is_light, to_dataset_image

    if img.size == (IMAGE_SIZE, IMAGE_SIZE) and img.mode == "L":
        x = np.asarray(img, dtype=np.uint8)
        return 255 - x if paper_is_light(x) else x.copy()
    return to_dataset_image(img, box=box)
