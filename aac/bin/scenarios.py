"""Scenario tests: does live captioning name a critical event (a siren ...) in time?

Usage: aac-scenarios exp/finetune_pann_cnn14_ds1 --suite conf/scenarios/driving.yaml --output-dir exp/finetune_pann_cnn14_ds1/scenarios/driving

Reads MODEL (an experiment directory or an `aac-pack` zip) and the suite YAML (see
aac/scenarios/suite.py; recordings it names). For each scenario it renders the target event
over background noise at each SNR (optionally approaching, with Doppler), captions every
clip through live captioning (`aac.streaming`, audio fed at the suite's pace; with
--candidates or --decode-config, each window's caption is re-ranked among candidates as
aac-decode does), and writes to
OUTPUT_DIR: results.json (recall by SNR, false-alarm rate, detection latency p50/p99 against
the budget, pass/fail, every caption), summary.md and recall_vs_snr.png.
Exit status: 0 if every scenario passed, 1 if one failed, 2 on a bad suite or model.
"""

from __future__ import annotations

import argparse
import sys
from typing import Iterable, List, Optional

from aac.cli import add_device, add_model_options, add_rerank_options, load_captioner, run_main


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="aac-scenarios",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", help="experiment directory or packed model .zip (reads it)")
    p.add_argument("--suite", required=True, help="scenario suite YAML (reads it)")
    p.add_argument(
        "--output-dir",
        required=True,
        help="writes results.json, summary.md, recall_vs_snr.png here",
    )
    add_model_options(p)
    add_device(p)
    p.add_argument("--beam", type=int, default=4, help="beam size (default 4)")
    p.add_argument("--pace", type=float, help="feed audio at this x real time (suite's pace)")
    p.add_argument(
        "--override",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="suite overrides, e.g. trials=5 window=10",
    )
    add_rerank_options(p)  # the windows' captions re-ranked, as aac-decode can
    return p


def decoding_record(captioner) -> Optional[dict]:
    """The candidates/rerank settings the captions were chosen with; None: plain beam search."""
    from aac.config import to_dict

    return None if captioner.reranker is None else to_dict(captioner.reranker.conf)


def _main(argv: List[str]) -> int:
    args = get_parser().parse_args(argv)
    from tqdm import tqdm

    from aac.scenarios.report import write_report
    from aac.scenarios.run import run_suite
    from aac.scenarios.suite import load_suite

    # 1. the suite (strict YAML; recordings resolved and checked)
    suite = load_suite(args.suite, args.override + ([f"pace={args.pace}"] if args.pace else []))
    # 2. the model, through the one captioning path
    captioner = load_captioner(args, device=args.device, batch_size=1, dtype=args.compute_dtype)
    # 3. every clip through live captioning, scenario by scenario
    total = sum(suite.trials * (len(sc.snr_db) + 1) for sc in suite.scenarios)
    with tqdm(total=total, unit="clip", file=sys.stderr, desc="scenarios") as bar:
        results = run_suite(captioner, suite, progress=bar.update)
    # 4. the report
    header = {
        "suite": str(args.suite),
        "model": str(args.model),
        "window": suite.window,
        "hop": suite.hop,
        "pace": suite.pace,
        "trials": suite.trials,
        "decoding": decoding_record(captioner),
        "passed": all(r["passed"] for r in results),
    }
    write_report(args.output_dir, results, header)
    for r in results:
        print(f"{r['name']}: {'PASS' if r['passed'] else 'FAIL ' + '; '.join(r['reasons'])}")
    return 0 if header["passed"] else 1


def main(argv: Optional[Iterable[str]] = None) -> int:
    return run_main("aac-scenarios", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
