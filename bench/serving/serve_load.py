"""Load on `/api/predict`: `fude serve` in one process (its default models unless --models), N
concurrent clients (httpx, asyncio) in this one, on loopback, posting real drawings (Tomoe's
templates, each client its own sequence of them) to `ja` (or --model) for a fixed time. Prints
requests, errors, client-side latency percentiles, the server-side `elapsed_ms` percentiles, the
drawings per batch the server read them in (`/health`), and the server's RSS sampled every second
(after a warm-up: a soak test for leaks). `--clients` and `--workers` take comma-separated lists: one
row per pair, the server restarted for each.

Each client has one request in flight at a time. With ``--interval-ms 0`` (the default) it sends the
next as soon as the last is answered: a stress test that saturates the machine. With
``--interval-ms 500`` it sends a request every 250..750 ms (uniformly at random, with a random start),
as a person drawing on the page does: the page asks at the end of each stroke and after a 120 ms
pause of the pen, a few times for each character.

    FUDE_DATA_DIR=../shared/data .venv/bin/python bench/serving/serve_load.py [--clients 1,8,32] [--workers 1,2] \
        [--seconds 60] [--interval-ms 500] [--model ja] [--name serve_load-...]
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import save_results, table
from fude.strokes import load_tomoe

REPO = Path(__file__).resolve().parents[2]


def rss_mib(pid: int) -> float:
    """Resident memory of process ``pid`` and all its descendants (uvicorn's workers), MiB."""
    total = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            total += int(line.split()[1]) / 1024
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        total += rss_mib(int(child))
    return total


async def client(url: str, bodies: list[dict], until: float, lat: list, server: list, errors: list,
                 interval: float = 0.0) -> None:
    rng = np.random.default_rng()
    sent = int(rng.integers(len(bodies)))  # each client starts at its own drawing
    async with httpx.AsyncClient(timeout=10) as c:
        if interval:  # people do not start drawing in the same millisecond
            await asyncio.sleep(rng.uniform(0, interval))
        last = time.perf_counter()
        while time.perf_counter() < until:
            if interval:  # the next request 0.5..1.5 intervals after the last one was sent
                await asyncio.sleep(max(0.0, interval * rng.uniform(0.5, 1.5) - (time.perf_counter() - last)))
            t0 = last = time.perf_counter()
            try:
                r = await c.post(url, json=bodies[sent % len(bodies)])
                sent += 1
                if r.status_code != 200:
                    errors.append(r.status_code)
                    continue
                server.append(r.json()["elapsed_ms"])
                lat.append((time.perf_counter() - t0) * 1000)
            except httpx.HTTPError as e:
                errors.append(type(e).__name__)


async def run_load(args, workers: int, clients: int, bodies: list[dict]) -> dict:
    """One server with ``workers`` processes under ``clients`` clients: the row of figures."""
    cmd = [sys.executable, "-m", "fude", "serve", "--port", str(args.port), "--db", "/tmp/fude-bench-samples.sqlite",
           "--workers", str(workers), *(["--models", args.models] if args.models else [])]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{args.port}"
        for _ in range(600):
            try:
                if httpx.get(url + "/health").status_code == 200:
                    break
            except httpx.HTTPError:
                await asyncio.sleep(0.1)
        rss_idle = rss_mib(proc.pid)
        interval = args.interval_ms / 1000
        await asyncio.gather(*[client(url + "/api/predict", bodies, time.perf_counter() + args.warmup, [], [], [],
                                      interval) for _ in range(clients)])  # warm-up: caches, allocator pools, lazy imports
        before = httpx.get(url + "/health").json()["batches"].get(args.model, {})
        lat, server, errors, rss = [], [], [], []
        until = time.perf_counter() + args.seconds

        async def sample_rss() -> None:  # once a second
            while time.perf_counter() < until:
                rss.append(rss_mib(proc.pid))
                await asyncio.sleep(1)

        await asyncio.gather(sample_rss(), *[client(url + "/api/predict", bodies, until, lat, server, errors, interval)
                                             for _ in range(clients)])
        after = httpx.get(url + "/health").json()["batches"].get(args.model, {})
        rss_end = rss_mib(proc.pid)
    finally:
        proc.terminate()
        proc.wait(10)
    pct = lambda a, q: float(np.percentile(a, q)) if a else float("nan")  # noqa: E731
    # the batches of the one worker (with several, each /health answers from whichever worker took
    # it, so the counts before and after may be two workers': no figure then)
    drawings = after.get("drawings", 0) - before.get("drawings", 0) if workers == 1 else 0
    batches = after.get("batches", 0) - before.get("batches", 0) if workers == 1 else 0
    pace = f"one request every {args.interval_ms / 2:.0f}..{args.interval_ms * 1.5:.0f} ms each" if args.interval_ms \
        else "closed loop"
    print(f"--workers {workers}, {clients} clients ({pace}), {args.seconds:.0f} s after {args.warmup:.0f} s of warm-up: "
          f"{len(lat):,} requests ({len(lat) / args.seconds:,.0f}/s), {len(errors)} errors")
    print(f"  client latency ms: p50 {pct(lat, 50):.1f}, p99 {pct(lat, 99):.1f}; server elapsed_ms: p50 "
          f"{pct(server, 50):.2f}, p99 {pct(server, 99):.2f}; drawings per batch "
          f"{drawings / batches if batches > 0 else float('nan'):.2f}")
    half = len(rss) // 2
    print(f"  server RSS MiB: idle {rss_idle:.0f}, after warm-up {rss[0]:.1f}, max {max(rss):.1f}, end {rss_end:.1f}; "
          f"mean of the first half {np.mean(rss[:half]):.1f}, of the second half {np.mean(rss[half:]):.1f}")
    return {"workers": workers, "clients": clients, "requests": len(lat), "requests_per_s": len(lat) / args.seconds,
            "errors": len(errors), "client_p50_ms": pct(lat, 50), "client_p99_ms": pct(lat, 99),
            "server_p50_ms": pct(server, 50), "server_p99_ms": pct(server, 99),
            "drawings_per_batch": drawings / batches if batches > 0 else None, "rss_idle_mib": rss_idle,
            "rss_max_mib": max(rss), "rss_end_mib": rss_end}


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clients", default="32", help="comma-separated client counts")
    p.add_argument("--workers", default="1", help="comma-separated fude serve --workers")
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--models", help="fude serve --models (default: the server's own default)")
    p.add_argument("--model", default="ja", help="the model the requests name")
    p.add_argument("--interval-ms", type=float, default=0, help="mean time between a client's requests (0: closed loop)")
    p.add_argument("--warmup", type=float, default=10, help="seconds of load before RSS is first read")
    p.add_argument("--name", help="results file name (default: serve_load-workers<W>-interval<I>)")
    p.add_argument("--data-dir")
    args = p.parse_args()
    tomoe = load_tomoe(args.data_dir)
    bodies = [{"strokes": [s.tolist() for s in c.strokes], "model": args.model} for c in tomoe[::3]]
    rows = [await run_load(args, int(w), int(c), bodies) for w in args.workers.split(",") for c in args.clients.split(",")]
    print(table(rows))
    save_results(args.name or f"serve_load-workers{args.workers}-interval{args.interval_ms:g}", rows,
                 model=args.model, models=args.models or "default", seconds=args.seconds, warmup_s=args.warmup,
                 interval_ms=args.interval_ms, drawings=len(bodies))


if __name__ == "__main__":
    asyncio.run(main())
