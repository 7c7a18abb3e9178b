"""Shared fixtures: the real-data mirror (FUDE_DATA_DIR, default ../shared/data) and small real samples."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
MIRROR = Path(os.environ.get("FUDE_DATA_DIR", REPO.parent / "shared" / "data"))


# CI sets FUDE_REQUIRE_ALL=1 (.ci/run): a test that would skip for want of the data mirror, the
# browser, a font or a package fails instead, so a green run means every test ran. The one skip it
# keeps is a machine that another program keeps busy (tests/test_runtime.py): not fude's to fix.
REQUIRE_ALL = os.environ.get("FUDE_REQUIRE_ALL") == "1"
ALLOWED_SKIPS = ("kept this machine's cores busy",)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if REQUIRE_ALL and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        if not any(a in reason for a in ALLOWED_SKIPS):
            report.outcome = "failed"
            report.longrepr = f"skipped, and FUDE_REQUIRE_ALL=1 (CI) lets no test skip: {reason}"


@pytest.fixture(scope="session")
def mirror() -> Path:
    """The local data mirror with the real MNIST IDX and KMNIST dev npz files."""
    if not (MIRROR / "mnist" / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip(f"real-data mirror not found at {MIRROR}; set FUDE_DATA_DIR")
    return MIRROR


@pytest.fixture(scope="session")
def mnist_test(mirror):
    import fude

    return fude.load_dataset("mnist", "test", data_dir=mirror, download=False)


@pytest.fixture(scope="session")
def kmnist_dev(mirror):
    import fude

    return fude.load_dataset("kmnist", "dev", data_dir=mirror, download=False)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    """FastAPI's TestClient on ``fude serve``'s app with the hiragana and kmnist models and a fresh
    sample database (``client.db``), one per test module."""
    from fastapi.testclient import TestClient

    from fude.serve import create_app

    db = tmp_path_factory.mktemp("db") / "samples.sqlite"
    with TestClient(create_app("hiragana,kmnist", db)) as c:
        c.db = db
        yield c


@pytest.fixture()
def isolated_data_dir(tmp_path, monkeypatch) -> Path:
    """An empty data directory, with FUDE_DATA_DIR pointing at it."""
    d = tmp_path / "data"
    d.mkdir()
    monkeypatch.setenv("FUDE_DATA_DIR", str(d))
    return d


def write_idx(path: Path, array: np.ndarray, gz: bool = True) -> None:
    """Write an IDX file independently of fude's reader (big-endian header, uint8 data)."""
    import gzip

    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if gz else data)


def write_csv(path: Path, images: np.ndarray, labels: np.ndarray | None = None) -> None:
    """Write the Kaggle CSV layout (``label,pixel0..pixel783``, label optional) independently of fude."""
    cols = ([] if labels is None else ["label"]) + [f"pixel{i}" for i in range(784)]
    flat = images.reshape(len(images), -1).astype(int)
    rows = flat if labels is None else np.column_stack([labels, flat])
    path.write_text(",".join(cols) + "\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(db: Path, port: int, models: str = "kmnist", *options: str, seconds: float = 30) -> subprocess.Popen:
    """Start the real ``fude serve`` on ``port`` with ``models``, the sample database ``db`` and any
    other ``options``; returns once ``/health`` answers (the caller stops the process). A server
    that exits, or does not answer within ``seconds``, fails the test with the end of its stderr."""
    log = db.with_name(db.name + ".serve.log")
    with open(log, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "fude", "serve", "--port", str(port), "--models", models,
                                 "--db", str(db), *options], stdout=subprocess.DEVNULL, stderr=err,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    for _ in range(int(seconds * 10)):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
            return proc
        except OSError:
            if proc.poll() is not None:
                raise AssertionError(f"fude serve exited: {log.read_text()[-2000:]}") from None
            time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"fude serve did not start: {log.read_text()[-2000:]}")
