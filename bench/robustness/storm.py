"""One hostile client against everyone else: `fude serve` (ja) on loopback, one client posting the
costliest requests it can, back to back, while a normal client posts real drawings (Tomoe's) one at a
time and a watcher asks `/health` every 50 ms. Per storm: the normal drawing's and `/health`'s p50,
p99 and max latency, the hostile requests' answers, and the server's RSS before, at its peak and
after (once the storm has passed). The storms:

- ``line``: a line of 256 two-point strokes piled in one column (every run of strokes a candidate
  before the line budget): `/api/predict-line`;
- ``drawing``: 50 strokes x 400 points (the 20,000-point limit), `/api/predict`;
- ``body``: 5 MB of `"k":1,` repeated (no brackets: it passed the bracket count), `/api/predict`;
- ``duplicate``: a drawing whose keys are given twice, `/api/predict`.

    FUDE_DATA_DIR=../shared/data .venv/bin/python bench/robustness/storm.py [--seconds 20]
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import save_results, table

from fude.strokes import load_tomoe

REPO = Path(__file__).resolve().parents[2]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def post(url: str, body: bytes, timeout: float = 60) -> tuple[int, float]:
    """(status, seconds) of one POST of JSON ``body``."""
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            r.read()
            status = r.status
    except urllib.error.HTTPError as e:
        status = e.code
    except OSError:
        status = 0
    return status, time.perf_counter() - t0


def storms() -> dict[str, tuple[str, bytes]]:
    rng = np.random.default_rng(0)
    column = [[[0.0, i * 0.01], [0.0, 1.0 + i * 0.01]] for i in range(256)]
    t = np.linspace(0, 1, 400)
    big = [np.column_stack([50 + 40 * np.cos(6 * t + s) + rng.normal(0, 0.5, 400),
                            50 + 40 * np.sin(5 * t + s) + rng.normal(0, 0.5, 400)]).round(2).tolist() for s in range(50)]
    return {
        "line": ("/api/predict-line", json.dumps({"strokes": column, "model": "ja"}).encode()),
        "drawing": ("/api/predict", json.dumps({"strokes": big, "model": "ja"}).encode()),
        "body": ("/api/predict", b"{" + b'"k":1,' * 870_000 + b'"strokes":[[[0,0]]]}'),
        "duplicate": ("/api/predict", b'{"strokes": [[[0,0],[9,9]]], "model": "ja", "model": "kmnist"}'),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=20, help="each storm's length")
    args = ap.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    db = Path("/tmp/fude-bench-storm.sqlite")
    proc = subprocess.Popen([sys.executable, "-m", "fude", "serve", "--port", str(port), "--models", "ja",
                             "--db", str(db)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(url + "/health", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        normal = [json.dumps({"strokes": [s.tolist() for s in c.strokes], "model": "ja", "canvas": c.canvas}).encode()
                  for c in load_tomoe()[:200]]
        for body in normal[:20]:
            post(url + "/api/predict", body)  # warm
        rows = []
        for name, (path, body) in storms().items():
            start_rss = rss_mib(proc.pid)
            stop = time.perf_counter() + args.seconds
            drawing_lat, health_lat, hostile, peak = [], [], {}, [start_rss]

            def storm():
                while time.perf_counter() < stop:
                    status, _ = post(url + path, body)
                    hostile[status] = hostile.get(status, 0) + 1

            def person():
                i = 0
                while time.perf_counter() < stop:
                    drawing_lat.append(post(url + "/api/predict", normal[i % len(normal)])[1])
                    i += 1

            def watcher():
                while time.perf_counter() < stop:
                    t0 = time.perf_counter()
                    try:
                        urllib.request.urlopen(url + "/health", timeout=30).read()
                    except OSError:
                        pass
                    health_lat.append(time.perf_counter() - t0)
                    peak.append(rss_mib(proc.pid))
                    time.sleep(0.05)

            threads = [threading.Thread(target=f) for f in (storm, person, watcher)]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            time.sleep(3)  # the storm has passed
            ms = lambda v, q: round(1000 * float(np.percentile(v, q)), 1)  # noqa: E731
            rows.append({"storm": name, "hostile_answers": json.dumps(hostile), "drawings": len(drawing_lat),
                         "drawing_p50_ms": ms(drawing_lat, 50), "drawing_p99_ms": ms(drawing_lat, 99),
                         "drawing_max_ms": ms(drawing_lat, 100), "health_p50_ms": ms(health_lat, 50),
                         "health_p99_ms": ms(health_lat, 99), "health_max_ms": ms(health_lat, 100),
                         "rss_start_mib": round(start_rss), "rss_peak_mib": round(max(peak)),
                         "rss_after_mib": round(rss_mib(proc.pid))})
            print(rows[-1], flush=True)
        print(table(rows))
        save_results("storm", rows, seconds=args.seconds)
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
