"""Small file helpers: atomic writes, checksums, in-memory npz/npy bytes. Imports nothing of fude.

Every file fude writes goes through :func:`atomic_write`: a temporary file beside the target,
flushed to disk, then renamed over it, so a reader never sees a half-written file and a kill
mid-write leaves the previous file whole.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

import numpy as np


class InputFileError(OSError):
    """An input that is not a regular file (a pipe, a device, a folder) or is larger than fude reads."""


def read_input(path: str | os.PathLike, limit: int, what: str = "file") -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` bytes: a named pipe, a device
    (``/dev/zero``), a socket or a folder is refused before it is opened (reading one would wait
    forever or fill memory), and so is a file over ``limit``, checked as it is read.

    Raises:
        InputFileError: not a regular file, or over ``limit`` bytes (the message says which).
        OSError: missing or unreadable.
    """
    import stat

    path = Path(path)
    mode = os.stat(path).st_mode
    if not stat.S_ISREG(mode):
        kind = "a folder" if stat.S_ISDIR(mode) else "a named pipe" if stat.S_ISFIFO(mode) else \
            "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file"
        raise InputFileError(f"{path}: {kind}; expected a {what}")
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise InputFileError(f"{path}: over {limit // 2**20:,} MB; a {what} is smaller")
    return data


def atomic_write(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file (``.<name>.tmp<pid>``) and a rename; a
    missing folder is made.

    Raises:
        OSError: the folder cannot be made or written, or ``path`` is a folder.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def atomic_write_json(path: str | os.PathLike, obj, indent: int | None = 1) -> None:
    """``obj`` as UTF-8 JSON (characters kept, not escaped), written atomically."""
    atomic_write(path, json.dumps(obj, indent=indent, ensure_ascii=False).encode())


def md5sum(path: str | os.PathLike) -> str:
    """Hex md5 of a file's bytes (read in 16 MiB blocks: few returns to Python's lock, which reading
    and hashing let go of, so it runs beside other threads)."""
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 24), b""):
            h.update(block)
    return h.hexdigest()


def sha256sum(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes (read in 1 MiB blocks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def npz_bytes(**arrays: np.ndarray) -> bytes:
    """A compressed npz file's bytes (``np.savez_compressed``), for :func:`atomic_write`."""
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def npy_bytes(array: np.ndarray) -> bytes:
    """A ``.npy`` file's bytes (``np.save``), for :func:`atomic_write`."""
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()
