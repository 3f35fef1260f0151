"""Merge the outputs of parallel `aac-decode --keys` jobs into one decode directory.

Usage: aac-merge-decodes --output-dir exp/clotho_ft/decode_beam4/clotho_evaluation exp/.../split1 exp/.../split2
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from aac.cli import run_main
from aac.decode import merge_decodes


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="aac-merge-decodes",
        description="Reads PART_DIR/{text,rtf.json} of every part; writes OUTPUT_DIR/text and "
        "OUTPUT_DIR/rtf.json with figures over all clips. A clip in two parts is an error.",
    )
    p.add_argument("--output-dir", required=True)
    p.add_argument("parts", nargs="+", metavar="PART_DIR")
    return p


def _main(argv) -> int:
    args = get_parser().parse_args(argv)
    n = merge_decodes(Path(args.output_dir), [Path(p) for p in args.parts])
    print(f"merged {len(args.parts)} parts, {n} clips -> {args.output_dir}")
    return 0


def main(argv=None) -> int:
    return run_main("aac-merge-decodes", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
