"""Stage 1: corpus CSVs + audio folders -> Kaldi-style data directories.

Usage: aac-prep-data --corpus clotho --root /data/corpora --output-dir data [--download]

Reads (aac-datasets layout under --root):
  clotho:    CLOTHO_v2.1/clotho_audio_files/<split>/*.wav,
             CLOTHO_v2.1/clotho_csv_files/clotho_captions_<split>.csv
  audiocaps: AUDIOCAPS/audio_32000Hz/<split>/<youtube_id>_<start_time>.flac,
             AUDIOCAPS/csv_files_v1/<split>.csv
Writes data/<corpus>_<split>/{wav.scp,utt2dur,text_spk1..5} for every split, plus `text`
(one line per caption, `<clip_id>#<k>`) for the training split. Rows with missing or
unreadable audio, audio that is not a regular file (a FIFO) and malformed CSV rows are
skipped with a count; a missing CSV is an error, and so is an audio file name that wav.scp
would read as a pipe (`... |`) or an `ark:offset` spec (it is named; nothing runs).

Usage: aac-prep-data --utt2dur-for data/myset
(re)writes utt2dur for an existing wav.scp (paths, `... |` pipes, `file.ark:offset`).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from aac.cli import run_main
from aac.prep import CORPORA, PrepError, write_data_dir, write_utt2dur

log = logging.getLogger("aac.prep")


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aac-prep-data",
        description=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--corpus", choices=sorted(CORPORA), help="corpus to prepare")
    parser.add_argument("--root", type=Path, help="folder that contains CLOTHO_v2.1/ or AUDIOCAPS/")
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=Path("data"),
        help="where the data/<corpus>_<split>/ folders go (default: data)",
    )
    parser.add_argument(
        "--splits", nargs="+", default=None, help="subset of the corpus splits (default: all)"
    )
    parser.add_argument(
        "--download",
        action="store_true",
        help="download splits missing under --root (Clotho: Zenodo with MD5 "
        "checks; AudioCaps: aac-datasets)",
    )
    parser.add_argument(
        "--verify-audio",
        action="store_true",
        help="decode every file (finds NaN and truncated audio) instead of reading headers only",
    )
    parser.add_argument(
        "--utt2dur-for",
        type=Path,
        metavar="DATA_DIR",
        help="only (re)write DATA_DIR/utt2dur from DATA_DIR/wav.scp",
    )
    return parser


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.utt2dur_for is not None:
        return
    if args.corpus is None or args.root is None:
        parser.error("--corpus and --root are required (unless --utt2dur-for is given)")
    module = CORPORA[args.corpus]
    unknown = [s for s in args.splits or () if s not in module.SPLITS]
    if unknown:
        parser.error(f"unknown {args.corpus} split(s) {unknown}; known: {list(module.SPLITS)}")


def fetch_missing(corpus: str, root: Path, splits) -> None:
    """Download the splits whose CSV or audio folder is missing under `root`."""
    from aac.prep import download

    module = CORPORA[corpus]
    for split in splits:
        if module.is_present(root, split):
            log.info("%s %s: already present under %s", corpus, split, root)
        elif corpus == "clotho":
            download.download_clotho(root, split)
        else:
            download.download_audiocaps(root, split)


def prepare(corpus: str, root: Path, output_dir: Path, splits, verify: bool) -> None:
    module = CORPORA[corpus]
    for split in splits:
        out = output_dir / module.set_name(split)
        log.info("%s %s: %s -> %s", corpus, split, root, out)
        if not module.is_present(root, split):
            raise PrepError(
                f"{corpus} {split} not found under {root}: expected {module.captions_csv(root, split)} "
                f"and audio in {module.audio_dir(root, split)}; place the corpus there or "
                "rerun with --download"
            )
        clips = module.read_split(root, split)
        write_data_dir(out, clips, with_text=split in module.TRAIN_SPLITS, verify=verify)


def _main(argv) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    parser = get_parser()
    args = parser.parse_args(argv)
    check_args(parser, args)
    if args.utt2dur_for is not None:
        write_utt2dur(args.utt2dur_for, verify=args.verify_audio)
        return 0
    splits = args.splits or CORPORA[args.corpus].SPLITS
    root = args.root.resolve()
    if args.download:
        fetch_missing(args.corpus, root, splits)
    prepare(args.corpus, root, args.output_dir, splits, args.verify_audio)
    return 0


def main(argv=None) -> int:
    return run_main("aac-prep-data", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
