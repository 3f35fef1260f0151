"""Caption a data set with a trained experiment (stage 6): Kaldi text + speed figures.

Usage: aac-decode --exp-dir exp/clotho_ft --data-dir data/clotho_evaluation --feats dump/pann/clotho_evaluation/feats.h5 --output-dir exp/clotho_ft/decode_beam4/clotho_evaluation [--beam 4] [--batch-size 32]
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path


from aac.cli import parse_device, run_main
from aac.decode import decode_audio, decode_features, rtf_summary, select_clips, timings_to_rtf, write_outputs
from aac.inference import load_model_from_expdir


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="aac-decode", description="Reads EXP_DIR/{config.yaml,tokenizer.model,best.pt}, DATA_DIR/utt2dur "
        "(and wav.scp with --from-audio) or an HDF5 feature cache. Writes OUTPUT_DIR/text "
        "('clip_id caption', sorted) and OUTPUT_DIR/rtf.json (RTF = audio s / wall s).")
    p.add_argument("--exp-dir", required=True, help="experiment directory written by aac-train")
    p.add_argument("--data-dir", required=True, help="data dir with utt2dur (+ wav.scp)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--feats", help="HDF5 feature cache of this set")
    src.add_argument("--from-audio", action="store_true",
                     help="run the experiment's encoder on wav.scp (times encoder + decoder)")
    p.add_argument("--output-dir", required=True)
    p.add_argument("--beam", type=int, default=4, help="beam width (1 = greedy)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--downsample", type=int, help="frame striding (default: from the exp config)")
    p.add_argument("--checkpoint", default="best", help="best, last or a checkpoint path")
    p.add_argument("--trust-checkpoint", action="store_true",
                   help="allow full unpickling of the checkpoint (only for files you trust)")
    p.add_argument("--keys", help="file whose first column lists the clip ids to decode")
    p.add_argument("--device", type=parse_device, default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--max-length", type=int, help="max caption tokens (default: model's)")
    return p


def _main(argv) -> int:
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    data_dir, out_dir = Path(args.data_dir), Path(args.output_dir)
    durations = select_clips(data_dir, args.keys)
    loaded = load_model_from_expdir(args.exp_dir, args.checkpoint, args.device,
                                    trust=args.trust_checkpoint)
    k = args.downsample or loaded.downsample
    if args.from_audio:
        captions, timings = decode_audio(loaded, durations, data_dir / "wav.scp", args.beam,
                                         args.batch_size, k, args.max_length)
    else:
        captions, timings = decode_features(loaded, durations, args.feats, args.beam,
                                            args.batch_size, k, args.max_length)
    per_clip, warmup = timings_to_rtf(timings, durations)
    extra = {"beam": args.beam, "batch_size": args.batch_size, "device": args.device,
             "downsample": k}
    rtf = rtf_summary(per_clip, warmup, "audio" if args.from_audio else "features", extra)
    write_outputs(out_dir, captions, rtf)
    print(f"wrote {out_dir}/text ({len(captions)} clips); RTF mean {rtf['mean']:.1f}, "
          f"median {rtf['median']:.1f}, p10 {rtf['p10']:.1f}")
    return 0


def main(argv=None) -> int:
    return run_main("aac-decode", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
