"""``fude datasets`` and ``fude synth``: the registered datasets, and training drawings generated
from KanjiVG strokes."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

COMMANDS = {  # sub-command: its line in `fude --help` (fude.cli.build_parser)
    "synth": "generate varied training drawings from KanjiVG strokes",
    "datasets": "list the registered datasets, or download one",
}
# fude synth's limits: what a training set can use, well under what a 24 GiB machine holds
MAX_SIZE = 256  # image pixels per side (a 256-pixel image is 64 KiB)
MAX_SEQUENCE = 4096  # points per drawing
MAX_PER_CHAR = 100_000  # drawings per character
MAX_BYTES = 8 * 2 ** 30  # the drawings of one run, in memory at once when they are joined


def register(sub) -> None:
    from fude.cli.args import int_in
    from fude.datasets.base import IMAGE_SIZE
    from fude.scripts import SCRIPT_FILTERS

    sy = sub.add_parser("synth", help=COMMANDS["synth"])
    sy.add_argument("--kanjivg", help="folder of KanjiVG SVGs (default: <data dir>/kanjivg/kanji, else "
                    "<data dir>/kanjivg_hiragana)")
    sy.add_argument("--data-dir", help="data directory (default: $FUDE_DATA_DIR or ~/.cache/fude)")
    sy.add_argument("--script", choices=[s for s in SCRIPT_FILTERS if s != "all"] + ["all"],
                    help="which characters: hiragana, katakana, kana, kanji, or all (every kana and kanji) (default: "
                    "hiragana; with --chars or --chars-file, all: every character listed)")
    sy.add_argument("--chars", help="only these characters, e.g. あいう (within --script; default: all of it)")
    sy.add_argument("--chars-file", help="only the characters in this UTF-8 text file")
    sy.add_argument("--no-variants", action="store_true", help="draw from the standard forms only, not the "
                    "variant files (-Kaisho handwriting forms and others)")
    sy.add_argument("--per-char", type=int_in(1, MAX_PER_CHAR), default=300, help="drawings per character (default: 300)")
    sy.add_argument("--kana-per-char", type=int_in(1, MAX_PER_CHAR), metavar="N", help="drawings per kana character (default: "
                    "--per-char); more than the kanji get helps a kanji-wide model read kana (え, not 之)")
    sy.add_argument("--seed", type=int, default=0, help="random seed; same seed, same drawings (default: 0)")
    sy.add_argument("--name", help="file name prefix (default: <script>-synth)")
    sy.add_argument("--size", type=int_in(8, MAX_SIZE), default=IMAGE_SIZE, help=f"image pixels per side, 8 to {MAX_SIZE} "
                    f"(default: {IMAGE_SIZE})")
    sy.add_argument("--sequences", type=int_in(0, MAX_SEQUENCE), default=0, metavar="T", help="write the drawings as point sequences of "
                    "T points (for the stroke-* sequence models) instead of images")
    sy.add_argument("--reorder", type=float, default=0.0, metavar="P", help="chance that a drawing's strokes come "
                    "in a random order (default: 0)")
    sy.add_argument("--reverse", type=float, default=0.0, metavar="P", help="chance that a stroke is drawn from its "
                    "end to its start (default: 0)")
    sy.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="another variation's strength "
                    "(fude.strokes.synth.SynthConfig), e.g. --set join=0.2; repeatable")
    sy.add_argument("--font", action="append", default=[], metavar="PATH", help="also images of the characters "
                    "in this handwriting font, thinned to a pen's width (fude.datasets.fonts; images only); repeatable")
    sy.add_argument("--per-font", type=int_in(1, 100), default=2, metavar="N", help="images of each character from each "
                    "--font (default: 2)")
    sy.add_argument("--workers", type=int_in(0, 256), default=0, help="processes drawing in parallel (default: one per "
                    "free core)")
    sy.add_argument("--out", required=True, help="output folder (drawn shards are kept in <out>/shards, so an "
                    "interrupted run continues where it stopped)")
    sy.set_defaults(func=cmd_synth)

    d = sub.add_parser("datasets", help=COMMANDS["datasets"])
    d.add_argument("action", nargs="?", default="list", choices=["list", "download"])
    d.add_argument("name", nargs="?", help="dataset to download")
    d.add_argument("--data-dir", help="dataset cache and local mirror (default: $FUDE_DATA_DIR or ~/.cache/fude)")
    d.set_defaults(func=cmd_datasets)


def synth_config(args: argparse.Namespace):
    """The :class:`~fude.strokes.synth.SynthConfig` of ``--reorder``, ``--reverse`` and ``--set``.

    Raises:
        ValueError: an unknown variation, a value that is not a number, or one out of its range
            (a chance above 1, a negative or non-finite strength: :class:`~fude.strokes.synth.SynthConfig`).
    """
    from fude.strokes.synth import SynthConfig

    values: dict = {"reorder": args.reorder, "reverse": args.reverse}
    for item in args.set:
        name, eq, value = item.partition("=")
        if not eq or name not in SynthConfig.names() or name == "width":
            raise ValueError(f"--set {item!r}: expected NAME=NUMBER with NAME one of "
                             f"{', '.join(n for n in SynthConfig.names() if n != 'width')}")
        try:
            values[name] = float(value)
        except ValueError:
            raise ValueError(f"--set {item!r}: {value!r} is not a number") from None
    return SynthConfig(**values)


def synth_script(args: argparse.Namespace) -> str:
    """The script ``fude synth`` draws: ``--script``, else every script when characters are listed
    (``--chars``, ``--chars-file``), else hiragana."""
    return args.script or ("all" if args.chars is not None or args.chars_file else "hiragana")


def synth_chars(args: argparse.Namespace) -> tuple[Path, dict]:
    """The KanjiVG folder and {character: templates} that ``fude synth`` draws.

    Raises:
        ValueError: characters asked for that the folder does not draw.
    """
    from fude.datasets import STROKE_SOURCES, default_data_dir
    from fude.scripts import allowed, script
    from fude.strokes.kanjivg import load_templates

    data = default_data_dir(args.data_dir)
    folder = Path(args.kanjivg) if args.kanjivg else next(
        (f for f in (data / STROKE_SOURCES[n].path for n in ("kanjivg", "kanjivg-hiragana")) if f.is_dir()),
        data / STROKE_SOURCES["kanjivg"].path)
    wanted = args.chars or ""
    if args.chars_file:
        wanted += Path(args.chars_file).read_text("utf-8")
    wanted = "".join(sorted(set(wanted) - set(" \t\r\n,"))) or None
    if (args.chars is not None or args.chars_file) and wanted is None:
        raise ValueError("--chars and --chars-file name no characters: give the characters to draw, e.g. --chars あいう")
    templates = load_templates(folder, chars=wanted, variants=not args.no_variants)
    if wanted:
        missing = [c for c in wanted if c not in templates]
        if missing:
            raise ValueError(f"no KanjiVG strokes in {folder} for {''.join(missing[:40])}")
    script_filter = synth_script(args)
    keep = allowed(list(templates), script_filter)  # kana and kanji only: --script all is every one of them
    chars = {c: templates[c] for c, k in zip(templates, keep) if k and script(c) in ("hiragana", "katakana", "kanji")}
    if not chars:
        raise ValueError(f"no {script_filter} characters to draw in {folder}" + (f" among {wanted}" if wanted else ""))
    return folder, chars


def cmd_synth(args: argparse.Namespace) -> int:
    from fude.classmap import ClassMap
    from fude.datasets import SEQUENCE_FEATURES, save_pair
    from fude.strokes.synth import synth_to_disk

    kana_n = args.kana_per_char
    if args.font and args.sequences:
        raise ValueError("--font gives images: it cannot be combined with --sequences")
    if args.font:
        from fude.datasets.fonts import font_chars

        for path in args.font:  # a bad font is refused before any drawing (a long run's first hour)
            font_chars(path)
    if args.name is not None and (not args.name or Path(args.name).name != args.name or args.name in (".", "..")):
        raise ValueError(f"--name {args.name!r}: give a file name prefix, not a path (the files go into --out)")
    cfg = synth_config(args)
    folder, chars = synth_chars(args)
    per_char = args.per_char
    if kana_n is not None:
        from fude.scripts import script

        per_char = {c: kana_n if script(c) in ("hiragana", "katakana") else args.per_char for c in chars}
    kind, size = ("sequence", args.sequences) if args.sequences else ("image", args.size)
    count = sum(per_char.values()) if isinstance(per_char, dict) else per_char * len(chars)
    size_bytes = count * (size * size if kind == "image" else size * SEQUENCE_FEATURES * 4)
    if size_bytes > MAX_BYTES:
        raise ValueError(f"{count:,} drawings of {size_bytes / 2 ** 30:.1f} GiB: more than fude synth writes at once "
                         f"({MAX_BYTES / 2 ** 30:.0f} GiB); draw fewer (--per-char), smaller (--size) or shorter "
                         "(--sequences), or split the characters into several runs")
    name = args.name or f"{synth_script(args)}-synth"
    t0 = time.perf_counter()

    def progress(done: int, total: int) -> None:
        if total > 1:
            print(f"\rshards {done}/{total}, {time.perf_counter() - t0:.0f} s", end="", file=sys.stderr, flush=True)
    data, labels = synth_to_disk(chars, per_char, args.out, seed=args.seed, kind=kind, size=size, cfg=cfg,
                                 workers=args.workers, progress=progress)
    print(file=sys.stderr)
    if args.font:
        data, labels = _with_fonts(args, data, labels, list(chars), size)
    option, arch = ("--sequences", " --arch stroke-conv1d") if args.sequences else ("--images", "")
    files, labs, cmap = save_pair(args.out, name, data, labels, ClassMap(tuple(chars)),
                                  kind="seqs" if args.sequences else "imgs")
    print(f"{len(data):,} drawings of {len(chars)} characters in {time.perf_counter() - t0:.1f} s, written to "
          f"{args.out}; train with: fude train {option} {files} --labels {labs} --classmap {cmap}{arch}")
    return 0


def cmd_datasets(args: argparse.Namespace) -> int:
    from fude.datasets import DATASETS, IMAGE_SOURCES, STROKE_SOURCES, default_data_dir, load_dataset, stroke_source

    if args.action == "download":
        if args.name in STROKE_SOURCES:
            print(f"{args.name}: {stroke_source(args.name, args.data_dir)}")
            return 0
        if args.name in IMAGE_SOURCES:
            raise ValueError(f"{args.name} is not published as one file to download: get "
                             f"{IMAGE_SOURCES[args.name].home} into <data dir>/{IMAGE_SOURCES[args.name].path}")
        if args.name not in DATASETS:
            raise ValueError(f"unknown dataset {args.name!r}; known: {', '.join([*DATASETS, *STROKE_SOURCES])}")
        spec = DATASETS[args.name]
        for split in spec.downloadable_splits():
            d = load_dataset(args.name, split, args.data_dir)
            print(f"{args.name} {split}: {len(d):,} images, verified, in {default_data_dir(args.data_dir)}")
        return 0
    width = max(len(name) for name in [*DATASETS, *STROKE_SOURCES, *IMAGE_SOURCES])
    for spec in DATASETS.values():
        print(f"{spec.name:{width}s}  {spec.description}; splits: {', '.join(spec.splits)}")
    for source in STROKE_SOURCES.values():  # characters as strokes: templates for fude synth, drawings to score
        print(f"{source.name:{width}s}  {source.description}; strokes, in <data dir>/{source.path}")
    for pictures in IMAGE_SOURCES.values():  # pictures to score reading on
        print(f"{pictures.name:{width}s}  {pictures.description}; pictures, in <data dir>/{pictures.path}")
    print(f"data directory: {default_data_dir(args.data_dir)}")
    return 0


def _with_fonts(args: argparse.Namespace, data, labels, chars: list[str], size: int):
    """``fude synth``'s drawings followed by the ``--font`` images of the same characters (drawn one font
    per process), with their labels; box and pen width as the drawings'."""
    from concurrent.futures import ProcessPoolExecutor
    from functools import partial

    import numpy as np

    from fude.cores import free_cores
    from fude.datasets.base import IMAGE_SIZE, INK_BOX

    draw = partial(_one_font, chars=chars, per_font=args.per_font, seed=args.seed, size=size,
                   box=INK_BOX * size / IMAGE_SIZE)
    workers = min(len(args.font), args.workers or max(1, int(free_cores())))
    with ProcessPoolExecutor(workers) as pool:
        parts = list(pool.map(draw, args.font)) if workers > 1 else list(map(draw, args.font))
    for path, (x, _) in zip(args.font, parts):
        print(f"{len(x):,} images from {path}", file=sys.stderr)
    return np.concatenate([data] + [x for x, _ in parts]), np.concatenate([labels] + [y for _, y in parts])


def _one_font(path: str, chars: list[str], per_font: int, seed: int, size: int, box: float):
    """The images of one ``--font`` (a worker process's unit)."""
    from fude.datasets.fonts import font_images

    return font_images([path], chars, per_font=per_font, seed=seed, size=size, box=box)
