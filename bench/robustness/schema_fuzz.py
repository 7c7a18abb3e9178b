"""Fuzz the running server from its own OpenAPI schema with Schemathesis (https://schemathesis.io):
every operation, every documented body and parameter, generated and mutated by Hypothesis, checked
for 5xx answers and for requests that hang. Counts come from the HAR log of every exchange.

Schemathesis is a separate tool, kept out of fude's environment (it pins its own Hypothesis):

    python3 -m venv /tmp/st && /tmp/st/bin/pip install schemathesis
    .venv/bin/python bench/robustness/schema_fuzz.py --st /tmp/st/bin/st [--seconds 120]
"""

from __future__ import annotations

import argparse
import collections
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import save_results  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--st", default="st", help="the schemathesis command")
    p.add_argument("--seconds", type=int, default=120, help="time budget of the fuzzing run")
    p.add_argument("--models", default="ja,hiragana,hiragana-seq,kmnist")  # ja: lines and writers fuzzed too
    args = p.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tmp = Path(tempfile.mkdtemp())
    server = subprocess.Popen([sys.executable, "-m", "fude", "serve", "--port", str(port), "--models", args.models,
                               "--db", str(tmp / "samples.sqlite")], stdout=subprocess.DEVNULL,
                              stderr=open(tmp / "server.log", "w"))
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port)).close()
                break
            except OSError:
                time.sleep(0.1)
        t0 = time.perf_counter()
        run = subprocess.run([args.st, "run", f"http://127.0.0.1:{port}/openapi.json", "--checks", "not_a_server_error",
                              "--max-time", str(args.seconds), "--request-timeout", "10", "--workers", "1",
                              "--report", "har", "--report-har-path", str(tmp / "fuzz.har"), "--no-color"],
                             capture_output=True, text=True)
        seconds = time.perf_counter() - t0
    finally:
        server.terminate()
        server.wait(10)
    entries = json.loads((tmp / "fuzz.har").read_text())["log"]["entries"] if (tmp / "fuzz.har").exists() else []
    status = collections.Counter(e["response"]["status"] for e in entries)
    by_path = collections.Counter(f"{e['request']['method']} {e['request']['url'].split(str(port), 1)[-1].split('?')[0]}"
                                  for e in entries)
    server_errors = sum(n for s, n in status.items() if s >= 500)
    hangs = sum(n for s, n in status.items() if s == 0)  # no answer within the request timeout
    tracebacks = (tmp / "server.log").read_text().count("Traceback")
    print(run.stdout[-3000:])
    print(f"{len(entries):,} requests in {seconds:.0f} s: {dict(sorted(status.items()))}; 5xx {server_errors}, "
          f"hangs {hangs}, tracebacks in the server log {tracebacks}")
    rows = [{"operation": k, "requests": v} for k, v in sorted(by_path.items())]
    save_results("schema_fuzz", rows, requests=len(entries), server_errors=server_errors, hangs=hangs,
                 server_tracebacks=tracebacks, seconds=seconds, status=json.dumps(dict(sorted(status.items()))),
                 schemathesis_exit=run.returncode)


if __name__ == "__main__":
    main()
