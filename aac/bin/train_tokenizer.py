"""Train the SentencePiece caption tokenizer on normalised training captions (stage 2).

Usage: aac-train-tokenizer --text data/clotho_development/text [--text data/audiocaps_train/text] --output-dir exp/tokenizer --vocab-size 5000 [--model-type unigram]
"""

from __future__ import annotations

import argparse
import logging
import sys

from aac.cli import run_main
from aac.tokenizer import CaptionTokenizer, train_tokenizer


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="aac-train-tokenizer",
        description="Reads Kaldi caption files (text or text_spkN: '<key> <caption>'), "
        "normalises every caption and trains SentencePiece. Writes OUTPUT_DIR/tokenizer.model "
        "and OUTPUT_DIR/tokenizer.vocab (ids: bos=0, pad=1, eos=2, unk=3).",
    )
    p.add_argument("--text", action="append", required=True, help="caption file; repeatable")
    p.add_argument("--output-dir", required=True, help="directory for tokenizer.{model,vocab}")
    p.add_argument(
        "--vocab-size",
        type=int,
        required=True,
        help="vocabulary size; lowered with a warning if the corpus is too small",
    )
    p.add_argument("--model-type", choices=["unigram", "bpe"], default="unigram")
    return p


def _main(argv) -> int:
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    path = train_tokenizer(args.text, args.output_dir, args.vocab_size, args.model_type)
    print(f"wrote {path} (vocab size {CaptionTokenizer(path).vocab_size})")
    return 0


def main(argv=None) -> int:
    return run_main("aac-train-tokenizer", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
