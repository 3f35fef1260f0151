"""Pre-training data: waveforms read on the fly from `wav.scp`, captions or labels beside them.

ATCL reads a Kaldi data dir's `wav.scp` and its captions (`text`: `<clip>#<k> caption`, or
`text_spk1..5`). MLAC reads `wav.scp` and `labels`, one line per clip:

    <clip_id> <label>[,<label>...]      (commas or spaces between labels; a label holds neither)

Label names are free tokens (AudioSet MIDs such as /m/09x0r for `aac-prep-tagging`
output). The class list is the dir's `classes` file (one label per line, output order)
when there is one, else the sorted labels of the training set.

Every item is a fixed window of `crop_seconds` at the encoder's rate (random start when
training, the clip's start otherwise), zero-padded when the clip is shorter, plus the
clip's valid length: equal-length batches need one encoder call, and pooling ignores the
padding. Randomness (crop start, which caption) is a function of (seed, epoch, item), so
a resumed run draws what an uninterrupted one would.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from aac.audio import load_mono
from aac.datadir import DataDirError, clip_of, read_kaldi_text, read_references
from aac.dataset import GlobalBatchSampler


def read_wav_scp(data_dir) -> Dict[str, str]:
    path = Path(data_dir) / "wav.scp"
    if not path.is_file():
        raise DataDirError(f"{path}: wav.scp not found")
    return read_kaldi_text(path)


def read_clip_captions(data_dir) -> Dict[str, List[str]]:
    """clip id -> its captions, from `text` (training sets) or `text_spk1..5`."""
    text = Path(data_dir) / "text"
    if text.is_file():
        out: Dict[str, List[str]] = {}
        for key, caption in read_kaldi_text(text).items():
            out.setdefault(clip_of(key), []).append(caption)
        return out
    return {c: list(caps) for c, caps in read_references(data_dir).items()}


def read_labels(data_dir) -> Dict[str, List[str]]:
    path = Path(data_dir) / "labels"
    if not path.is_file():
        raise DataDirError(f"{path}: labels not found (lines '<clip_id> <label>[,<label>...]')")
    out = {}
    for clip, value in read_kaldi_text(path).items():
        out[clip] = [x for x in re.split(r"[,\s]+", value) if x]
    return out


def read_classes(data_dir, labels: Dict[str, List[str]]) -> List[str]:
    path = Path(data_dir) / "classes"
    if path.is_file():
        return [
            line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
        ]
    return sorted({x for xs in labels.values() for x in xs})


def _item_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, epoch, index])


class WaveCrops(torch.utils.data.Dataset):
    """Item i -> (clip index i, wave (L,) float32, valid samples); see the module docstring."""

    def __init__(
        self,
        clips: Sequence[Tuple[str, str]],
        sample_rate: int,
        crop_seconds: float,
        train: bool,
        seed: int = 0,
        keep_in_memory: bool = False,
    ):
        self.clips = list(clips)  # (clip id, wav.scp value)
        self.rate, self.length = sample_rate, int(round(crop_seconds * sample_rate))
        self.train, self.seed, self.epoch = train, seed, 0
        # decoding + resampling dominates small-encoder epochs; small corpora keep the waves
        self.memory: Optional[Dict[int, np.ndarray]] = {} if keep_in_memory else None

    def wave(self, i: int) -> np.ndarray:
        if self.memory is not None and i in self.memory:
            return self.memory[i]
        wave = load_mono(self.clips[i][1], self.rate)  # (T,)
        if self.memory is not None:
            self.memory[i] = wave
        return wave

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self):
        return len(self.clips)

    def __getitem__(self, i):
        wave = self.wave(i)  # (T,)
        start = 0
        if self.train and len(wave) > self.length:
            start = int(
                _item_rng(self.seed, self.epoch, i).integers(0, len(wave) - self.length + 1)
            )
        wave = wave[start : start + self.length]
        out = np.zeros(self.length, dtype=np.float32)
        out[: len(wave)] = wave
        return i, out, len(wave)


def collate_waves(batch):
    """-> index (B,), wave (B, L), lengths (B,)."""
    index = torch.tensor([b[0] for b in batch], dtype=torch.long)
    wave = torch.from_numpy(np.stack([b[1] for b in batch]))
    return index, wave, torch.tensor([b[2] for b in batch], dtype=torch.long)


def pick_captions(
    num_captions: Sequence[int], seed: int, epoch: int, index: torch.Tensor
) -> List[int]:
    """For each clip index of a batch, which of its captions pairs with it this epoch."""
    return [
        int(_item_rng(seed + 7919, epoch, int(i)).integers(0, num_captions[int(i)])) for i in index
    ]


class EvenBatchSampler(GlobalBatchSampler):
    """Global batches cut to a multiple of the ranks (contrastive losses gather equal shares).

    At most `world_size - 1` examples of the last global batch are left out each epoch (all
    of it when fewer than 2 remain: one pair has no negatives), a different few every epoch
    since the order is reshuffled.
    """

    def global_batches(self) -> List[List[int]]:
        batches = [b[: len(b) // self.world * self.world] for b in super().global_batches()]
        return [b for b in batches if len(b) >= 2]

    def __len__(self):
        return max(0, len(self.global_batches()) - self.start_batch)


class BalancedBatchSampler(GlobalBatchSampler):
    """Class-balanced epochs of `num_examples` draws (PANN's balanced sampler, deterministic).

    Each draw takes the next class of a reshuffled cycle over all classes that have
    examples, then the next clip of that class's own reshuffled cycle, so rare classes are
    seen as often as common ones. `labels[i]` lists the class indices of example i.
    """

    def __init__(
        self,
        labels: Sequence[Sequence[int]],
        batch_size: int,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ):
        super().__init__(len(labels), batch_size, seed, rank, world_size)
        by_class: Dict[int, List[int]] = {}
        for i, ks in enumerate(labels):
            for k in ks:
                by_class.setdefault(int(k), []).append(i)
        self.by_class = [by_class[k] for k in sorted(by_class)]

    def global_batches(self) -> List[List[int]]:
        g = np.random.default_rng([self.seed, self.epoch, 17])
        pools = [list(g.permutation(m)) for m in self.by_class]
        classes: List[int] = []
        order = []
        for _ in range(self.n):
            if not classes:
                classes = list(g.permutation(len(self.by_class)))
            k = classes.pop()
            if not pools[k]:
                pools[k] = list(g.permutation(self.by_class[k]))
            order.append(int(pools[k].pop()))
        return [order[i : i + self.batch_size] for i in range(0, self.n, self.batch_size)]

    def __len__(self):
        return max(0, math.ceil(self.n / self.batch_size) - self.start_batch)


def multi_hot(labels: Sequence[Sequence[int]], num_classes: int) -> torch.Tensor:
    out = torch.zeros(len(labels), num_classes)
    for i, ks in enumerate(labels):
        out[i, list(ks)] = 1.0
    return out
