"""Batched caption decoding and speed figures (stage 6), from cached features or from audio.

Clips are decoded in batches of similar duration. Speed is reported as RTF = seconds of
audio per second of wall time (higher is faster; see docs/design.md). A clip's figure is
that of its batch (batch audio seconds / batch wall seconds), so with `--batch-size 1` it
is exactly per clip. The first batch is a warm-up and is left out of the figures.
Features mode times the caption model only; audio mode times encoder + caption model,
audio file reading excluded.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import torch
from tqdm import tqdm

from aac.atomic import write_json_atomic
from aac.datadir import read_kaldi_text, read_utt2dur, write_kaldi_text
from aac.dataset import length_sorted_batches, open_features, pad_frames
from aac.inference import LoadedModel, generate_captions

RTF_DEFINITION = "seconds of audio per second of wall time (higher is faster)"


def select_clips(data_dir: Path, keys_file: Optional[str]) -> Dict[str, float]:
    """clip id -> duration (utt2dur), restricted to the ids of `keys_file` (first column)."""
    durations = read_utt2dur(data_dir)
    if keys_file:
        wanted = [line.split()[0] for line in Path(keys_file).read_text().splitlines() if line.strip()]
        unknown = [k for k in wanted if k not in durations]
        if unknown:
            raise ValueError(f"{keys_file}: {len(unknown)} ids not in {data_dir}/utt2dur, "
                             f"e.g. {unknown[:3]}")
        durations = {k: durations[k] for k in wanted}
    if not durations:
        raise ValueError(f"{data_dir}: no clips to decode")
    return durations


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def decode_features(loaded: LoadedModel, durations: Dict[str, float], feats_path, beam: int,
                    batch_size: int, downsample: int, max_length: Optional[int]):
    """Captions and per-batch timings [(ids, seconds)] from an HDF5 feature cache."""
    reader = open_features(feats_path)
    dim = loaded.config.get("enc_dim")
    captions, timings = {}, []
    for ids in tqdm(length_sorted_batches(durations, batch_size), desc="decode", unit="batch"):
        try:
            frames = [np.asarray(reader[c], dtype=np.float32) for c in ids]
        except KeyError as e:
            raise KeyError(f"{feats_path}: no features for clip {e}") from None
        if frames[0].shape[1] != dim:
            raise ValueError(f"{feats_path}: feature dim {frames[0].shape[1]} but the model "
                             f"expects {dim}")
        feats, lengths = pad_frames(frames)  # (B, T, D), (B,)
        _sync(loaded.device)
        start = time.perf_counter()
        caps = generate_captions(loaded, feats, lengths, beam, max_length, downsample)
        _sync(loaded.device)
        timings.append((ids, time.perf_counter() - start))
        captions.update(zip(ids, caps))
    return captions, timings


def decode_audio(loaded: LoadedModel, durations: Dict[str, float], wav_scp: Path, beam: int,
                 batch_size: int, downsample: int, max_length: Optional[int]):
    """Captions and timings running the experiment's encoder on wav.scp audio."""
    from aac.audio import load_mono
    from aac.inference import build_encoder_from_info, encode_waves

    encoder = build_encoder_from_info(loaded.encoder_info, loaded.device)
    specs = read_kaldi_text(wav_scp)
    captions, timings = {}, []
    for ids in tqdm(length_sorted_batches(durations, batch_size), desc="decode", unit="batch"):
        waves = [torch.from_numpy(load_mono(specs[c], encoder.sample_rate)) for c in ids]
        _sync(loaded.device)
        start = time.perf_counter()  # audio reading above is not timed
        feats, lengths = encode_waves(loaded, encoder, waves)
        caps = generate_captions(loaded, feats, lengths, beam, max_length, downsample)
        _sync(loaded.device)
        timings.append((ids, time.perf_counter() - start))
        captions.update(zip(ids, caps))
    return captions, timings


def rtf_figures(values) -> dict:
    """The paper's Table 2 figures of per-clip RTF: mean, median, 10th percentile."""
    if len(values) == 0:
        return {"mean": None, "median": None, "p10": None}
    values = np.asarray(values, dtype=float)
    return {"mean": float(values.mean()), "median": float(np.median(values)),
            "p10": float(np.percentile(values, 10))}


def rtf_summary(per_clip: Dict[str, float], warmup: List[str], mode: str, extra=None) -> dict:
    """Mean, median and 10th percentile of per-clip RTF (warm-up clips excluded)."""
    values = [per_clip[k] for k in sorted(per_clip)]
    out = {"mode": mode, "definition": RTF_DEFINITION, "num_clips": len(values),
           **rtf_figures(values),
           "warmup_clips": sorted(warmup), **(extra or {}),
           "per_clip": {k: per_clip[k] for k in sorted(per_clip)}}
    return out


def timings_to_rtf(timings, durations: Dict[str, float]):
    """Per-clip RTF from batch timings; the first batch is warm-up unless it is the only one."""
    per_clip, warmup = {}, []
    for i, (ids, seconds) in enumerate(timings):
        if i == 0 and len(timings) > 1:
            warmup.extend(ids)
            continue
        rtf = sum(durations[c] for c in ids) / max(seconds, 1e-9)
        per_clip.update({c: rtf for c in ids})
    return per_clip, warmup


def write_outputs(out_dir: Path, captions: Dict[str, str], rtf: dict) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    write_kaldi_text(out_dir / "text", captions.items())
    write_json_atomic(out_dir / "rtf.json", rtf, indent=1)


def merge_decodes(out_dir: Path, part_dirs: List[Path]) -> int:
    """Concatenate parts' text and rtf.json; duplicate clip ids are an error."""
    captions, per_clip, warmup, extra, mode = {}, {}, [], {}, None
    for part in part_dirs:
        for key, caption in read_kaldi_text(part / "text").items():
            if key in captions:
                raise ValueError(f"{part}/text: clip {key!r} is also in another part")
            captions[key] = caption
        rtf = json.loads((part / "rtf.json").read_text(encoding="utf-8"))
        if mode is not None and rtf["mode"] != mode:
            raise ValueError(f"{part}/rtf.json: mode {rtf['mode']} differs from {mode}")
        mode = rtf["mode"]
        per_clip.update(rtf["per_clip"])
        warmup += rtf["warmup_clips"]
        extra = {k: rtf[k] for k in ("beam", "batch_size", "device", "downsample") if k in rtf}
    write_outputs(out_dir, captions, rtf_summary(per_clip, warmup, mode, extra))
    return len(captions)
