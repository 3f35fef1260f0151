"""Run an encoder over a `wav.scp` into the HDF5 cache: the work behind `aac-extract-feats`.

Clips are sorted by duration and batched `batch_size` at a time; the encoder runs clips
of equal length together (see aac.encoders.base), so a clip's features never depend on
its batch. Unreadable clips are skipped with their reason; clips shorter than the
encoder's minimum input are zero-padded at the end and counted. Already written clips
of a `.partial` file are skipped, which makes a killed run resumable (a clip counts as
written once marked complete; see aac.features.cache). Clips longer than
`chunk_seconds` are encoded in chunks (aac.encoders.chunking), read from their file
block by block when they are plain files, so memory stays flat.
The published file records `num_listed` (clips asked for), `num_skipped` and
`num_clips`; a run that would publish fewer clips than asked minus skipped stops.
"""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from tqdm import tqdm

from aac.audio import AudioError, audio_duration, load_mono, scp_mono_blocks, spec_kind
from aac.encoders import AudioEncoder
from aac.encoders.chunking import chunk_plan, encode_blocks, encode_chunked
from aac.features.cache import DEFAULT_CHUNK_SECONDS, FeatureCacheError, FeatureWriter
from aac.frames import stride_frames

log = logging.getLogger(__name__)


@dataclass
class ExtractResult:
    written: int = 0  # clips written by this run
    resumed: int = 0  # clips already present in the partial file
    padded: List[str] = field(default_factory=list)
    skipped: Dict[str, str] = field(default_factory=dict)  # clip id -> reason
    output: Optional[str] = None  # the finished file, None if nothing could be written


def cache_attrs(
    encoder: AudioEncoder,
    extract_stride: int,
    dtype: str,
    encoder_conf: dict,
    chunk_seconds: Optional[float] = None,
) -> dict:
    attrs = encoder.describe()
    attrs.update(
        frame_rate=float(encoder.frame_rate / extract_stride),
        extract_stride=int(extract_stride),
        dtype=dtype,
        encoder_conf=json.dumps(encoder_conf or {}, sort_keys=True),
        # BEATs features of clips longer than a chunk depend on it (aac.encoders.chunking)
        chunk_seconds=float(chunk_seconds or 0.0),
    )
    if encoder.random_init:
        attrs["warning"] = (
            "RANDOM INIT: features of randomly initialised weights, not a pretrained encoder"
        )
    return attrs


def order_by_duration(clips: Sequence[Tuple[str, str]], durations: Dict[str, float]):
    """Sort (id, spec) by duration; unknown durations are read from headers (or sort last)."""

    def duration(item):
        if item[0] in durations:
            return durations[item[0]]
        try:
            return audio_duration(item[1])
        except AudioError:
            return float("inf")  # fails again when loaded, and is reported then

    return sorted(clips, key=lambda item: (duration(item), item[0]))


def _load_batch(batch, rate: int, result: ExtractResult):
    ids, waves = [], []
    for clip_id, spec in batch:
        try:
            waves.append(torch.from_numpy(load_mono(spec, rate)))
            ids.append(clip_id)
        except AudioError as e:
            result.skipped[clip_id] = str(e)
            log.warning("skipping %s: %s", clip_id, e)
    return ids, waves


def _amp(device, autocast_dtype):
    if autocast_dtype:
        return torch.autocast(device.type, dtype=autocast_dtype)
    return contextlib.nullcontext()


def _encode(encoder, waves, device, autocast_dtype, extract_stride, chunk_seconds):
    lengths = torch.tensor([len(w) for w in waves])
    wave = torch.nn.utils.rnn.pad_sequence(waves, batch_first=True).to(device)  # (B, T)
    with torch.no_grad(), _amp(device, autocast_dtype):
        feats, feat_lengths = encode_chunked(encoder, wave, lengths, chunk_seconds)  # (B, T', D)
    return stride_frames(feats, feat_lengths.cpu(), extract_stride)


def _encode_long_files(batch, encoder, device, autocast_dtype, chunk_seconds, result, rest):
    """Clips of `batch` longer than one chunk, encoded straight from their file block by
    block (never loaded whole): yields (clip id, (T', D) features); `rest` gets the others."""
    plan = chunk_plan(encoder, chunk_seconds)
    for clip_id, spec in batch:
        try:
            if not (plan and spec_kind(spec) == "file") or (
                audio_duration(spec) * encoder.sample_rate <= plan[1]
            ):
                rest.append((clip_id, spec))
                continue
            blocks = (torch.from_numpy(b) for b in scp_mono_blocks(spec, encoder.sample_rate))
            with torch.no_grad(), _amp(device, autocast_dtype):
                yield clip_id, encode_blocks(encoder, blocks, chunk_seconds, device)
        except AudioError as e:
            result.skipped[clip_id] = str(e)
            log.warning("skipping %s: %s", clip_id, e)


def _publish(writer: FeatureWriter, result: ExtractResult, num_listed: int) -> Optional[str]:
    """Publish the file when it holds every clip not skipped; None when it holds none."""
    if result.written + result.resumed == 0:
        writer.discard()  # nothing usable: leave no file that looks like a result
        return None
    expected = num_listed - len(result.skipped)
    if len(writer) != expected:  # a bug guard: never publish a file missing clips
        raise FeatureCacheError(
            f"{writer.partial}: holds {len(writer)} clips, expected "
            f"{expected} ({num_listed} listed, {len(result.skipped)} "
            f"skipped); not publishing it"
        )
    return writer.finish(
        {
            "num_listed": num_listed,
            "num_skipped": len(result.skipped),
            "num_padded": len(result.padded),
        }
    )


def extract_features(
    encoder: AudioEncoder,
    clips: Sequence[Tuple[str, str]],
    output: str,
    *,
    extract_stride: int = 1,
    batch_size: int = 8,
    device: str = "cpu",
    dtype: str = "float32",
    durations: Optional[Dict[str, float]] = None,
    encoder_conf: Optional[dict] = None,
    chunk_seconds: Optional[float] = DEFAULT_CHUNK_SECONDS,
) -> ExtractResult:
    """Extract `clips` [(clip_id, wav.scp value)] into `output`; see the module docstring."""
    result = ExtractResult()
    dev = torch.device(device)
    encoder.to(dev)
    np_dtype = np.dtype(dtype)
    # float16 storage on a GPU also computes under autocast (frontends stay float32)
    autocast_dtype = torch.float16 if (dtype == "float16" and dev.type == "cuda") else None
    attrs = cache_attrs(encoder, extract_stride, dtype, encoder_conf, chunk_seconds)
    with FeatureWriter(output, attrs) as writer:
        todo = [c for c in clips if c[0] not in writer]
        result.resumed = len(clips) - len(todo)
        if result.resumed:
            log.info(
                "%s: resuming, %d of %d clips already done",
                writer.partial,
                result.resumed,
                len(clips),
            )
        todo = order_by_duration(todo, durations or {})
        batches = [todo[i : i + batch_size] for i in range(0, len(todo), batch_size)]
        with tqdm(total=len(todo), unit="clip", desc=f"{encoder.name} -> {output}") as bar:
            for batch in batches:
                short = []
                for clip_id, feats in _encode_long_files(
                    batch, encoder, dev, autocast_dtype, chunk_seconds, result, short
                ):
                    feats, _ = stride_frames(feats[None], None, extract_stride)
                    writer.write(clip_id, feats[0].float().cpu().numpy().astype(np_dtype))
                    writer.flush()
                    result.written += 1
                ids, waves = _load_batch(short, encoder.sample_rate, result)
                if ids:
                    result.padded += [i for i, w in zip(ids, waves) if len(w) < encoder.min_samples]
                    feats, lengths = _encode(
                        encoder, waves, dev, autocast_dtype, extract_stride, chunk_seconds
                    )
                    for j, clip_id in enumerate(ids):
                        writer.write(
                            clip_id, feats[j, : lengths[j]].float().cpu().numpy().astype(np_dtype)
                        )
                    writer.flush()  # data first, then the clips' completion marks
                    result.written += len(ids)
                bar.update(len(batch))
        result.output = _publish(writer, result, len(clips))
    return result
