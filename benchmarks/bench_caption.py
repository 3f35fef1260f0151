"""Captioning speed table for paper-size models: the paper's setting vs. the fastest one.

Usage: tools/venv/bin/python benchmarks/bench_caption.py --encoders pann_cnn14 beats

For each encoder it builds an experiment directory the way `aac-train` leaves one (random
decoder weights: 6 layers, d_model 768, 12 heads, FFN 3072, a 5000-piece tokenizer) over
a random-initialised encoder (speed does not depend on the weights' values), writes
`--num-clips` synthetic clips of `--clip-seconds` (a Kaldi data dir), and runs
`aac-benchmark` on them (a fresh process per encoder), which prints the table, the
profile and the encoder's floor.
Random decoders never emit end-of-sentence, so every caption runs to `--max-length`
tokens; 20 is about the length of a trained model's Clotho/AudioCaps captions plus eos.
Writes everything under --workdir (default: a temporary directory), one JSON per encoder.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf

from aac.model import ModelConf
from aac.testing import make_random_exp_dir

PAPER_DECODER = ModelConf(
    d_model=768,
    decoder_layers=6,
    decoder_attention_heads=12,
    decoder_ffn_dim=3072,
    max_target_length=64,
)


def write_clips(data_dir: Path, num_clips: int, seconds: float, rate: int = 32000) -> None:
    """Noise + tones + bursts, a different mixture per clip; wav.scp lists them."""
    rng = np.random.default_rng(0)
    (data_dir / "wav").mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(num_clips):
        t = np.arange(int(seconds * rate)) / rate
        wave = rng.normal(0, 0.05 + 0.05 * (i % 4), t.shape)
        wave += 0.3 * np.sin(2 * np.pi * rng.uniform(100, 4000) * t)
        wave *= 1 + np.sign(np.sin(2 * np.pi * rng.uniform(0.2, 3) * t))  # bursts
        path = data_dir / "wav" / f"clip{i:03d}.wav"
        sf.write(path, (0.3 * wave).astype(np.float32), rate)
        lines.append(f"clip{i:03d} {path}\n")
    (data_dir / "wav.scp").write_text("".join(lines))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--encoders", nargs="+", default=["pann_cnn14", "beats"])
    p.add_argument("--num-clips", type=int, default=16)
    p.add_argument("--clip-seconds", type=float, default=10.0)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--max-length", type=int, default=20)
    p.add_argument("--no-variants", action="store_true", help="skip the int8 and bf16 rows")
    p.add_argument("--workdir", help="keep models, clips and JSON here")
    args = p.parse_args(argv)
    warnings.filterwarnings("ignore", message=".*RANDOMLY INITIALISED.*")

    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench_caption_"))
    write_clips(work / "data", args.num_clips, args.clip_seconds)
    for encoder in args.encoders:
        exp = work / f"exp_{encoder}"
        if not (exp / "best.pt").is_file():
            make_random_exp_dir(exp, encoder=encoder, model_conf=PAPER_DECODER, vocab_size=5000)
        print(
            f"\n## {encoder}: paper-size decoder, random weights, {args.num_clips} x "
            f"{args.clip_seconds:g} s clips, max {args.max_length} tokens",
            flush=True,
        )
        variants = [] if args.no_variants else ["--quantize", "int8", "--compute-dtype", "bfloat16"]
        # a fresh process per encoder: what ran before in this one (writing the clips,
        # the other encoder) moved the figures by up to 30% through allocator state
        subprocess.run(
            [
                sys.executable,
                "-m",
                "aac.bin.benchmark",
                str(exp),
                "--data-dir",
                str(work / "data"),
                "--num-clips",
                str(args.num_clips),
                "--batch-size",
                str(args.batch_size),
                "--max-length",
                str(args.max_length),
                *variants,
                "--json",
                str(work / f"bench_{encoder}.json"),
            ],
            check=True,
        )
    print(f"\nfiles in {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
