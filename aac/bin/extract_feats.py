"""Extract frozen-encoder frame features from a data dir into an HDF5 cache.

Usage: aac-extract-feats --encoder pann_cnn14 --encoder-checkpoint Cnn14_mAP=0.431.pth --data-dir data/clotho_development --output dump/feats/pann_cnn14_1a2b3c4d/clotho_development/feats.h5

Reads DIR/wav.scp (or --wav-scp) and DIR/utt2dur when present; writes FILE.h5 (via
FILE.h5.partial, which a rerun resumes; FILE.h5.lock is held for the whole run, so a
second run on the same output stops with exit 2). Exit status 0 when at least one clip
was written (skipped clips are listed in the log), 1 when every clip failed, 2 for a
user error (one line on stderr). Also `python -m aac.bin.extract_feats`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from aac.cli import (
    add_device,
    add_encoder_checkpoint,
    add_storage_dtype,
    add_trust_checkpoint,
    run_main,
)
from aac.config import ConfigError
from aac.datadir import read_kaldi_text, read_utt2dur
from aac.encoders import ENCODERS, build_encoder
from aac.feature_info import parse_encoder_conf
from aac.features.cache import DEFAULT_CHUNK_SECONDS
from aac.features.extract import extract_features
from aac.frames import STRIDE_FACTORS

log = logging.getLogger("aac.extract_feats")


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="aac-extract-feats",
        description="Reads DIR/wav.scp (or --wav-scp) and DIR/utt2dur; writes an HDF5 feature "
        "cache FILE.h5 (one (frames, dim) dataset per clip id; encoder, checkpoint SHA-256, "
        "rates and a completeness mark as attributes) through FILE.h5.partial, which a rerun "
        "resumes; FILE.h5.lock keeps a second run off the same output.",
    )
    p.add_argument("--encoder", required=True, choices=sorted(ENCODERS))
    add_encoder_checkpoint(p, "official encoder checkpoint file (not for logmel)")
    p.add_argument(
        "--random-init",
        action="store_true",
        help="no checkpoint: random weights (ablation only; flagged in the HDF5 attrs)",
    )
    add_trust_checkpoint(p)
    p.add_argument("--data-dir", required=True, help="Kaldi data dir with wav.scp [utt2dur]")
    p.add_argument("--wav-scp", help="read this wav.scp instead of DIR/wav.scp (split jobs)")
    p.add_argument("--output", required=True, help="output FILE.h5")
    p.add_argument(
        "--extract-stride",
        type=int,
        default=1,
        choices=STRIDE_FACTORS,
        help="keep every k-th frame in the cache (recorded as attribute "
        "extract_stride); the paper's striding is the training config's downsample",
    )
    p.add_argument("--batch-size", type=int, default=8)
    add_device(p)
    add_storage_dtype(p, "stored dtype (float16 on cuda also computes under autocast)")
    p.add_argument(
        "--chunk-seconds",
        type=float,
        default=DEFAULT_CHUNK_SECONDS,
        help="encode clips longer than this in chunks, so memory stays flat "
        f"(0: never; see aac.encoders.chunking; default {DEFAULT_CHUNK_SECONDS:g})",
    )
    p.add_argument(
        "--encoder-conf",
        nargs="*",
        default=[],
        metavar="YAML_OR_KEY=VAL",
        help="encoder options: a YAML file and/or key=value items",
    )
    return p


def read_clips(args):
    scp = args.wav_scp or os.path.join(args.data_dir, "wav.scp")
    if not os.path.isfile(scp):
        raise ConfigError(f"{scp}: wav.scp not found")
    clips = list(read_kaldi_text(scp).items())
    utt2dur = os.path.join(args.data_dir, "utt2dur")
    durations = read_utt2dur(args.data_dir) if os.path.isfile(utt2dur) else {}
    return scp, clips, durations


def report(result, scp) -> int:
    if result.padded:
        log.info(
            "%d clips shorter than the encoder minimum were zero-padded: %s",
            len(result.padded),
            " ".join(result.padded[:10]),
        )
    summary = (
        f"summary: {result.written} written, {result.resumed} resumed, "
        f"{len(result.padded)} padded, {len(result.skipped)} skipped -> {result.output}"
    )
    log.info("%s", summary)
    print(summary)
    if result.output is None:
        log.error("%s: every clip failed; no feature file written", scp)
        return 1
    return 0


def _main(argv) -> int:
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    # 1. options and clips, 2. encoder, 3. extract (locked, resumable), 4. summary
    conf = parse_encoder_conf(args.encoder_conf)
    scp, clips, durations = read_clips(args)
    encoder = build_encoder(
        args.encoder, args.encoder_checkpoint, args.random_init, args.trust_checkpoint, conf
    )
    log.info(
        "encoder %s: %d Hz, %.4g frames/s, dim %d, checkpoint %s (sha256 %s)%s",
        encoder.name,
        encoder.sample_rate,
        encoder.frame_rate / args.extract_stride,
        encoder.output_dim,
        encoder.checkpoint,
        encoder.checkpoint_sha256,
        " [RANDOM INIT]" if encoder.random_init else "",
    )
    result = extract_features(
        encoder,
        clips,
        args.output,
        extract_stride=args.extract_stride,
        batch_size=args.batch_size,
        device=args.device,
        dtype=args.storage_dtype,
        durations=durations,
        encoder_conf=conf,
        chunk_seconds=args.chunk_seconds,
    )
    return report(result, scp)


def main(argv=None) -> int:
    return run_main("aac-extract-feats", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
