"""Merge the HDF5 feature files of split extraction jobs into one.

Usage: aac-merge-feats --output dump/feats/beats/clotho_development/feats.h5 dump/feats/beats/clotho_development/feats.*.h5

Reads PART.h5 files (identical encoder attributes, disjoint clip ids); writes FILE.h5
atomically (temporary name, then rename). Also `python -m aac.bin.merge_feats`.
"""

from __future__ import annotations

import argparse
import logging
import sys

from aac.features import FeatureCacheError, merge_feature_files

log = logging.getLogger("aac.merge_feats")


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Reads PART.h5 feature files of one encoder/set; writes their union to "
        "--output FILE.h5 (attributes must match, clip ids must not repeat).")
    p.add_argument("--output", required=True, help="merged FILE.h5")
    p.add_argument("parts", nargs="+", help="PART.h5 files from aac-extract-feats")
    return p


def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        count = merge_feature_files(args.parts, args.output)
    except FeatureCacheError as e:
        log.error("%s", e)
        return 1
    log.info("merged %d parts, %d clips -> %s", len(args.parts), count, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
