"""The local cache and mirror of dataset files, and their checksummed download.

Where files are looked for: the ``data_dir`` argument, else the ``FUDE_DATA_DIR`` environment
variable, else ``~/.cache/fude``; a dataset's files lie in ``<data_dir>/<dataset>/``. A file that
is there and has the right md5 is read without any network; a missing one is downloaded there
(unless ``download=False``), checked, and only then moved into place.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from fude.datasets.base import DatasetError
from fude.files import md5sum


@dataclass(frozen=True)
class RemoteFile:
    """One file of a named dataset: where to get it and how to check it.

    ``url``/``size``/``md5`` are ``None`` for files that exist only in a local mirror.
    """

    filename: str
    url: str | None = None
    size: int | None = None  # bytes
    md5: str | None = None


def default_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The directory datasets are read from and downloaded to.

    ``data_dir`` if given, else ``$FUDE_DATA_DIR``, else ``~/.cache/fude``.
    """
    if data_dir is not None:
        return Path(data_dir).expanduser()
    env = os.environ.get("FUDE_DATA_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "fude"


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
                tqdm(total=remote.size, unit="B", unit_scale=True, desc=remote.filename, leave=False,
                     disable=None) as bar:  # None: no bar when stderr is not a terminal
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
