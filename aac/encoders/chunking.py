"""Encode long clips in chunks, so peak memory stays flat in clip length.

    from aac.encoders.chunking import encode_chunked
    feats, feat_lengths = encode_chunked(encoder, wave, lengths, chunk_seconds=60.0)
    # (B, T) at encoder.sample_rate -> (B, T', D), (B,): what encoder(wave, lengths) gives

A 20-minute clip through `pann_cnn14` in one call holds every intermediate activation of
the whole clip (7.1 GB peak); in chunks only one chunk's activations live at a time.

The chunking rule. An encoder emits `frames_per_step` frames for every `step` input
samples (`step = sample_rate / frame_rate * frames_per_step`, an integer for every
registered encoder: logmel 640, pann_cnn14 10240 (32 STFT hops), pann_cnn14_16k 5120,
dcase23_cnn14 56448 (64 hops), beats 2560 (one 16-frame fbank patch)). A chunk's core is
a whole number of steps starting at a multiple of `step`, so its frame boundaries (STFT
frames, pooling windows, patches) fall exactly where they fall in the whole clip.
Around each core the window gets the encoder's `chunk_context` steps of real audio on
each side (plus the `min_samples - step` samples the encoder needs past a step to emit
it); the frames of that context are computed and dropped. Convolutions see the clip's
real neighbours instead of zero or reflect padding as long as the context covers the
receptive field (each encoder class says why its context does). Chunked frames then
equal unchunked ones up to float32 rounding, not bit for bit: a chunk is a matrix of
another shape, and BLAS may sum it in another order (logmel, AMD EPYC: max abs
difference 9e-8 at values of order 1; Cnn14 on random weights, 16 s clip in 2 s chunks:
7e-11 at outputs of 2.5e-4, relative 3e-7).

`beats` is a Transformer attending over the whole clip, so no finite context makes
chunks exact: its context is 0 and BEATs chunks are INDEPENDENT windows, each chunk's
frames seeing only that chunk, like captioning a long file window by window. Features
of clips longer than one chunk therefore differ from a whole-clip pass (random weights,
20 s in 5 s chunks: relative max difference 0.2); a cache records `chunk_seconds` so the
difference is never silent. Pass `chunk_seconds=None` for a whole-clip pass when memory
allows.

Clips no longer than one chunk plus its context are encoded in one call, unchanged.
`encode_blocks(encoder, blocks, chunk_seconds)` encodes one clip that arrives in blocks
(aac.audio.MonoBlocks) by the same chunks, holding only the current chunk's audio, so a
long file is never loaded whole; its frames equal `encode_chunked` on the whole clip.
"""

from __future__ import annotations

from typing import Iterable, Optional, Tuple

import torch


def chunk_geometry(encoder) -> Tuple[int, int, int, int]:
    """(step samples, frames per step, context steps, tail samples) of `encoder`."""
    fps = encoder.frames_per_step
    step = encoder.sample_rate / encoder.frame_rate * fps
    if abs(step - round(step)) > 1e-6:
        raise ValueError(
            f"{encoder.name}: {step} samples per frame step is not an integer; cannot align chunks"
        )
    step = int(round(step))
    return step, fps, encoder.chunk_context, max(0, encoder.min_samples - step)


def chunk_plan(encoder, chunk_seconds: Optional[float]) -> Optional[Tuple[int, int]]:
    """(steps per chunk, longest clip encoded in one call, in samples); None: no chunking."""
    if not chunk_seconds or chunk_seconds <= 0:
        return None
    step, _, context, tail = chunk_geometry(encoder)
    chunk_steps = max(1, int(chunk_seconds * encoder.sample_rate) // step)
    return chunk_steps, (chunk_steps + 2 * context) * step + tail


@torch.no_grad()
def _encode_stream(encoder, blocks: Iterable[torch.Tensor], chunk_steps: int, device=None):
    """(t,) blocks of one clip -> (T', D) by chunks of `chunk_steps` steps.

    Reads blocks only until the next chunk's window is complete and known not to be the
    last one (or the clip has ended), so each window is the one the whole clip would give.
    """
    step, fps, context, tail = chunk_geometry(encoder)
    blocks = iter(blocks)
    buf, buf_start, total, ended = None, 0, 0, False  # buf: samples from buf_start on
    pieces, first = [], 0

    def n_steps(samples: int) -> int:
        return -(-encoder.num_frames(samples) // fps)

    while True:
        need_steps, need_end = first + chunk_steps + context, (first + chunk_steps + context) * step
        while not ended and (n_steps(total) <= need_steps or total < need_end + tail):
            block = next(blocks, None)
            if block is None:
                ended = True
            elif len(block):
                block = torch.as_tensor(block)
                buf = block if buf is None else torch.cat([buf, block.to(buf.device)])
                total += len(block)
        if buf is None:
            raise ValueError(f"{encoder.name}: no audio to encode")
        steps = n_steps(total) if ended else None
        if ended and first >= steps:
            break
        last = first + chunk_steps if steps is None else min(first + chunk_steps, steps)
        lo = max(0, first - context)
        end = total if (ended and last + context >= steps) else (last + context) * step + tail
        window = buf[lo * step - buf_start : min(total, end) - buf_start][None]  # (1, t)
        if device is not None:
            window = window.to(device)
        feats, _ = encoder(window, torch.tensor([window.shape[1]]))  # (1, t', D)
        a, b = (first - lo) * fps, min((last - lo) * fps, feats.shape[1])
        pieces.append(feats[0, a:b])
        first = last
        keep = max(0, first - context) * step  # the next window starts here
        buf, buf_start = buf[keep - buf_start :], keep
    out = torch.cat(pieces)  # (T', D)
    if out.shape[0] != encoder.num_frames(total):
        raise RuntimeError(
            f"{encoder.name}: chunked encoding gave {out.shape[0]} frames, "
            f"expected {encoder.num_frames(total)} for {total} samples"
        )
    return out


def encode_blocks(
    encoder, blocks: Iterable[torch.Tensor], chunk_seconds: float = 60.0, device=None
) -> torch.Tensor:
    """(T', D) features of one clip given as (t,) blocks at encoder.sample_rate.

    The frames `encode_chunked` gives for the whole clip, with only about one chunk of
    audio held at a time. `chunk_seconds` must be positive.
    """
    plan = chunk_plan(encoder, chunk_seconds)
    if plan is None:
        raise ValueError("encode_blocks needs a positive chunk_seconds")
    return _encode_stream(encoder, blocks, plan[0], device)


@torch.no_grad()
def encode_chunked(
    encoder,
    wave: torch.Tensor,
    lengths: Optional[torch.Tensor] = None,
    chunk_seconds: Optional[float] = 60.0,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """encoder(wave, lengths) for (B, T) waves, long clips in chunks of ~`chunk_seconds`.

    Returns (B, T', D) features, zero beyond each clip's length, and (B,) frame counts,
    as `encoder(wave, lengths)` does. `chunk_seconds` None or <= 0 disables chunking.
    Clips short enough for one chunk go through `encoder` together in one call.
    """
    if lengths is None:
        lengths = torch.full((wave.shape[0],), wave.shape[1], dtype=torch.long)
    lengths = lengths.to("cpu", torch.long)
    plan = chunk_plan(encoder, chunk_seconds)
    if plan is None:
        return encoder(wave, lengths)
    chunk_steps, one_call = plan
    long_ids = [i for i, n in enumerate(lengths.tolist()) if n > one_call]
    if not long_ids:
        return encoder(wave, lengths)
    outputs = [None] * wave.shape[0]
    short_ids = [i for i in range(wave.shape[0]) if i not in long_ids]
    if short_ids:
        idx = torch.tensor(short_ids)
        sub_len = lengths[idx]
        feats, feat_len = encoder(wave[idx.to(wave.device), : int(sub_len.max())], sub_len)
        for j, i in enumerate(short_ids):
            outputs[i] = feats[j, : int(feat_len[j])]
    for i in long_ids:
        outputs[i] = _encode_stream(encoder, [wave[i, : int(lengths[i])]], chunk_steps)
    out_lengths = torch.tensor([o.shape[0] for o in outputs])
    out = outputs[0].new_zeros((len(outputs), int(out_lengths.max()), outputs[0].shape[-1]))
    for i, f in enumerate(outputs):
        out[i, : f.shape[0]] = f
    return out, out_lengths
