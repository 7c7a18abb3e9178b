"""The benchmark figures of the README and of docs/ (docs/benchmarks.md above all), written from the
results files the benchmarks wrote.

A page marks each quoted result with ``<!-- bench: NAME -->`` ... ``<!-- /bench -->``, NAME a
file ``bench/results/NAME.json``; this script rewrites what lies between the marks from the file
(the command, the machine and date, then the figures as a table), so no figure is copied by hand.

    .venv/bin/python bench/readme.py            # rewrite README.md and docs/*.md
    .venv/bin/python bench/readme.py --check    # exit 1 if a page differs from the files (a test runs this)
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import RESULTS, table  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"(<!-- bench: (?P<name>[\w.+-]+) -->\n)(?P<body>.*?)(<!-- /bench -->)", re.S)
META = ("benchmark", "command", "fude_version", "git_commit", "torch_version", "machine", "date", "rows")


def describe_machine(m: dict) -> str:
    gpu = f", {m['gpu']}" if m.get("gpu") else ", no GPU"
    precision = "bf16 instructions" if m.get("fast_bf16") else "no bf16 instructions (fp32)"
    return f"{m['cpu']}, {m['cores']} cores, {precision}, {m['memory_gib']} GiB{gpu}"


def render(doc: dict) -> str:
    """A result file as Markdown: its command, machine and date, then its rows and single figures."""
    summary = {k: v for k, v in doc.items() if k not in META and not isinstance(v, (dict, list))}
    commit = f" ({doc['git_commit'][:10]}{'+changes' if doc['git_commit'].endswith('+changes') else ''})" \
        if doc.get("git_commit") else ""
    lines = [f"`{doc['command']}` — {describe_machine(doc['machine'])}; fude {doc['fude_version']}{commit}, "
             f"torch {doc['torch_version']}, {doc['date'][:10]}", ""]
    if doc.get("rows"):
        lines.append(table(doc["rows"]))
        if summary:
            lines += ["", table([summary])]
    elif summary:
        lines.append(table([summary]))
    return "\n".join(lines) + "\n"


def rewrite(text: str) -> tuple[str, list[str]]:
    """``text`` with every bench block rendered from its file; and the names whose file is missing."""
    missing = []

    def block(m: re.Match) -> str:
        path = RESULTS / f"{m['name']}.json"
        if not path.exists():
            missing.append(m["name"])
            return m.group(0)
        return m.group(1) + render(json.loads(path.read_text())) + m.group(4)

    return BLOCK.sub(block, text), missing


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="only compare; exit 1 if a page is out of date")
    args = p.parse_args()
    failed = False
    for page in PAGES:
        name = page.relative_to(ROOT)
        text = page.read_text(encoding="utf-8")
        new, missing = rewrite(text)
        for m in missing:
            print(f"no results file bench/results/{m}.json for a block in {name}", file=sys.stderr)
        failed |= bool(missing)
        if args.check:
            stale = [m["name"] for m, n in zip(BLOCK.finditer(text), BLOCK.finditer(new)) if m.group(0) != n.group(0)]
            for b in stale:
                print(f"{name}'s block {b} differs from bench/results/{b}.json: run bench/readme.py", file=sys.stderr)
            failed |= bool(stale)
        elif new != text:
            page.write_text(new, encoding="utf-8")
            print(f"{len(BLOCK.findall(new))} blocks written to {name}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
