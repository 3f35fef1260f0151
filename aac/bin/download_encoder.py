"""Download an official encoder checkpoint of the paper, resumably, and verify its hashes.

Usage: aac-download-encoder pann_cnn14_16k --dir downloads/encoders

Reads the table `aac.official_encoders` (`--list` prints it) and DIR/SHA256SUMS. Writes
DIR/<official file name> (through DIR/<file>.part, which a rerun resumes with HTTP Range;
renamed only after the MD5/SHA-256 match) and, for a file whose SHA-256 nobody publishes,
records that SHA-256 in DIR/SHA256SUMS at first download; later downloads and uses check
against it. On a file already in DIR it only verifies. `$AAC_ENCODER_MIRROR` (a base URL)
or `--url` replaces the official URL. Also `python -m aac.bin.download_encoder`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from aac.cli import run_main
from aac.config import ConfigError
from aac.official_encoders import MIRROR_ENV, OFFICIAL, download_urls, official_checkpoint
from aac.prep.encoder_weights import SUMS, fetch_checkpoint, read_sums


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="aac-download-encoder",
        description="Reads the official checkpoint table and DIR/SHA256SUMS. Writes "
        "DIR/<official file> (via DIR/<file>.part, resumed on rerun) and records first-seen "
        f"SHA-256s in DIR/{SUMS}.",
    )
    p.add_argument(
        "name",
        nargs="?",
        metavar="NAME",
        help=f"one of: {', '.join(OFFICIAL)} (or the official file name)",
    )
    p.add_argument(
        "--dir",
        default="downloads/encoders",
        type=Path,
        help="download directory (default: downloads/encoders)",
    )
    p.add_argument(
        "--url",
        action="append",
        default=[],
        help=f"download from this URL instead (repeatable; also ${MIRROR_ENV})",
    )
    p.add_argument("--list", action="store_true", help="print the table and exit")
    p.add_argument(
        "--print-path",
        action="store_true",
        help="print DIR/<official file> and exit (downloads nothing)",
    )
    return p


def table_lines(directory: Path) -> list:
    """The table as Markdown, with SHA-256s recorded in `directory` where the table has none."""
    recorded = read_sums(directory)
    lines = [
        "| name | encoder | file | rate | SHA-256 | MD5 | paper row | URL |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for e in OFFICIAL.values():
        sha = e.sha256 or (
            f"{recorded[e.filename]} (recorded in {directory / SUMS})"
            if e.filename in recorded
            else e.sha256_text
        )
        lines.append(
            f"| {e.name} | {e.encoder} | {e.filename} | {e.sample_rate} | {sha} | "
            f"{e.md5 or 'none published'} | {e.paper_row or '-'} | {e.urls[0]} |"
        )
    return lines


def _main(argv) -> int:
    # Steps: 1 parse; 2 --list / --print-path; 3 fetch or verify; 4 print the path.
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.list:
        print("\n".join(table_lines(args.dir)))
        return 0
    if not args.name:
        raise ConfigError("give NAME (see --list)")
    try:
        entry = official_checkpoint(args.name)
    except KeyError as e:
        raise ConfigError(e.args[0]) from None
    if args.print_path:
        print(args.dir / entry.filename)
        return 0
    urls = tuple(args.url) or download_urls(entry)
    path = fetch_checkpoint(entry, args.dir, urls, say=lambda m: print(m, file=sys.stderr))
    print(path)
    return 0


def main(argv=None) -> int:
    return run_main("aac-download-encoder", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
