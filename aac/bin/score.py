"""Stage 7: score decoded captions against all references with aac-metrics.

    aac-score --hyp exp/NAME/decode_beam4/clotho_evaluation/text --ref-dir data/clotho_evaluation --output-dir exp/NAME/decode_beam4/clotho_evaluation

Reads HYP_TEXT (`clip_id caption` lines, one per clip) and DATA_DIR/text_spk1..5.
Writes DIR/scores.json ({metric: value, "unavailable": {metric: reason}, "java": ...,
"num_clips": N, "num_refs": {min, max, histogram}, "constant_baseline": {...} with
--constant-baseline, "reference_agreement": CIDEr-D of each reference k against the clip's
other references, k = 1..5}) and DIR/per_clip.csv. Metrics whose
assets are missing are listed as unavailable (with the install command); the others are
still computed. Every clip needs all 5 references (a missing text_spk file or a clip
absent from one is an error naming them) unless --min-refs N allows fewer.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from aac.cli import add_device, run_main
from aac.datadir import NUM_REFS, read_kaldi_text, read_references, reference_counts
from aac.metrics import assets
from aac.metrics.scoring import (
    ALL_METRICS,
    constant_baseline,
    constant_candidates,
    read_hypotheses,
    reference_agreement,
    score_captions,
    scores_record,
    write_json,
    write_per_clip,
)


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="aac-score",
        description="Reads HYP_TEXT and DATA_DIR/text_spk1..5 (and TRAIN_TEXT with "
        "--constant-baseline). Writes DIR/scores.json and DIR/per_clip.csv.",
    )
    p.add_argument(
        "--hyp",
        required=True,
        type=Path,
        metavar="HYP_TEXT",
        help="HYP_TEXT: `clip_id caption` lines",
    )
    p.add_argument(
        "--ref-dir", required=True, type=Path, metavar="DATA_DIR", help="DATA_DIR with text_spk1..5"
    )
    p.add_argument(
        "--output-dir",
        required=True,
        type=Path,
        metavar="DIR",
        help="DIR for scores.json, per_clip.csv",
    )
    p.add_argument(
        "--metrics",
        nargs="+",
        default=list(ALL_METRICS),
        choices=ALL_METRICS,
        metavar="METRIC",
        help=f"subset of: {' '.join(ALL_METRICS)} (default: all)",
    )
    p.add_argument(
        "--constant-baseline",
        type=Path,
        metavar="TRAIN_TEXT",
        help="training `text` (`clip#k caption`): also score the best constant caption",
    )
    p.add_argument(
        "--constant-top",
        type=int,
        default=0,
        metavar="N",
        help="try only the N most frequent training captions as constants "
        "(default 0: every distinct training caption)",
    )
    p.add_argument(
        "--cache-dir", help=f"metric assets (default: ${assets.CACHE_ENV} or aac-metrics' default)"
    )
    p.add_argument("--java", help=f"java executable (default: ${assets.JAVA_ENV} or java)")
    add_device(p, "torch device for FENSE models: cpu, cuda or cuda:N (default cpu)")
    p.add_argument(
        "--min-refs",
        type=int,
        default=NUM_REFS,
        metavar="N",
        help=f"score clips with at least N references (default {NUM_REFS}, the "
        f"protocol: every text_spk file must exist and list every clip)",
    )
    return p


def run_baseline(args, scores) -> dict:
    """Best constant caption's CIDEr-D, or the reason it could not be computed."""
    if "cider_d" not in scores.corpus:
        return {"unavailable": scores.unavailable.get("cider_d", "cider_d not requested")}
    train = read_kaldi_text(args.constant_baseline)
    candidates = constant_candidates(list(train.values()), args.constant_top)
    return constant_baseline(candidates, scores.refs_tokenized, args.cache_dir, args.java)


def _main(argv) -> int:
    parser = get_parser()
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # scoring never downloads; the installer does
    if not 1 <= args.min_refs <= NUM_REFS:
        parser.error(f"--min-refs must be 1..{NUM_REFS}, got {args.min_refs}")
    # 1. references (checked against --min-refs) and hypotheses, 2. score, 3. write
    refs = read_references(args.ref_dir, min_refs=args.min_refs)
    clip_ids = list(refs)
    hyps = read_hypotheses(args.hyp, clip_ids)
    candidates = [hyps[c] for c in clip_ids]
    scores = score_captions(
        candidates,
        [refs[c] for c in clip_ids],
        args.metrics,
        args.cache_dir,
        args.java,
        args.device,
    )
    baseline = run_baseline(args, scores) if args.constant_baseline else None
    # the references' own agreement (one against the others), beside CIDEr-D for scale
    agreement = reference_agreement(scores.refs_tokenized) if "cider_d" in scores.corpus else None
    args.output_dir.mkdir(parents=True, exist_ok=True)
    write_per_clip(args.output_dir / "per_clip.csv", clip_ids, candidates, scores)
    write_json(
        args.output_dir / "scores.json",
        scores_record(scores, len(clip_ids), baseline, reference_counts(refs), agreement),
    )
    for metric, value in scores.corpus.items():
        print(f"{metric:10s} {value:.4f}")
    for metric, reason in scores.unavailable.items():
        print(f"{metric:10s} n/a ({reason})", file=sys.stderr)
    if baseline and "cider_d" in baseline:
        print(f"constant baseline CIDEr-D {baseline['cider_d']:.4f}: {baseline['caption']!r}")
    if agreement and "min" in agreement:
        print(
            f"one reference against the other {agreement['against']}: CIDEr-D "
            f"{agreement['min']:.4f}-{agreement['max']:.4f}"
        )
    print(
        f"java: {scores.java}; wrote {args.output_dir}/scores.json, per_clip.csv", file=sys.stderr
    )
    return 0


def main(argv=None) -> int:
    return run_main("aac-score", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
