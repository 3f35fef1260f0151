"""Collect scored experiments into the paper's two results tables (Markdown, to stdout).

    aac-results exp/bart_pann exp/bart_beats --set clotho_evaluation > RESULTS.md

Reads EXP_DIR/config.yaml (encoder block), EXP_DIR/env.yaml and
EXP_DIR/decode_*/<set>/{scores.json,rtf.json}. Writes Markdown to stdout: Table 1
(quality), Table 2 (speed), an environment block; `n/a` cells carry a footnote.
"""

from __future__ import annotations

import argparse
import sys

from aac.metrics.results import ResultsError, collect, render_markdown


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="aac-results",
        description="Reads EXP_DIR/{config.yaml,env.yaml} and EXP_DIR/decode_*/<set>/"
        "{scores.json,rtf.json}. Writes the Markdown tables to stdout.",
    )
    p.add_argument("exp_dirs", nargs="+", metavar="EXP_DIR", help="experiment directories")
    p.add_argument("--set", dest="set_name", help="only this evaluation set (default: all found)")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        rows = collect(args.exp_dirs, args.set_name)
    except ResultsError as err:
        print(f"aac-results: error: {err}", file=sys.stderr)
        return 1
    if not rows:
        print(f"aac-results: no decode_*/{args.set_name or '*'}/scores.json under "
              f"{' '.join(args.exp_dirs)}", file=sys.stderr)
    sys.stdout.write(render_markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
