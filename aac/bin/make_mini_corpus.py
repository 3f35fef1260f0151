"""Generate the synthetic mini corpus in the Clotho v2.1 and AudioCaps v1 layouts.

Usage: aac-make-mini-corpus --output-dir downloads/mini --seed 0

Reads nothing. Writes under --output-dir:
  CLOTHO_v2.1/clotho_audio_files/{development,validation,evaluation}/*.wav (44.1 kHz),
  CLOTHO_v2.1/clotho_csv_files/clotho_captions_<split>.csv,
  AUDIOCAPS/audio_32000Hz/{train,val,test}/*.flac (32 kHz), AUDIOCAPS/csv_files_v1/<split>.csv,
  and .mini_corpus.done last. Same seed and options give byte-identical files; a complete
  corpus with the same options is left alone.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from aac.cli import run_main
from aac.mini.corpus import DEFAULT_CLIPS, MiniConf, make_corpus

log = logging.getLogger("aac.mini")


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aac-make-mini-corpus",
        description=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        required=True,
        help="corpus root (gets CLOTHO_v2.1/ and AUDIOCAPS/)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    defaults = " ".join(f"{k}={v}" for k, v in DEFAULT_CLIPS.items())
    parser.add_argument(
        "--num-clips",
        nargs="+",
        default=[],
        metavar="SET=N",
        help=f"clips per set, e.g. clotho_development=100 (defaults: {defaults})",
    )
    parser.add_argument("--min-dur", type=float, default=4.0, help="shortest clip, s (default: 4)")
    parser.add_argument("--max-dur", type=float, default=8.0, help="longest clip, s (default: 8)")
    parser.add_argument(
        "--corpora",
        nargs="+",
        choices=["clotho", "audiocaps"],
        default=["clotho", "audiocaps"],
        help="which layouts to write (default: both)",
    )
    return parser


def parse_num_clips(parser: argparse.ArgumentParser, items) -> dict:
    counts = dict(DEFAULT_CLIPS)
    for item in items:
        name, _, value = item.partition("=")
        if name not in DEFAULT_CLIPS or not value.isdigit():
            parser.error(
                f"--num-clips {item!r}: expected SET=N with SET one of {sorted(DEFAULT_CLIPS)}"
            )
        counts[name] = int(value)
    return counts


def _main(argv) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    parser = get_parser()
    args = parser.parse_args(argv)
    if not 1.0 <= args.min_dur <= args.max_dur:
        parser.error("need 1 <= --min-dur <= --max-dur")
    conf = MiniConf(
        seed=args.seed,
        num_clips=parse_num_clips(parser, args.num_clips),
        min_dur=args.min_dur,
        max_dur=args.max_dur,
        corpora=sorted(args.corpora),
    )
    start = time.time()
    written = make_corpus(args.output_dir, conf)
    if written:
        log.info("mini corpus written to %s in %.1f s", args.output_dir, time.time() - start)
    else:
        log.info(
            "mini corpus in %s is already complete (same options); nothing to do", args.output_dir
        )
    return 0


def main(argv=None) -> int:
    return run_main("aac-make-mini-corpus", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
