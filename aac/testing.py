"""Helpers for tests and benchmarks: nothing in the package imports this module.

make_random_exp_dir   an experiment directory with random weights (speed, CLI tests)
official_token_mask   the official BEATs padding-mask mapping, to test ours against
cider_sentence_scores per-clip CIDEr-D of `aac.metrics.cider.CiderD`, against aac-metrics
"""

from __future__ import annotations

import math
from typing import List

import numpy as np
import torch

SPEED_CAPTIONS = (
    "a dog barks while cars pass by on a busy street",
    "rain falls on a tin roof and thunder rumbles far away",
    "a man speaks and a crowd laughs in a large hall",
    "birds chirp in the trees as the wind blows gently",
    "an ambulance siren wails and fades into the distance",
    "water runs from a tap into a metal sink",
    "footsteps echo on a wooden floor and a door creaks open",
    "a train horn blows as the train rattles over the tracks",
)


def speed_corpus(vocab_size: int, seed: int = 0) -> list:
    """Sentences with enough distinct words for a `vocab_size` SentencePiece model.

    A real caption vocabulary (~5000 pieces) sets the cost of the output layer and of
    beam search's top-k, so a speed model needs one; pseudo-words provide it offline.
    """
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    words = sorted({"".join(rng.choice(letters, rng.integers(3, 10))) for _ in range(vocab_size)})
    extra = [" ".join(rng.choice(words, 10)) for _ in range(max(0, vocab_size // 2))]
    return list(SPEED_CAPTIONS) + extra


def make_random_exp_dir(
    exp_dir,
    encoder: str = "logmel",
    model_conf=None,
    random_init: bool = True,
    vocab_size: int = 64,
    seed: int = 0,
    weight_scale: float = 3.0,
    text_model_dir=None,
):
    """An experiment directory with random decoder weights over `encoder`, for speed tests.

    It has exactly what `aac-train` leaves for decoding (config.yaml with the `encoder:`
    block, tokenizer.model, best.pt), so every loader treats it as a trained model; its
    captions are meaningless. Encoders other than logmel are random-init (no download).
    `weight_scale` multiplies the model's matrices: at BART's init (std 0.02) the decoder
    ignores the audio and writes the same caption for every clip, which would make
    "batched == single" and "captions changed" checks vacuous. 3 makes the paper-size
    decoder's captions clip-dependent; at 10 it is so chaotic that fp32 rounding
    differences between batch sizes (1e-3 in logits) flip beams, unlike a trained model.
    `text_model_dir` is recorded as `text_embedding.model_dir` (the sentence-embedding
    model of a head scorer, for a `model_conf` with text_embedding_dim > 0).
    """
    import tempfile
    from pathlib import Path

    from aac.checkpoint_io import save_atomic
    from aac.encoders import build_encoder
    from aac.expconf import TextEmbeddingConf, TrainConf
    from aac.expdir import record_experiment
    from aac.feature_info import encoder_info_from_attrs
    from aac.model import CaptionModel, ModelConf
    from aac.tokenizer import CaptionTokenizer, train_tokenizer

    exp_dir = Path(exp_dir)
    enc = build_encoder(encoder, random_init=random_init and encoder != "logmel")
    with tempfile.TemporaryDirectory() as tmp:
        text = Path(tmp) / "text"
        text.write_text("".join(f"c{i} {c}\n" for i, c in enumerate(speed_corpus(vocab_size))))
        train_tokenizer([text], exp_dir, vocab_size=vocab_size)
    tok = CaptionTokenizer(exp_dir / "tokenizer.model")
    model_conf = model_conf or ModelConf()
    torch.manual_seed(seed)
    model = CaptionModel.for_tokenizer(enc.output_dim, model_conf, tok)
    state = {
        k: v * weight_scale if v.dim() == 2 and "embed_positions" not in k else v
        for k, v in model.state_dict().items()
    }
    save_atomic({"model": state}, exp_dir / "best.pt")
    attrs = {**enc.describe(), "frame_rate": enc.frame_rate, "extract_stride": 1}
    conf = TrainConf(
        model=model_conf,
        encoder=encoder_info_from_attrs(attrs),
        enc_dim=enc.output_dim,
        tokenizer=str(exp_dir / "tokenizer.model"),
        text_embedding=TextEmbeddingConf(model_dir=str(text_model_dir) if text_model_dir else None),
    )
    record_experiment(exp_dir, conf, ["make_random_exp_dir", str(exp_dir), encoder])
    return exp_dir


def official_token_mask(
    sample_mask: torch.Tensor, num_frames: int, num_tokens: int
) -> torch.Tensor:
    """The token mask the official `forward_padding_mask` derives (twice) from a sample mask.

    It treats tokens as a plain sequence in time, so within a partially padded 160 ms
    patch some of the 8 frequency tokens end up masked and others not.
    """

    def squeeze(mask, n):
        extra = mask.shape[1] % n
        if extra:
            mask = mask[:, :-extra]
        return mask.view(mask.shape[0], n, -1).all(-1)

    return squeeze(squeeze(sample_mask, num_frames), num_tokens)


def _cider_pair_score(cider, candidate, reference) -> float:
    """CIDEr-D of one cooked candidate against one cooked reference (mean over n, penalised)."""
    vec, norm, length = cider.tfidf(candidate)
    ref_vec, ref_norm, ref_length = cider.tfidf(reference)
    sims = np.zeros(cider.n)
    for gram, value in vec.items():
        if gram in ref_vec:
            sims[len(gram) - 1] += min(value, ref_vec[gram]) * ref_vec[gram]
    denom = norm * ref_norm
    sims = np.divide(sims, denom, out=sims, where=denom != 0)
    return float(sims.mean() * math.exp(-((length - ref_length) ** 2) / (2 * cider.sigma**2)))


def cider_sentence_scores(cider, candidates: List[str]) -> np.ndarray:
    """Per-clip CIDEr-D (C,) of candidates[i] against clip i's references (`CiderD`): the
    straightforward per-reference sum that `CiderD.constant_score` regroups."""
    from aac.metrics.cider import cook

    out = np.empty(len(candidates))
    for c, cand in enumerate(candidates):
        counts = cook(cand, cider.n)
        refs = cider.mult_refs[c]
        out[c] = sum(_cider_pair_score(cider, counts, cook(r, cider.n)) for r in refs) / len(refs)
    return out * cider.scale
