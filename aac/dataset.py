"""Training data: captions from a Kaldi data dir, frames from an HDF5 feature cache.

Features are read lazily, one clip per item, so the cache streams from disk. A dataset
takes an opened `FeatureReader` (aac-train opens each cache once and passes it along) or
a cache's path (opened on first use); the reader opens its HDF5 file inside each process
(h5py handles must not cross a fork into DataLoader workers). Downsampling by `k` is
`aac.frames.stride_frames`, as in the paper.

Batches: `GlobalBatchSampler` draws one permutation per (seed, epoch), cuts it into
global batches of `batch_size`, and gives each rank its contiguous share of every global
batch; 2 ranks x 16 therefore see exactly the examples 1 rank x 32 sees.
"""

from __future__ import annotations

import logging
import math
import os
from array import array
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from aac.datadir import MIX_SEP, clip_of, mixture_parts, read_kaldi_text, read_references
from aac.feature_info import open_features
from aac.features.cache import FeatureReader, check_finite
from aac.frames import stride_frames

logger = logging.getLogger(__name__)


def read_caption_pairs(data_dir: str | os.PathLike) -> List[Tuple[str, str]]:
    """(clip_id, raw caption) from `text` (training sets) or else `text_spk1..5`."""
    text = Path(data_dir) / "text"
    if text.is_file():
        return [(clip_of(key), cap) for key, cap in read_kaldi_text(text).items()]
    refs = read_references(data_dir)
    return [(clip, cap) for clip, caps in refs.items() for cap in caps]


def as_reader(feats):
    """`feats` itself when it is an opened reader, else the cache at that path, opened."""
    return feats if isinstance(feats, FeatureReader) else open_features(feats)


def keep_available(pairs: Sequence[Tuple[str, str]], feats, what: str) -> list:
    """Drop captions whose clip has no cached features (stage 3 skips bad audio);
    `feats` is an opened reader or a cache path."""
    reader = as_reader(feats)
    feats_path = reader.path
    kept = [p for p in pairs if p[0] in reader]
    missing = sorted({p[0] for p in pairs if p[0] not in reader})
    if missing:
        logger.warning(
            "%s: %d clips have no features in %s (skipped), e.g. %s",
            what,
            len(missing),
            feats_path,
            missing[:3],
        )
    if not kept:
        raise ValueError(f"{what}: none of its clips are in {feats_path}")
    return kept


def keep_mixtures(pairs: Sequence[Tuple[str, str]], feats, what: str) -> list:
    """Mix-up (mixture id, caption) pairs whose two clips both have cached features;
    `feats` is an opened reader or a cache path."""
    reader = as_reader(feats)
    kept = [p for p in pairs if all(c in reader for c in mixture_parts(p[0]))]
    if len(kept) < len(pairs):
        logger.warning(
            "%s: %d of %d mixture captions name a clip without features in %s (skipped)",
            what,
            len(pairs) - len(kept),
            len(pairs),
            reader.path,
        )
    return kept


def mix_frames(a: np.ndarray, b: np.ndarray, mode: str) -> np.ndarray:
    """Two clips' frames (Ta, D), (Tb, D) -> the mixture's: A then B (concat, Ta + Tb
    frames) or the frame-wise sum, the shorter one zero-padded (sum, max(Ta, Tb))."""
    if mode == "concat":
        return np.concatenate([a, b], axis=0)
    out = np.zeros((max(len(a), len(b)), a.shape[1]), dtype=np.float32)
    out[: len(a)] += a
    out[: len(b)] += b
    return out


class _LazyFeatures:
    """The cache's reader (opened on first use when given a path) and the stride; the
    reader pickles without its open file, so DataLoader workers each open their own. A
    mixture id `clipA+clipB` reads both clips and mixes them (`mix_frames`) before the
    stride."""

    def __init__(self, feats, downsample: int, mix_mode: str = "concat"):
        if downsample < 1:
            raise ValueError(f"downsample must be >= 1, got {downsample}")
        self.downsample, self.mix_mode = downsample, mix_mode
        self._reader = feats if isinstance(feats, FeatureReader) else None
        self.feats_path = self._reader.path if self._reader else str(feats)

    @property
    def reader(self):
        if self._reader is None:
            self._reader = open_features(self.feats_path)
        return self._reader

    def raw(self, clip_id: str) -> np.ndarray:
        feats = np.asarray(self.reader[clip_id], dtype=np.float32)  # (T, D)
        check_finite(feats, clip_id, self.feats_path)  # NaN would train NaN weights silently
        return feats

    def frames(self, clip_id: str) -> np.ndarray:
        if MIX_SEP in clip_id:
            a, b = mixture_parts(clip_id)
            feats = mix_frames(self.raw(a), self.raw(b), self.mix_mode)
        else:
            feats = self.raw(clip_id)
        strided, _ = stride_frames(feats[None], None, self.downsample)  # (1, ceil(T/k), D)
        return np.ascontiguousarray(strided[0])


class CaptionDataset(torch.utils.data.Dataset):
    """Item i -> (frames (T, D) float32, token ids ending with eos).

    Captions are held as token ids in one flat int32 array with offsets (and one clip
    index per caption), not as Python lists: about 4 bytes per token instead of ~1.6 kB
    per caption, so a WavCaps-sized training set fits in memory. A pair's clip may be a
    mix-up mixture `clipA+clipB` (mixed as `mix_mode` says)."""

    def __init__(
        self,
        pairs,
        feats,
        tokenizer,
        max_target_length: int,
        downsample: int = 1,
        mix_mode: str = "concat",
    ):
        self.feats = _LazyFeatures(feats, downsample, mix_mode)  # an opened reader or a path
        self.clip_ids: List[str] = []  # distinct clips, in first-seen order
        index: Dict[str, int] = {}
        item_clip, flat, ends = array("i"), array("i"), array("q")
        for clip, caption in pairs:
            item_clip.append(index.setdefault(clip, len(index)))
            if len(index) > len(self.clip_ids):
                self.clip_ids.append(clip)
            flat.extend(tokenizer.encode(caption)[: max_target_length - 1])
            flat.append(tokenizer.eos_id)
            ends.append(len(flat))
        self.item_clip = np.frombuffer(item_clip, dtype=np.int32)  # (N,)
        self.token_ids = np.frombuffer(flat, dtype=np.int32)  # (sum of caption lengths,)
        self.offsets = np.concatenate([[0], np.frombuffer(ends, dtype=np.int64)])  # (N + 1,)

    def __len__(self):
        return len(self.item_clip)

    @property
    def reader(self):
        """The feature cache's reader, opened once (validation reuses it)."""
        return self.feats.reader

    def clip_id(self, i: int) -> str:
        return self.clip_ids[self.item_clip[i]]

    def tokens(self, i: int) -> List[int]:
        return self.token_ids[self.offsets[i] : self.offsets[i + 1]].tolist()

    def __getitem__(self, i):
        return self.feats.frames(self.clip_id(i)), self.tokens(i)


def pad_frames(frames: Sequence[np.ndarray]) -> Tuple[torch.Tensor, torch.Tensor]:
    """List of (T_i, D) -> feats (B, T, D) zero-padded and lengths (B,)."""
    lengths = torch.tensor([len(f) for f in frames], dtype=torch.long)
    out = torch.zeros(len(frames), int(lengths.max()), frames[0].shape[1])
    for i, f in enumerate(frames):
        out[i, : len(f)] = torch.from_numpy(np.asarray(f, dtype=np.float32))
    return out, lengths


def lengths_to_mask(lengths: torch.Tensor, max_len: Optional[int] = None) -> torch.Tensor:
    """(B,) -> (B, T) bool, True on real frames."""
    max_len = int(lengths.max()) if max_len is None else max_len
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


def collate_captions(batch, pad_id: int) -> Dict[str, torch.Tensor]:
    """Items (frames, token ids[, item index]) -> feats, feat_mask, labels[, index]."""
    feats, lengths = pad_frames([b[0] for b in batch])  # (B, T, D), (B,)
    max_tokens = max(len(b[1]) for b in batch)
    labels = torch.full((len(batch), max_tokens), pad_id, dtype=torch.long)  # (B, L)
    for i, item in enumerate(batch):
        labels[i, : len(item[1])] = torch.tensor(item[1], dtype=torch.long)
    out = {"feats": feats, "feat_mask": lengths_to_mask(lengths), "labels": labels}
    if len(batch[0]) > 2:
        out["index"] = torch.tensor([b[2] for b in batch], dtype=torch.long)  # (B,)
    return out


class GlobalBatchSampler(torch.utils.data.Sampler):
    """Deterministic per-rank batches; every example once per epoch over all ranks.

    When the last global batch has fewer examples than ranks, it is topped up with its own
    examples (as DistributedSampler pads) so no rank ever gets an empty batch.
    `start_batch` skips batches already trained before a mid-epoch checkpoint.
    """

    def __init__(
        self,
        num_examples: int,
        batch_size: int,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        shuffle: bool = True,
    ):
        if batch_size < world_size:
            raise ValueError(f"batch_size {batch_size} is smaller than the {world_size} ranks")
        self.n, self.batch_size, self.seed = num_examples, batch_size, seed
        self.rank, self.world, self.shuffle = rank, world_size, shuffle
        self.epoch, self.start_batch = 0, 0

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        self.epoch, self.start_batch = epoch, start_batch

    def global_batches(self) -> List[List[int]]:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 100003 + self.epoch)
            order = torch.randperm(self.n, generator=g).tolist()
        else:
            order = list(range(self.n))
        return [order[i : i + self.batch_size] for i in range(0, self.n, self.batch_size)]

    def __len__(self):
        return max(0, math.ceil(self.n / self.batch_size) - self.start_batch)

    def __iter__(self):
        for batch in self.global_batches()[self.start_batch :]:
            while len(batch) < self.world:
                batch = batch + batch[: self.world - len(batch)]
            share = math.ceil(len(batch) / self.world)
            yield batch[self.rank * share : (self.rank + 1) * share] or batch[-1:]
