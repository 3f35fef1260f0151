"""SentencePiece caption tokenizer trained on normalised captions.

Ids follow the BART convention, so the decoder config needs no remapping:
bos=0 (`<s>`), pad=1 (`<pad>`), eos=2 (`</s>`), unk=3 (`<unk>`).

    train_tokenizer(["data/clotho_development/text"], "exp/tok", vocab_size=5000)
    tok = CaptionTokenizer("exp/tok/tokenizer.model")
    tok.encode("A dog barks!")   # ids of "a dog barks", no bos/eos
    tok.decode(ids)              # "a dog barks" (special ids dropped)
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Iterable, Iterator, List, Sequence

from aac.datadir import iter_kaldi_lines
from aac.text import normalize_caption

logger = logging.getLogger(__name__)

BOS_ID, PAD_ID, EOS_ID, UNK_ID = 0, 1, 2, 3
# SentencePiece trains on at most this many captions (a uniform sample when there are more):
# captions stream from the text files, so memory follows the sample, not the corpus.
SAMPLE_CAPTIONS = 2_000_000
_MAX_VOCAB = re.compile(r"value <= (\d+)")


class CaptionTokenizer:
    """Loads `tokenizer.model`; `encode` normalises the caption first."""

    def __init__(self, model_path: str | os.PathLike):
        import sentencepiece as spm

        self.model_path = str(model_path)
        if not Path(self.model_path).is_file():
            raise FileNotFoundError(f"tokenizer model not found: {self.model_path}")
        self.sp = spm.SentencePieceProcessor(model_file=self.model_path)
        self.pad_id = self.sp.pad_id()
        self.bos_id = self.sp.bos_id()
        self.eos_id = self.sp.eos_id()
        self.unk_id = self.sp.unk_id()
        self.vocab_size = self.sp.get_piece_size()

    def encode(self, text: str) -> List[int]:
        return list(self.sp.encode(normalize_caption(text)))

    def decode(self, ids: Sequence[int]) -> str:
        special = {self.pad_id, self.bos_id, self.eos_id}
        return self.sp.decode([int(i) for i in ids if int(i) not in special]).strip()


def iter_caption_texts(paths: Iterable[str | os.PathLike]) -> Iterator[str]:
    """Normalised captions from Kaldi `text`/`text_spkN` files (value column), empties
    dropped, one at a time."""
    for path in paths:
        if not Path(path).is_file():
            raise FileNotFoundError(f"caption file not found: {path}")
        for _, caption in iter_kaldi_lines(path):
            norm = normalize_caption(caption)
            if norm:
                yield norm


def _train_spm(paths: Sequence, prefix: str, vocab_size: int, model_type: str) -> None:
    import sentencepiece as spm

    spm.set_random_generator_seed(0)  # the sample of a corpus over SAMPLE_CAPTIONS is fixed
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter_caption_texts(paths),
        input_sentence_size=SAMPLE_CAPTIONS,
        shuffle_input_sentence=True,
        model_prefix=prefix,
        vocab_size=vocab_size,
        model_type=model_type,
        character_coverage=1.0,
        bos_id=BOS_ID,
        pad_id=PAD_ID,
        eos_id=EOS_ID,
        unk_id=UNK_ID,
        num_threads=1,  # deterministic output for the same corpus
        minloglevel=2,
    )


def train_tokenizer(
    text_files: Sequence[str | os.PathLike],
    output_dir: str | os.PathLike,
    vocab_size: int,
    model_type: str = "unigram",
) -> Path:
    """Train on the captions of `text_files`; writes DIR/tokenizer.{model,vocab} atomically.

    SentencePiece refuses a vocabulary larger than the corpus supports; we retry with the
    largest size it accepts and warn, so small corpora (the mini recipe) still work.
    """
    if model_type not in ("unigram", "bpe"):
        raise ValueError(f"model type must be unigram or bpe, got {model_type!r}")
    paths = list(text_files)
    if next(iter_caption_texts(paths), None) is None:
        raise ValueError(f"no captions found in {', '.join(map(str, paths))}")
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=output_dir, prefix=".tok") as tmp:
        prefix = os.path.join(tmp, "tokenizer")
        try:
            _train_spm(paths, prefix, vocab_size, model_type)
        except RuntimeError as e:
            match = _MAX_VOCAB.search(str(e))
            if not match:
                raise
            limit = int(match.group(1))
            logger.warning("vocab_size %d too large for this corpus; using %d", vocab_size, limit)
            _train_spm(paths, prefix, limit, model_type)
        for ext in ("vocab", "model"):  # model last: its presence marks a finished run
            shutil.move(f"{prefix}.{ext}", output_dir / f".tokenizer.{ext}.tmp")
            os.replace(output_dir / f".tokenizer.{ext}.tmp", output_dir / f"tokenizer.{ext}")
    return output_dir / "tokenizer.model"
