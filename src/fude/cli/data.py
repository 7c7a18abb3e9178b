"""``fude datasets`` and ``fude synth``: the registered datasets, and training drawings generated
from KanjiVG strokes."""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def register(sub) -> None:
    sy = sub.add_parser("synth", help="generate varied training drawings from KanjiVG strokes")
    sy.add_argument("--kanjivg", help="folder of KanjiVG SVGs (default: <data dir>/kanjivg_hiragana)")
    sy.add_argument("--data-dir", help="data directory (default: $FUDE_DATA_DIR or ~/.cache/fude)")
    sy.add_argument("--chars", help="only these characters, e.g. あいう (default: every file)")
    sy.add_argument("--per-char", type=int, default=300, help="drawings per character (default: 300)")
    sy.add_argument("--seed", type=int, default=0, help="random seed; same seed, same drawings (default: 0)")
    sy.add_argument("--name", default="hiragana-synth", help="file name prefix (default: hiragana-synth)")
    sy.add_argument("--sequences", type=int, default=0, metavar="T", help="write the drawings as point sequences of "
                    "T points (for the stroke-* sequence models) instead of images")
    sy.add_argument("--reorder", type=float, default=0.0, metavar="P", help="chance that a drawing's strokes come "
                    "in a random order (default: 0)")
    sy.add_argument("--reverse", type=float, default=0.0, metavar="P", help="chance that a stroke is drawn from its "
                    "end to its start (default: 0)")
    sy.add_argument("--out", required=True, help="output folder")
    sy.set_defaults(func=cmd_synth)

    d = sub.add_parser("datasets", help="list the registered datasets, or download one")
    d.add_argument("action", nargs="?", default="list", choices=["list", "download"])
    d.add_argument("name", nargs="?", help="dataset to download")
    d.add_argument("--data-dir", help="dataset cache and local mirror (default: $FUDE_DATA_DIR or ~/.cache/fude)")
    d.set_defaults(func=cmd_datasets)


def cmd_synth(args: argparse.Namespace) -> int:
    from fude.classmap import ClassMap
    from fude.datasets import default_data_dir, save_pair
    from fude.strokes.kanjivg import load_kanjivg
    from fude.strokes.synth import SynthConfig, synth_images, synth_sequences

    folder = Path(args.kanjivg) if args.kanjivg else default_data_dir(args.data_dir) / "kanjivg_hiragana"
    chars = load_kanjivg(str(folder))
    if args.chars:
        missing = [c for c in args.chars if c not in chars]
        if missing:
            raise ValueError(f"no KanjiVG strokes in {folder} for {''.join(missing)}")
        chars = {c: chars[c] for c in sorted(set(args.chars))}
    t0 = time.perf_counter()
    cfg = SynthConfig(reorder=args.reorder, reverse=args.reverse)
    if args.sequences:
        data, labels = synth_sequences(chars, args.per_char, seed=args.seed, length=args.sequences, cfg=cfg)
        kind, option, arch = "seqs", "--sequences", " --arch stroke-conv1d"
    else:
        data, labels = synth_images(chars, args.per_char, seed=args.seed, cfg=cfg)
        kind, option, arch = "imgs", "--images", ""
    files, labs, cmap = save_pair(args.out, args.name, data, labels, ClassMap(tuple(chars)), kind=kind)
    print(f"{len(data):,} drawings of {len(chars)} characters in {time.perf_counter() - t0:.1f} s, written to "
          f"{args.out}; train with: fude train {option} {files} --labels {labs} --classmap {cmap}{arch}")
    return 0


def cmd_datasets(args: argparse.Namespace) -> int:
    from fude.datasets import DATASETS, default_data_dir, load_dataset

    if args.action == "download":
        if args.name not in DATASETS:
            raise ValueError(f"unknown dataset {args.name!r}; known: {', '.join(DATASETS)}")
        spec = DATASETS[args.name]
        for split in spec.downloadable_splits():
            d = load_dataset(args.name, split, args.data_dir)
            print(f"{args.name} {split}: {len(d):,} images, verified, in {default_data_dir(args.data_dir)}")
        return 0
    for spec in DATASETS.values():
        print(f"{spec.name:8s} {spec.description}; splits: {', '.join(spec.splits)}")
    print(f"data directory: {default_data_dir(args.data_dir)}")
    return 0
