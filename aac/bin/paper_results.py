"""Write the paper's Table 1 and Table 2 with our figures beside the published ones.

Usage: aac-paper-results --conf-dir conf/paper --exp-root exp --output exp/paper/RESULTS.md

Reads conf/paper/<row>.yaml (rows, paper figures, Table 2 sweep) and, per experiment,
EXP_ROOT/finetune_<row>_ds<k>/{config.yaml,env.yaml} and decode_*/<set>/{scores.json,rtf.json}
(through aac.metrics.results). Writes Markdown to --output (atomically) and to stdout.
Metrics not computed (SPIDEr-FL without its offline assets, experiments not run yet,
paper figures we do not have) show as n/a with the reason, never as a number.
Also `python -m aac.bin.paper_results`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from aac.atomic import write_text_atomic
from aac.cli import run_main
from aac.paper import load_rows
from aac.paper_tables import render_results


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="aac-paper-results",
        description="Reads conf/paper/*.yaml and EXP_ROOT/finetune_<row>_ds<k>/decode_*/<set>/"
        "{scores.json,rtf.json}. Writes the paper-vs-ours Markdown tables.",
    )
    p.add_argument("--conf-dir", type=Path, default=Path("conf/paper"), help="row presets")
    p.add_argument(
        "--exp-root",
        type=Path,
        default=Path("exp"),
        metavar="EXP_ROOT",
        help="directory holding the finetune_<row>_ds<k>/ experiments (default exp)",
    )
    p.add_argument("--set", dest="set_name", default="clotho_evaluation", help="evaluation set")
    p.add_argument("--output", type=Path, help="also write the Markdown here")
    return p


def _main(argv) -> int:
    # Steps: 1 parse; 2 read the rows; 3 collect scores and render; 4 write.
    args = get_parser().parse_args(argv)
    rows = load_rows(args.conf_dir)
    text = render_results(rows, args.exp_root, args.set_name)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(args.output, text)
    sys.stdout.write(text)
    return 0


def main(argv=None) -> int:
    return run_main("aac-paper-results", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
