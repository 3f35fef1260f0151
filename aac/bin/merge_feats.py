"""Merge the HDF5 feature files of split extraction jobs into one.

Usage: aac-merge-feats --output dump/feats/beats_1a2b3c4d/clotho_development/feats.h5 dump/feats/beats_1a2b3c4d/clotho_development/feats.*.h5

Reads PART.h5 files (identical encoder attributes, each with the completeness mark of a
finished extraction, disjoint clip ids); writes FILE.h5 atomically (temporary name, then
rename) with the same completeness mark. Exit 2 with one line for an incomplete,
unmarked or mismatching part. Also `python -m aac.bin.merge_feats`.
"""

from __future__ import annotations

import argparse
import logging
import sys

from aac.cli import run_main
from aac.features import merge_feature_files

log = logging.getLogger("aac.merge_feats")


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="aac-merge-feats",
        description="Reads PART.h5 feature files of one encoder/set; writes their union to "
        "--output FILE.h5 (attributes must match, every part must be complete, clip ids must "
        "not repeat).",
    )
    p.add_argument("--output", required=True, help="merged FILE.h5")
    p.add_argument("parts", nargs="+", help="PART.h5 files from aac-extract-feats")
    return p


def _main(argv) -> int:
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    count = merge_feature_files(args.parts, args.output)  # checks every part first
    log.info("merged %d parts, %d clips -> %s", len(args.parts), count, args.output)
    return 0


def main(argv=None) -> int:
    return run_main("aac-merge-feats", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
