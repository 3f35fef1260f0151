"""Caption model: frozen-encoder frame features -> Linear(enc_dim, d_model) -> BART decoder.

The BART model comes from HuggingFace `BartForConditionalGeneration` with zero encoder
layers, trained from scratch: the projected audio frames are handed to it as
`encoder_outputs`, so the HF decoder, cross-attention and beam search are used unchanged
through this one adapter.

    model = CaptionModel(enc_dim=2048, vocab_size=5000, model_conf=ModelConf(), pad_id=1,
                         bos_id=0, eos_id=2)
    loss = model(feats, feat_mask, labels)            # labels padded with pad_id
    with beam_shared_attention(model.bart):
        ids = model.bart.generate(**model.generation_inputs(feats, feat_mask, num_beams=4))

Captions are generated in one place only, `aac.captioning.generate_captions`, which hands
these inputs to HF's `generate` of `model.bart`.
"""

from __future__ import annotations

import functools
import inspect
import logging
import math
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from aac.adapters import ConformerAdapter, NoTextEmbeddingHead, TextEmbeddingHead

IGNORE_ID = -100
logger = logging.getLogger(__name__)


@dataclass
class ModelConf:
    d_model: int = 768
    decoder_layers: int = 6
    decoder_attention_heads: int = 12
    decoder_ffn_dim: int = 3072
    dropout: float = 0.1
    attention_dropout: float = 0.1
    activation_dropout: float = 0.0
    activation_function: str = "gelu"
    max_target_length: int = 64  # tokens incl. eos; longer training captions are cut
    label_smoothing: float = 0.0
    input_layer_norm: bool = True  # LayerNorm after the projection: encoders differ in scale
    input_dropout: float = 0.0
    # With 0 BART encoder layers nothing else tells the decoder where a frame is in time,
    # and captions are about order ("a bell rings, then a dog barks"): add sinusoidal
    # positions to the projected frames ("none" turns this off).
    audio_positions: str = "sinusoidal"
    # Text-embedding head (aac.adapters.TextEmbeddingHead): pooled frames -> a sentence-
    # embedding space, trained by the config's text_embedding loss; 0 = no head. aac-train
    # sets it to the text encoder's size when text_embedding.weight > 0 and it is 0.
    text_embedding_dim: int = 0
    # Conformer adapter between the projected frames and the decoder (BEATs-Conformer-BART);
    # 0 layers = none (the paper's model).
    conformer_layers: int = 0
    conformer_heads: int = 4  # d_model must be divisible by it
    conformer_ffn_dim: int = 1024
    conformer_kernel: int = 31  # depthwise convolution kernel (odd)
    conformer_dropout: float = 0.1


# transformers releases (major, minor), first and last, that `beam_search_cache` and
# `beam_shared_sdpa` were tested with: their cache, mask and attention-function APIs move
# between releases (transformers 5's BART builds no mask for an unknown attention function).
# Elsewhere beam search takes HF's default path: the same tokens, cross-attention computed
# for every beam. Move the bound when tests/test_decode.py passes on a newer release.
SHARED_CROSS_ATTENTION_TESTED = ((4, 57), (5, 24))


@functools.lru_cache(maxsize=None)
def shared_cross_attention_supported() -> bool:
    """Whether the installed transformers is in `SHARED_CROSS_ATTENTION_TESTED` (warns once if not)."""
    import transformers
    from packaging.version import Version

    release = Version(transformers.__version__).release[:2]
    first, last = SHARED_CROSS_ATTENTION_TESTED
    if first <= release <= last:
        return True
    logger.warning(
        "transformers %s is outside the releases aac's shared cross-attention beam search was "
        "tested with (%s to %s): beam search takes HF's default path (same captions, slower)",
        transformers.__version__,
        ".".join(map(str, first)),
        ".".join(map(str, last)),
    )
    return False


def generate_cache_kwarg(bart) -> str:
    """Name under which `generate` takes a cache: `cache` where the model's forward takes it
    (5.24; 5.17 does not), else `past_key_values` (5.24 still takes it, with a FutureWarning)."""
    return "cache" if "cache" in inspect.signature(bart.forward).parameters else "past_key_values"


# Name of the HF attention function registered below (transformers' AttentionInterface).
BEAM_SHARED_SDPA = "aac_beam_shared_sdpa"


def beam_shared_sdpa(module, query, key, value, attention_mask, **kwargs):
    """HF attention function: SDPA, where the keys/values of B clips serve their B*k beams.

    Beam search hands every beam of a clip the same encoder output, so cross-attention
    keys/values are equal across a clip's k beams. `beam_search_cache` stores them once
    per clip (B, H, T, d); here a clip's beams become k query rows against them, so the
    frames are projected once instead of k times and read once per step instead of k
    times. Same-size inputs (self-attention, greedy search, training) go to plain SDPA.
    """
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    rows, clips = query.shape[0], key.shape[0]
    if rows == clips:
        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)
    beams = rows // clips
    _, heads, length, dim = query.shape  # (B*k, H, L, d)
    q = query.view(clips, beams, heads, length, dim).transpose(1, 2)
    q = q.reshape(clips, heads, beams * length, dim)  # (B, H, k*L, d)
    if attention_mask is not None:  # (B*k, 1, L, T): the clip's frame mask, equal per beam
        mask = attention_mask[::beams]  # (B, 1, L, T)
        mask = mask.unsqueeze(2).expand(-1, -1, beams, -1, -1)  # (B, 1, k, L, T)
        attention_mask = mask.reshape(clips, mask.shape[1], beams * length, mask.shape[-1])
    kwargs["is_causal"] = False
    out, _ = sdpa_attention_forward(module, q, key, value, attention_mask, **kwargs)
    # out (B, k*L, H, d) -> (B*k, L, H, d), the layout HF's attention functions return
    return out.reshape(clips, beams, length, heads, dim).reshape(rows, length, heads, dim), None


@contextmanager
def beam_shared_attention(bart):
    """Within the block, `bart`'s attention runs through `beam_shared_sdpa`.

    The name is registered with transformers' attention functions and with its mask
    functions as SDPA's: transformers 5 builds no attention mask at all for an attention
    function that has no mask function (padded frames would be attended to); 4.57's BART
    builds its own masks and never asks. Where `shared_cross_attention_supported()` is
    false, the block changes nothing.
    """
    if not shared_cross_attention_supported():
        yield
        return
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface

    AttentionInterface.register(BEAM_SHARED_SDPA, beam_shared_sdpa)
    AttentionMaskInterface.register(BEAM_SHARED_SDPA, ALL_MASK_ATTENTION_FUNCTIONS["sdpa"])
    before = bart.config._attn_implementation
    bart.config._attn_implementation = BEAM_SHARED_SDPA
    try:
        yield
    finally:
        bart.config._attn_implementation = before


def beam_search_cache(bart, hidden: torch.Tensor):
    """Encoder-decoder KV cache holding each clip's cross-attention keys/values once.

    `hidden` (B, T, d_model) is the projected audio. Its keys/values are computed here per
    clip, (B, H, T, d) per layer, and marked done, so the decoder never projects the
    beam-expanded copy; `beam_shared_sdpa` lets the B*k beams attend to them. Beam
    search reorders the cache after every step; the cross-attention half is left alone:
    beams never move between clips and a clip's keys/values are the same for all its beams.
    """
    from transformers.cache_utils import DynamicCache, EncoderDecoderCache

    class SharedCrossAttentionCache(EncoderDecoderCache):
        def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
            self.self_attention_cache.reorder_cache(beam_idx)

    cross = DynamicCache()
    b, t, _ = hidden.shape
    for i, layer in enumerate(bart.model.decoder.layers):
        attn = layer.encoder_attn
        shape = (b, t, attn.num_heads, attn.head_dim)
        keys = attn.k_proj(hidden).view(shape).transpose(1, 2)  # (B, H, T, d)
        values = attn.v_proj(hidden).view(shape).transpose(1, 2)
        cross.update(keys, values, i)
    return SharedCrossAttentionCache(DynamicCache(), cross)  # marks layers with keys done


def sinusoidal_positions(length: int, dim: int, like: torch.Tensor) -> torch.Tensor:
    """Transformer sine/cosine position table (length, dim), on `like`'s device and dtype."""
    pos = torch.arange(length, device=like.device, dtype=torch.float32).unsqueeze(1)  # (T, 1)
    freq = torch.exp(
        torch.arange(0, dim, 2, device=like.device, dtype=torch.float32)
        * (-math.log(10000.0) / dim)
    )  # (dim/2,)
    table = torch.zeros(length, dim, device=like.device, dtype=torch.float32)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq)[:, : dim // 2]
    return table.to(like.dtype)


class CaptionModel(nn.Module):
    def __init__(
        self,
        enc_dim: int,
        vocab_size: int,
        model_conf: ModelConf,
        pad_id: int,
        bos_id: int,
        eos_id: int,
    ):
        super().__init__()
        from transformers import BartConfig, BartForConditionalGeneration

        c = model_conf
        self.conf = c
        self.pad_id, self.bos_id, self.eos_id = pad_id, bos_id, eos_id
        self.proj = nn.Linear(enc_dim, c.d_model)
        self.input_norm = nn.LayerNorm(c.d_model) if c.input_layer_norm else nn.Identity()
        self.input_dropout = nn.Dropout(c.input_dropout)
        bart_conf = BartConfig(
            vocab_size=vocab_size,
            d_model=c.d_model,
            encoder_layers=0,
            decoder_layers=c.decoder_layers,
            encoder_attention_heads=c.decoder_attention_heads,
            decoder_attention_heads=c.decoder_attention_heads,
            encoder_ffn_dim=c.decoder_ffn_dim,
            decoder_ffn_dim=c.decoder_ffn_dim,
            dropout=c.dropout,
            attention_dropout=c.attention_dropout,
            activation_dropout=c.activation_dropout,
            activation_function=c.activation_function,
            max_position_embeddings=c.max_target_length + 2,
            pad_token_id=pad_id,
            bos_token_id=bos_id,
            eos_token_id=eos_id,
            decoder_start_token_id=bos_id,
            forced_bos_token_id=None,
            forced_eos_token_id=None,
            scale_embedding=True,
        )
        self.bart = BartForConditionalGeneration(bart_conf)
        # The unused BART encoder keeps its positional embedding and LayerNorm; freezing them
        # keeps AdamW from decaying them and DDP from waiting for their gradients.
        enc = self.bart.model.encoder
        for p in list(enc.embed_positions.parameters()) + list(
            enc.layernorm_embedding.parameters()
        ):
            p.requires_grad_(False)
        # Built after BART, and only when asked for: with both off the model's parameters
        # (names, shapes, and values under one seed) are those of the paper's model.
        self.adapter = None
        if c.conformer_layers > 0:
            self.adapter = ConformerAdapter(
                c.d_model,
                c.conformer_layers,
                c.conformer_heads,
                c.conformer_ffn_dim,
                c.conformer_kernel,
                c.conformer_dropout,
            )
        self.text_head = None
        if c.text_embedding_dim > 0:
            self.text_head = TextEmbeddingHead(c.d_model, c.text_embedding_dim)

    @classmethod
    def for_tokenizer(cls, enc_dim: int, model_conf: ModelConf, tokenizer) -> "CaptionModel":
        """A model whose vocabulary and special ids are those of `tokenizer`."""
        return cls(
            enc_dim,
            tokenizer.vocab_size,
            model_conf,
            tokenizer.pad_id,
            tokenizer.bos_id,
            tokenizer.eos_id,
        )

    def encode(self, feats: torch.Tensor, feat_mask: torch.Tensor):
        """(B, T, enc_dim), (B, T) bool -> BaseModelOutput with (B, T, d_model)."""
        from transformers.modeling_outputs import BaseModelOutput

        hidden = self.input_norm(self.proj(feats))  # (B, T, d_model)
        if self.conf.audio_positions == "sinusoidal":
            hidden = hidden + sinusoidal_positions(hidden.size(1), hidden.size(2), hidden)
        hidden = self.input_dropout(hidden)
        if self.adapter is not None:
            hidden = self.adapter(hidden, feat_mask)  # (B, T, d_model)
        hidden = hidden * feat_mask.unsqueeze(-1).to(hidden.dtype)  # padded frames zeroed
        return BaseModelOutput(last_hidden_state=hidden)

    def decoder_inputs(self, labels: torch.Tensor) -> torch.Tensor:
        """Teacher forcing input: bos + labels[:-1], pads kept as pad. (B, L)."""
        start = labels.new_full((labels.size(0), 1), self.bos_id)
        return torch.cat([start, labels[:, :-1]], dim=1)

    def embed_audio(self, feats: torch.Tensor, feat_mask: torch.Tensor) -> torch.Tensor:
        """(B, T, enc_dim), (B, T) bool -> (B, E) L2-normalised audio embedding (the text-
        embedding head on the pooled audio-side frames); only with model.text_embedding_dim."""
        return self._embedding(self.encode(feats, feat_mask).last_hidden_state, feat_mask)

    def _embedding(self, hidden: torch.Tensor, feat_mask: torch.Tensor) -> torch.Tensor:
        if self.text_head is None:
            raise NoTextEmbeddingHead(
                "this caption model has no text-embedding head (trained with "
                "model.text_embedding_dim: 0); train with text_embedding.weight > 0"
            )
        return self.text_head(hidden, feat_mask)

    def token_nll(self, feats, feat_mask, labels, enc=None) -> tuple:
        """Summed NLL over non-pad target tokens and their count (for exact DDP averaging)."""
        enc = self.encode(feats, feat_mask) if enc is None else enc
        out = self.bart(
            encoder_outputs=enc,
            attention_mask=feat_mask.long(),
            decoder_input_ids=self.decoder_inputs(labels),
            decoder_attention_mask=(labels != self.pad_id).long(),
            use_cache=False,
        )
        logits = out.logits.float()  # (B, L, V)
        target = labels.masked_fill(labels == self.pad_id, IGNORE_ID)  # (B, L)
        nll = F.cross_entropy(
            logits.transpose(1, 2),
            target,
            ignore_index=IGNORE_ID,
            label_smoothing=self.conf.label_smoothing,
            reduction="sum",
        )
        return nll, (target != IGNORE_ID).sum()

    def forward(
        self,
        feats: torch.Tensor,
        feat_mask: torch.Tensor,
        labels: torch.Tensor,
        reduce: bool = True,
        embed: bool = False,
    ):
        """Mean token NLL (label-smoothed if configured); labels (B, L) end with eos.

        `reduce=False` returns (summed NLL, token count): the trainer divides by the token
        count of the global batch so DDP gradients equal single-process ones exactly.
        `embed=True` (with reduce=False) adds the (B, E) audio embedding of `embed_audio`,
        from the same encoded frames (one forward, so DDP sees one call).
        """
        enc = self.encode(feats, feat_mask)
        nll, count = self.token_nll(feats, feat_mask, labels, enc)
        if embed:
            return nll, count, self._embedding(enc.last_hidden_state, feat_mask)
        return nll / count.clamp(min=1) if reduce else (nll, count)

    @torch.no_grad()
    def generation_inputs(
        self,
        feats: torch.Tensor,
        feat_mask: torch.Tensor,
        num_beams: int = 4,
        max_length: Optional[int] = None,
        **search,
    ) -> dict:
        """Keyword arguments of HF `generate` for token ids (B, L') starting with bos.

        Beam search (num_beams > 1) or greedy; `search` replaces settings of HF's
        (num_return_sequences, do_sample, temperature, top_p: aac.rerank's candidates).
        Beam search and several sequences per clip need `beam_shared_attention` around
        `generate`: its cache holds cross-attention keys/values once per clip (on a
        transformers release outside `SHARED_CROSS_ATTENTION_TESTED`, no cache is handed
        over and HF's default search runs).
        """
        enc = self.encode(feats, feat_mask)
        max_length = max_length or self.conf.max_target_length
        cache = {}
        rows = max(num_beams, search.get("num_return_sequences", 1))
        if rows > 1 and shared_cross_attention_supported():
            cache[generate_cache_kwarg(self.bart)] = beam_search_cache(
                self.bart, enc.last_hidden_state
            )
        return dict(
            encoder_outputs=enc,
            attention_mask=feat_mask.long(),
            **cache,
            num_beams=num_beams,
            max_length=max_length + 1,  # +1: the bos start token
            decoder_start_token_id=self.bos_id,
            bos_token_id=self.bos_id,
            eos_token_id=self.eos_id,
            pad_token_id=self.pad_id,
            **{"do_sample": False, "num_return_sequences": 1, **search},
        )
