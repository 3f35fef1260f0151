"""Download an official encoder checkpoint of the paper, resumably, and verify its hashes.

Usage: aac-download-encoder pann_cnn14_16k --dir downloads/encoders

Reads the table `aac.official_encoders` (`--list` prints it, with each pin's source) and
DIR/SHA256SUMS. Tries the official URL, then the mirrors, in order; each transfer goes to
DIR/<file>.part (resumed with HTTP Range on a rerun) and is renamed to DIR/<official file
name> only once it is a PyTorch checkpoint matching the table's pin (size, SHA-256, MD5);
a URL serving other bytes (an HTML page, another file) is refused and the next one tried.
Writes the file's SHA-256 to DIR/SHA256SUMS; for a file without a SHA-256 pin that record,
made at first download, is what later uses check, reported as unverified. On a file
already in DIR it only verifies. `--accept-sha256 SHA256` accepts a file you have checked
yourself that fails its pin (that file only, those bytes only; recorded in SHA256SUMS).
`$AAC_ENCODER_MIRROR` (a base URL) or `--url` replaces the URL list. Also
`python -m aac.bin.download_encoder`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from aac.cli import run_main
from aac.config import ConfigError
from aac.official_encoders import (
    MIRROR_ENV,
    OFFICIAL,
    UNVERIFIED,
    download_urls,
    official_checkpoint,
)
from aac.prep.encoder_weights import SHA256_RE, SUMS, fetch_checkpoint, read_sums


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="aac-download-encoder",
        description="Reads the official checkpoint table (pins, URLs, mirrors) and "
        f"DIR/{SUMS}. Writes DIR/<official file> (via DIR/<file>.part, resumed on rerun, "
        f"renamed only when it matches its pin) and its SHA-256 in DIR/{SUMS}.",
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
    p.add_argument(
        "--accept-sha256",
        metavar="SHA256",
        help="accept NAME's file with exactly this SHA-256 although it fails the table's pin "
        "(for a file you have checked yourself; recorded in DIR/SHA256SUMS)",
    )
    p.add_argument("--list", action="store_true", help="print the table and exit")
    p.add_argument(
        "--print-path",
        action="store_true",
        help="print DIR/<official file> and exit (downloads nothing)",
    )
    return p


def table_lines(directory: Path) -> list:
    """The table as Markdown: pins with their sources, URLs in the order tried, and the
    SHA-256s recorded in `directory` for files without a SHA-256 pin."""
    recorded = read_sums(directory)
    lines = [
        "| name | encoder | file | rate | pinned | pin source | recorded SHA-256 | paper row "
        "| URLs, in order |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for e in OFFICIAL.values():
        pin = [f"SHA-256 {e.pin.sha256}"] if e.pin.sha256 else []
        pin += [f"MD5 {e.pin.md5}"] if e.pin.md5 else []
        pin += [f"{e.pin.size} bytes"] if e.pin.size else []
        rec = recorded.get(e.filename)
        if rec is None or (e.pin.sha256 and not rec.accepted):
            rec_text = "-"
        else:
            rec_text = (
                f"{rec.sha256} ({'accepted with --accept-sha256' if rec.accepted else UNVERIFIED})"
            )
        urls = [f"{i}. {u}" for i, u in enumerate(e.all_urls, 1)]
        urls += [f"by hand: {e.by_hand}"] if e.by_hand else []
        lines.append(
            f"| {e.name} | {e.encoder} | {e.filename} | {e.sample_rate} | "
            f"{', '.join(pin) or 'none'} | {e.pin.source or '-'} | {rec_text} | "
            f"{e.paper_row or '-'} | {' '.join(urls)} |"
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
    accept = (args.accept_sha256 or "").lower() or None
    if accept and not SHA256_RE.fullmatch(accept):
        raise ConfigError(f"--accept-sha256 {args.accept_sha256!r}: not 64 hex digits")
    urls = tuple(args.url) or download_urls(entry)
    say = lambda m: print(m, file=sys.stderr)  # noqa: E731
    path = fetch_checkpoint(entry, args.dir, urls, say=say, accept_sha256=accept)
    print(path)
    return 0


def main(argv=None) -> int:
    return run_main("aac-download-encoder", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
