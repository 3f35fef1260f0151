"""Collect scored experiments into the paper's two results tables (Markdown, to stdout).

    aac-results exp/bart_pann exp/bart_beats --set clotho_evaluation > RESULTS.md

Reads EXP_DIR/config.yaml (encoder block), EXP_DIR/env.yaml and
EXP_DIR/decode_*/<set>/{scores.json,rtf.json}. Writes Markdown to stdout: Table 1
(quality), Table 2 (speed), an environment block; `n/a` cells carry a footnote.
"""

from __future__ import annotations

import argparse
import sys

from aac.cli import run_main
from aac.metrics.results import collect, render_markdown


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="aac-results",
        description="Reads EXP_DIR/{config.yaml,env.yaml} and EXP_DIR/decode_*/<set>/"
        "{scores.json,rtf.json}. Writes the Markdown tables to stdout.",
    )
    p.add_argument("exp_dirs", nargs="+", metavar="EXP_DIR", help="experiment directories")
    p.add_argument("--set", dest="set_name", help="only this evaluation set (default: all found)")
    return p


def _main(argv) -> int:
    args = get_parser().parse_args(argv)
    rows = collect(args.exp_dirs, args.set_name)
    if not rows:
        print(
            f"aac-results: no decode_*/{args.set_name or '*'}/scores.json under "
            f"{' '.join(args.exp_dirs)}",
            file=sys.stderr,
        )
    sys.stdout.write(render_markdown(rows))
    return 0


def main(argv=None) -> int:
    return run_main("aac-results", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
