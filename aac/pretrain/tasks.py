"""What a pre-training run reads: data dirs -> datasets, samplers and targets of one task.

ATCL: clips of `wav.scp` that have captions; every caption's frozen text embedding
(cached, aac.pretrain.text_encoder); validation = every caption of the validation dir
querying its clips. MLAC: clips of `wav.scp` that have labels; class list from the
training dir (`classes` file or the labels seen); validation targets over that list
(labels outside it are ignored and counted).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, List, Optional

import torch

from aac.datadir import DataDirError
from aac.pretrain.data import (
    BalancedBatchSampler,
    EvenBatchSampler,
    WaveCrops,
    multi_hot,
    read_classes,
    read_clip_captions,
    read_labels,
    read_wav_scp,
)
from aac.pretrain.evaluate import flatten_captions
from aac.pretrain.text_encoder import cached_embeddings

logger = logging.getLogger("aac.pretrain")


@dataclass
class TaskData:
    train_set: WaveCrops
    sampler: Any
    valid_set: WaveCrops
    text_table: Optional[torch.Tensor] = None  # ATCL: (C, H) train caption embeddings
    train_text: List[List[int]] = field(default_factory=list)  # ATCL: rows of each clip
    valid_text: Optional[torch.Tensor] = None  # ATCL: (C', H)
    valid_owner: List[int] = field(default_factory=list)
    train_labels: List[List[int]] = field(default_factory=list)  # MLAC: class indices
    valid_targets: Optional[torch.Tensor] = None  # MLAC: (N', K)


def paired_clips(data_dir, table: dict, what: str) -> list:
    """(clip id, wav.scp value) of the clips of `wav.scp` that `table` knows, sorted."""
    wavs = read_wav_scp(data_dir)
    clips = [(c, wavs[c]) for c in sorted(wavs) if c in table]
    if not clips:
        raise DataDirError(f"{data_dir}: no clip of wav.scp has {what}")
    if len(clips) < len(wavs):
        logger.warning(
            "%s: %d of %d clips have no %s (skipped)",
            data_dir,
            len(wavs) - len(clips),
            len(wavs),
            what,
        )
    return clips


def crops(clips, conf, rate: int, train: bool) -> WaveCrops:
    return WaveCrops(clips, rate, conf.crop_seconds, train, conf.seed, conf.audio_in_memory)


def atcl_task(
    conf, train_dir, valid_dir, rate, dist, text_cache: Optional[Path], text_device: str = "cpu"
) -> TaskData:
    caps, vcaps = read_clip_captions(train_dir), read_clip_captions(valid_dir)
    train, valid = (
        paired_clips(train_dir, caps, "captions"),
        paired_clips(valid_dir, vcaps, "captions"),
    )
    texts, owner = flatten_captions([c for c, _ in train], caps)
    vtexts, vowner = flatten_captions([c for c, _ in valid], vcaps)
    emb = cached_embeddings(texts + vtexts, conf.atcl.text_encoder or None, text_cache, text_device)
    rows, start = [], 0
    for clip, _ in train:
        rows.append(list(range(start, start + len(caps[clip]))))
        start += len(caps[clip])
    logger.info(
        "ATCL: %d train clips (%d captions), %d valid clips (%d captions), text dim %d",
        len(train),
        len(texts),
        len(valid),
        len(vtexts),
        emb.shape[1],
    )
    sampler = EvenBatchSampler(
        len(train), conf.optim.batch_size, conf.seed, dist.rank, dist.world_size
    )
    return TaskData(
        crops(train, conf, rate, True),
        sampler,
        crops(valid, conf, rate, False),
        text_table=emb[: len(texts)],
        train_text=rows,
        valid_text=emb[len(texts) :],
        valid_owner=vowner,
    )


def mlac_task(conf, train_dir, valid_dir, rate, dist) -> TaskData:
    labels, vlabels = read_labels(train_dir), read_labels(valid_dir)
    classes = read_classes(train_dir, labels)
    index = {name: k for k, name in enumerate(classes)}
    unknown = sorted(
        {x for xs in list(labels.values()) + list(vlabels.values()) for x in xs} - set(index)
    )
    if unknown:
        logger.warning(
            "%d labels are not in the class list and are ignored, e.g. %s",
            len(unknown),
            unknown[:3],
        )
    train, valid = (
        paired_clips(train_dir, labels, "labels"),
        paired_clips(valid_dir, vlabels, "labels"),
    )
    train_labels = [[index[x] for x in labels[c] if x in index] for c, _ in train]
    valid_targets = multi_hot(
        [[index[x] for x in vlabels[c] if x in index] for c, _ in valid], len(classes)
    )
    conf.classes, conf.num_classes = classes, len(classes)
    logger.info(
        "MLAC: %d classes, %d train clips, %d valid clips", len(classes), len(train), len(valid)
    )
    if conf.balanced_sampling:
        sampler = BalancedBatchSampler(
            train_labels, conf.optim.batch_size, conf.seed, dist.rank, dist.world_size
        )
    else:
        from aac.dataset import GlobalBatchSampler

        sampler = GlobalBatchSampler(
            len(train), conf.optim.batch_size, conf.seed, dist.rank, dist.world_size
        )
    return TaskData(
        crops(train, conf, rate, True),
        sampler,
        crops(valid, conf, rate, False),
        train_labels=train_labels,
        valid_targets=valid_targets,
    )
