"""Text-to-audio and audio-to-text retrieval of an ATCL experiment on a data set.

Usage: aac-eval-retrieval exp/atcl_cnn_small --data-dir data/clotho_evaluation [--text-cache FILE] [--device cpu]

Reads EXP_DIR (selected run: config.yaml, best.pt) and DIR/wav.scp + DIR/text_spk1..5
(or DIR/text). Each caption queries the clips (DCASE task 6b: one relevant clip); R@1/5/10
and mAP@10 both ways. Writes EXP_DIR/eval/<set>/scores.json and EXP_DIR/RESULTS.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from aac.cli import add_device, run_main
from aac.pretrain.data import WaveCrops, read_clip_captions
from aac.pretrain.evaluate import flatten_captions, retrieval_eval, retrieval_table
from aac.pretrain.expdir import load_task_run
from aac.pretrain.results import write_eval
from aac.pretrain.tasks import paired_clips
from aac.pretrain.text_encoder import cached_embeddings


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="aac-eval-retrieval",
        description="Reads EXP_DIR/{selected.json,config.yaml,best.pt}, DIR/wav.scp and the "
        "captions of DIR; writes EXP_DIR/eval/<set>/scores.json and EXP_DIR/RESULTS.md.",
    )
    p.add_argument("exp_dir", help="aac-pretrain-encoder --task atcl --output-dir")
    p.add_argument("--data-dir", required=True, help="data dir with wav.scp and captions")
    p.add_argument(
        "--text-cache", help="caption-embedding cache (default EXP_DIR/text_embeddings.pt)"
    )
    add_device(p)
    p.add_argument("--batch-size", type=int, default=32)
    return p


def _main(argv) -> int:
    args = get_parser().parse_args(argv)
    run, conf, model = load_task_run(args.exp_dir, "atcl", "aac-eval-tagging")
    captions = read_clip_captions(args.data_dir)
    clips = paired_clips(args.data_dir, captions, "captions")
    texts, owner = flatten_captions([c for c, _ in clips], captions)
    cache = Path(args.text_cache or Path(args.exp_dir) / "text_embeddings.pt")
    text = cached_embeddings(texts, conf.atcl.text_encoder or None, cache, args.device)
    crops = WaveCrops(clips, model.encoder.sample_rate, conf.crop_seconds, train=False)
    metrics, _ = retrieval_eval(
        model.to(args.device), crops, text, owner, args.device, args.batch_size
    )
    write_eval(args.exp_dir, args.data_dir, run, "atcl", metrics)
    print(retrieval_table(metrics, f"ATCL on {Path(args.data_dir).name}"))
    return 0


def main(argv=None) -> int:
    return run_main("aac-eval-retrieval", _main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
