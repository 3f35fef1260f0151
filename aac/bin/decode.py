"""Caption a data set with a trained experiment (stage 6): Kaldi text + speed figures.

Usage: aac-decode --exp-dir exp/clotho_ft --data-dir data/clotho_evaluation --feats dump/pann/clotho_evaluation/feats.h5 --output-dir exp/clotho_ft/decode_beam4_best_ds1/clotho_evaluation [--beam 4] [--batch-size 32] [--checkpoint best] [--rtf-clips 20] [--decode-config conf/decode_rerank.yaml] [--candidates sampling --num-candidates 50 --rerank-scorer atcl --atcl-exp exp/atcl]

With candidates on (--candidates or the decode config), each clip gets N candidate
captions (beam hypotheses or nucleus samples), re-ranked by the caption model's
length-normalised log-probability and an audio-text similarity (aac.rerank); the
ATCL scorer reads the clips' audio from DATA_DIR/wav.scp.

With --paper-rtf-only (stage 6's serial step, after aac-merge-decodes) it decodes nothing:
it times the paper RTF of the --rtf-clips sample of the whole set in this one process and
replaces the `paper` block of OUTPUT_DIR/rtf.json.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from aac.captioning import CaptionEngine
from aac.cli import (
    add_checkpoint,
    add_compute_dtype,
    add_device,
    add_downsample,
    add_encoder_checkpoint,
    add_exp_dir,
    add_rerank_options,
    add_trust_checkpoint,
    run_main,
)
from aac.config import to_dict
from aac.decode import (
    SHARED_KEYS,
    batched_rtf,
    decode_clips,
    experiment_encoder,
    measure_paper_rtf,
    paper_sample,
    sample_label,
    select_clips,
    time_paper_rtf_serially,
    write_outputs,
)
from aac.expdir import load_model_from_expdir
from aac.feature_info import extract_stride
from aac.scorers import build_reranker, decode_conf_from_args
from aac.speed import RTF_DEFINITION


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="aac-decode",
        description="Reads EXP_DIR/{config.yaml,tokenizer.model,best.pt}, DATA_DIR/utt2dur "
        "(and wav.scp with --from-audio or --rtf-clips) or an HDF5 feature cache. Writes "
        "OUTPUT_DIR/text ('clip_id caption', sorted) and OUTPUT_DIR/rtf.json (RTF = audio s / "
        "wall s): 'batched' (this decode) and 'paper' (audio in, one clip at a time, beam 4).",
    )
    add_exp_dir(p)
    p.add_argument("--data-dir", required=True, help="data dir with utt2dur (+ wav.scp)")
    src = p.add_mutually_exclusive_group()  # one of them, unless --paper-rtf-only
    src.add_argument("--feats", help="HDF5 feature cache of this set")
    src.add_argument(
        "--from-audio",
        action="store_true",
        help="run the experiment's encoder on wav.scp (times encoder + decoder)",
    )
    p.add_argument("--output-dir", required=True)
    p.add_argument("--beam", type=int, default=4, help="beam width (1 = greedy)")
    p.add_argument("--batch-size", type=int, default=32)
    add_downsample(p, "training frame stride to decode with (default: the exp config's)")
    add_checkpoint(p)
    p.add_argument("--keys", help="file whose first column lists the clip ids to decode")
    add_device(p)
    add_trust_checkpoint(p)
    add_encoder_checkpoint(
        p,
        "encoder checkpoint file for --from-audio and the paper RTF, when the recorded path "
        "has moved (SHA-256 checked)",
    )
    add_compute_dtype(p)
    p.add_argument("--max-length", type=int, help="max caption tokens (default: model's)")
    p.add_argument(
        "--rtf-clips",
        type=int,
        default=20,
        help="paper RTF (audio in, one clip at a time, beam 4) on the first N clip "
        "ids of the set, sorted (default 20; 0 skips it; -1 times every clip)",
    )
    add_rerank_options(p)
    p.add_argument(
        "--paper-rtf-only",
        action="store_true",
        help="decode nothing: time the paper RTF of the --rtf-clips sample serially and "
        "replace the 'paper' block of OUTPUT_DIR/rtf.json (stage 6, after the merge)",
    )
    p.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's)")
    return p


def _paper_rtf_only(args, data_dir: Path, out_dir: Path) -> int:
    """Stage 6's serial step: the paper RTF of the whole sample, after the parts merged."""
    if not args.rtf_clips:
        print("--rtf-clips 0: paper RTF not measured")
        return 0
    loaded = load_model_from_expdir(
        args.exp_dir, args.checkpoint, args.device, trust=args.trust_checkpoint
    )
    paper = time_paper_rtf_serially(
        loaded,
        data_dir,
        out_dir,
        args.rtf_clips,
        args.compute_dtype,
        checkpoint=args.encoder_checkpoint,
        trust=args.trust_checkpoint,
    )
    if paper.get("mean") is None:
        print(f"paper RTF unavailable: {paper.get('unavailable')}")
    else:
        print(
            f"paper RTF mean {paper['mean']:.1f}, median {paper['median']:.1f}, p10 "
            f"{paper['p10']:.1f} over {paper['num_clips']} clips, {paper['threads']} threads, "
            f"serial -> {out_dir}/rtf.json"
        )
    return 0


def _main(argv) -> int:
    parser = get_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    data_dir, out_dir = Path(args.data_dir), Path(args.output_dir)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.paper_rtf_only:
        return _paper_rtf_only(args, data_dir, out_dir)
    if not (args.feats or args.from_audio):
        parser.error("one of --feats or --from-audio is required (or --paper-rtf-only)")
    # 1. clips and model
    durations = select_clips(data_dir, args.keys)
    decode_conf = decode_conf_from_args(args, args.beam)
    loaded = load_model_from_expdir(
        args.exp_dir, args.checkpoint, args.device, trust=args.trust_checkpoint
    )
    encoder_opts = {"checkpoint": args.encoder_checkpoint, "trust": args.trust_checkpoint}
    encoder = experiment_encoder(loaded, **encoder_opts) if args.from_audio else None
    reranker = build_reranker(decode_conf, loaded, args.device)
    engine = CaptionEngine.from_loaded(
        loaded,
        encoder,
        stride=args.downsample,
        beam=args.beam,
        max_length=args.max_length,
        dtype=args.compute_dtype,
        reranker=reranker,
        prepack=True,
    )
    # 2. captions, timed per batch
    captions, timings = decode_clips(
        engine,
        durations,
        args.batch_size,
        feats_path=args.feats,
        wav_scp=data_dir / "wav.scp",
        encoder_info=loaded.encoder_info,
        exp_config=str(Path(args.exp_dir) / "config.yaml"),
    )
    facts = {
        "beam": args.beam,
        "device": args.device,
        "downsample": engine.stride,
        "extract_stride": extract_stride(loaded.encoder_info),
        "checkpoint": args.checkpoint,
        "compute_dtype": args.compute_dtype,
        "decoding": to_dict(decode_conf) if decode_conf.active else None,
    }
    batched = batched_rtf(
        timings,
        durations,
        mode="audio" if args.from_audio else "features",
        beam=args.beam,
        batch_size=args.batch_size,
    )
    # 3. the paper's RTF on the stated sample
    paper = None
    if args.rtf_clips:
        sample = paper_sample(data_dir, durations, args.rtf_clips)
        paper = measure_paper_rtf(
            loaded, data_dir, sample, encoder, args.compute_dtype, **encoder_opts
        )
        paper.update(sample=sample_label(data_dir, args.rtf_clips), timed="within this job")
    # 4. outputs
    rtf = {
        "definition": RTF_DEFINITION,
        **{k: facts[k] for k in SHARED_KEYS},
        "decoding": facts["decoding"],
        "parts": 1,
        "batched": batched,
        "paper": paper,
    }
    write_outputs(out_dir, captions, rtf)
    line = f"wrote {out_dir}/text ({len(captions)} clips); batched throughput RTF "
    line += "n/a" if batched["throughput"] is None else f"{batched['throughput']:.1f}"
    if paper and paper.get("mean") is not None:
        line += f"; paper RTF mean {paper['mean']:.1f} over {paper['num_clips']} clips"
    print(line)
    return 0


def main(argv=None) -> int:
    return run_main("aac-decode", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
