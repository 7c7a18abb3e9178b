"""Time from the pen lifting to the guesses on screen, in headless Chromium on the real drawing page.

Starts `fude serve`, opens the page in Debian's Chromium with Playwright, draws the example
characters again and again — with the mouse on a desktop screen (1280x800), or with a finger (touch
events through Chromium's DevTools protocol) on a phone's (390x844, touch, 3x pixels) — and
measures in the page, for every stroke, the time from its ``pointerup`` (the last pointer event)
to the first animation frame after the guess list was replaced (the guesses painted). Prints
percentiles in milliseconds.

    FUDE_DATA_DIR=../shared/data .venv/bin/python bench/serving/page_latency.py [--rounds 20] [--model ja] [--screen phone]
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import save_results  # noqa: E402
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
PROBE = """() => {
  window.__latency = []; let up = 0;
  document.getElementById("pad").addEventListener("pointerup", () => { up = performance.now(); }, true);
  new MutationObserver(() => {
    if (!up) return;
    const t0 = up; up = 0;
    requestAnimationFrame(() => window.__latency.push(performance.now() - t0));
  }).observe(document.getElementById("guesses"), {childList: true});
}"""


SCREENS = {"desktop": {"viewport": {"width": 1280, "height": 800}},
           "phone": {"viewport": {"width": 390, "height": 844}, "has_touch": True, "is_mobile": True,
                     "device_scale_factor": 3}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=20, help="times each example character is drawn")
    p.add_argument("--chromium", default="/usr/bin/chromium")
    p.add_argument("--model", default="hiragana", help="the one model served (the page reads with it)")
    p.add_argument("--screen", choices=list(SCREENS), default="desktop", help="desktop: mouse; phone: finger")
    args = p.parse_args()
    from playwright.sync_api import sync_playwright

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    db = Path(tempfile.mkdtemp()) / "samples.sqlite"
    server = subprocess.Popen([sys.executable, "-m", "fude", "serve", "--port", str(port), "--models", args.model,
                               "--db", str(db)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    drawings = [json.loads(f.read_text()) for f in sorted((REPO / "examples").glob("strokes-*.json"))
                if "app-layout" not in f.name]
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=args.chromium, headless=True, args=CHROMIUM_ARGS)
            context = browser.new_context(**SCREENS[args.screen])
            page = context.new_page()
            page.goto(f"http://127.0.0.1:{port}/")
            page.evaluate(PROBE)
            box = page.locator("#pad").bounding_box()
            cdp = context.new_cdp_session(page) if args.screen == "phone" else None
            strokes = 0
            for _ in range(args.rounds):
                for doc in drawings:
                    sx, sy = box["width"] / doc["canvas"]["width"], box["height"] / doc["canvas"]["height"]
                    for stroke in doc["strokes"]:
                        points = [(box["x"] + x * sx, box["y"] + y * sy) for x, y in stroke]
                        if cdp is None:
                            page.mouse.move(*points[0])
                            page.mouse.down()
                            for x, y in points[1:]:
                                page.mouse.move(x, y)
                            page.mouse.up()
                        else:
                            for k, (x, y) in enumerate(points):
                                cdp.send("Input.dispatchTouchEvent", {"type": "touchMove" if k else "touchStart",
                                                                      "touchPoints": [{"x": x, "y": y}]})
                            cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
                        strokes += 1
                        while page.evaluate("window.__latency.length") < strokes:  # (no wait_for_function:
                            time.sleep(0.001)  # the page's CSP forbids the eval it runs)
                    page.locator("#clear").click()
            latency = np.array(page.evaluate("window.__latency"))
            version = browser.version
            browser.close()
    finally:
        server.terminate()
        server.wait(10)
    print(f"Chromium {version}, headless, {args.screen}; {len(latency)} strokes ({len(drawings)} characters x "
          f"{args.rounds})")
    print(f"pen up -> guesses painted, ms: p50 {np.percentile(latency, 50):.1f}, p90 {np.percentile(latency, 90):.1f}, "
          f"p99 {np.percentile(latency, 99):.1f}, max {latency.max():.1f}")
    name = "page_latency" + ("" if args.model == "hiragana" else f"-{args.model}") + \
        ("" if args.screen == "desktop" else f"-{args.screen}")
    save_results(name, None, chromium=version, screen=args.screen, strokes=len(latency), rounds=args.rounds,
                 model=args.model,
                 **{f"p{q}_ms": float(np.percentile(latency, q)) for q in (50, 90, 99)}, max_ms=float(latency.max()))


if __name__ == "__main__":
    main()
