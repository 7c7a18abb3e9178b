"""Load on `/api/predict`: `fude serve` in one process, N concurrent clients (httpx, asyncio) in this
one, on loopback, posting the example drawing for a fixed time. Prints requests, errors, client-side
latency percentiles and the server-side `elapsed_ms` percentiles, and the server's RSS.

    FUDE_DATA_DIR=../shared/data .venv/bin/python bench/serve_load.py [--clients 32] [--seconds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np

from fude.strokes import read_drawing

REPO = Path(__file__).resolve().parents[1]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def client(url: str, body: dict, until: float, lat: list, server: list, errors: list) -> None:
    async with httpx.AsyncClient(timeout=10) as c:
        while time.perf_counter() < until:
            t0 = time.perf_counter()
            try:
                r = await c.post(url, json=body)
                if r.status_code != 200:
                    errors.append(r.status_code)
                    continue
                server.append(r.json()["elapsed_ms"])
                lat.append((time.perf_counter() - t0) * 1000)
            except httpx.HTTPError as e:
                errors.append(type(e).__name__)


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--port", type=int, default=8765)
    args = p.parse_args()
    d = read_drawing(REPO / "examples" / "strokes-あ.json")
    body = {"strokes": [s.tolist() for s in d.strokes], "canvas": d.canvas, "model": "hiragana"}
    proc = subprocess.Popen([sys.executable, "-m", "fude", "serve", "--port", str(args.port), "--models", "hiragana",
                             "--db", "/tmp/fude-bench-samples.sqlite"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{args.port}"
        for _ in range(200):
            try:
                if httpx.get(url + "/health").status_code == 200:
                    break
            except httpx.HTTPError:
                await asyncio.sleep(0.1)
        warm: list = []
        await client(url + "/api/predict", body, time.perf_counter() + 2, [], warm, [])
        rss_start = rss_mib(proc.pid)
        lat, server, errors = [], [], []
        until = time.perf_counter() + args.seconds
        await asyncio.gather(*[client(url + "/api/predict", body, until, lat, server, errors)
                               for _ in range(args.clients)])
        rss_end = rss_mib(proc.pid)
    finally:
        proc.terminate()
        proc.wait(10)
    pct = lambda a, q: float(np.percentile(a, q)) if a else float("nan")  # noqa: E731
    print(f"{args.clients} clients, {args.seconds:.0f} s: {len(lat):,} requests ({len(lat) / args.seconds:,.0f}/s), "
          f"{len(errors)} errors")
    print(f"client latency ms: p50 {pct(lat, 50):.1f}, p99 {pct(lat, 99):.1f}; server elapsed_ms: p50 "
          f"{pct(server, 50):.2f}, p99 {pct(server, 99):.2f}; server RSS {rss_start:.0f} -> {rss_end:.0f} MiB")


if __name__ == "__main__":
    asyncio.run(main())
