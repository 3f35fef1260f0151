"""Pack a trained experiment into one zip that aac-caption and Captioner load.

Usage: aac-pack exp/bart_pann bart_pann.zip [--include-encoder] [--checkpoint best] [--trust-checkpoint]

Reads EXP_DIR/config.yaml (with its `encoder:` block), EXP_DIR/tokenizer.model and the
decoder checkpoint (`best` -> EXP_DIR/best.pt, `last`/`epochN` -> EXP_DIR/checkpoints/).
Writes OUT.zip atomically: manifest.json (SHA-256 of every member and the encoder's name
+ checkpoint SHA-256, and the decoder's epoch/score), config.yaml, tokenizer.model,
best.safetensors (decoder weights only: no optimizer state, no pickle) and, with
--include-encoder, encoder/<checkpoint file>. Without it the user supplies the encoder
checkpoint at load time and its SHA-256 is checked. The decoder checkpoint is read
weights-only; one that needs full unpickling is refused unless --trust-checkpoint.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Iterable, List, Optional

from aac.cli import add_checkpoint, add_encoder_checkpoint, add_trust_checkpoint, run_main


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="aac-pack", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("exp_dir", help="experiment directory to read")
    p.add_argument("out_zip", help="packed model to write (.zip)")
    add_checkpoint(p)
    p.add_argument(
        "--include-encoder",
        action="store_true",
        help="also store the encoder checkpoint (large for pann/beats)",
    )
    add_encoder_checkpoint(p, "encoder checkpoint to include if the recorded path has moved")
    add_trust_checkpoint(p)
    return p


def _main(argv: List[str]) -> int:
    args = get_parser().parse_args(argv)
    from aac.packing import PackError, pack_model

    # 1. check the destination name, 2. pack (verifies the encoder file if included)
    if Path(args.out_zip).suffix.lower() != ".zip":
        raise PackError(f"{args.out_zip}: output name must end with .zip")
    manifest = pack_model(
        args.exp_dir,
        args.out_zip,
        checkpoint=args.checkpoint,
        include_encoder=args.include_encoder,
        encoder_checkpoint=args.encoder_checkpoint,
        trust_checkpoint=args.trust_checkpoint,
    )
    # 3. report what went in
    enc = manifest["encoder"]
    size_mb = Path(args.out_zip).stat().st_size / 1e6
    print(
        f"wrote {args.out_zip} ({size_mb:.1f} MB): encoder {enc['name']} "
        f"sha256={enc['checkpoint_sha256']} random_init={enc['random_init']} "
        f"included={enc['included'] or 'no'}"
    )
    return 0


def main(argv: Optional[Iterable[str]] = None) -> int:
    return run_main("aac-pack", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
