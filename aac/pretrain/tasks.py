"""The pre-training tasks of the one training loop (aac.train.loop): data, loss, validation.

ATCL: clips of `wav.scp` that have captions; every caption's frozen text embedding
(cached, aac.pretrain.text_encoder); loss: InfoNCE over the global batch (embeddings
gathered from every rank); validation: every caption of the validation dir querying its
clips (t2a mAP@10 picks the best epoch). MLAC: clips of `wav.scp` that have labels; class
list from the training dir (`classes` file or the labels seen); loss: BCE (optionally on
mixed-up waves); validation: tagging mAP over that list (labels outside it are ignored and
counted). `atcl_task` / `mlac_task` build them from the data dirs.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

from aac.datadir import DataDirError
from aac.dataset import GlobalBatchSampler
from aac.pretrain.data import (
    BalancedBatchSampler,
    EvenBatchSampler,
    WaveCrops,
    collate_waves,
    multi_hot,
    pick_captions,
    read_classes,
    read_clip_captions,
    read_labels,
    read_wav_scp,
)
from aac.pretrain.evaluate import flatten_captions, main_metric, retrieval_eval, tagging_eval
from aac.pretrain.losses import gather_with_grad, info_nce
from aac.pretrain.text_encoder import cached_embeddings
from aac.train.loop import LoopTask, Validation

logger = logging.getLogger("aac.pretrain")


class _WaveTask(LoopTask):
    """Training crops of `wav.scp`, batched by `sampler`; validation crops beside them."""

    collate_fn = staticmethod(collate_waves)

    def __init__(self, conf, train_set: WaveCrops, sampler, valid_set: WaveCrops, dist):
        self.conf, self.train_set, self.sampler = conf, train_set, sampler
        self.valid_set, self.device = valid_set, torch.device(dist.device)
        self.distributed = dist.enabled

    def start_epoch(self, epoch: int, start_batch: int) -> None:
        self.sampler.set_epoch(epoch, start_batch)
        self.train_set.set_epoch(epoch)

    def state_dict(self, module) -> dict:
        return {"mask_rng": module.mask_rng.get_state()}  # SpecAugment masks

    def load_state_dict(self, module, saved: dict) -> None:
        module.mask_rng.set_state(saved["mask_rng"].cpu())


class AtclTask(_WaveTask):
    metric, loss_label = "t2a_mAP@10", "loss (InfoNCE)"

    def __init__(self, conf, train_set, sampler, valid_set, dist, text, valid_text):
        """text: (table (C, H) of the training captions' embeddings, rows of each clip);
        valid_text: (embeddings (C', H) of the validation captions, clip of each)."""
        super().__init__(conf, train_set, sampler, valid_set, dist)
        (self.text_table, self.train_text), (self.valid_text, self.valid_owner) = text, valid_text

    def loss(self, model, module, batch, epoch: int):
        """InfoNCE of the global batch (the same on every rank), times this rank's share."""
        index, wave, lengths = batch
        picks = pick_captions([len(x) for x in self.train_text], self.conf.seed, epoch, index)
        rows = [self.train_text[int(i)][k] for i, k in zip(index, picks)]
        audio = model(wave.to(self.device), lengths)  # (b, E): this rank's share
        text = module.embed_text(self.text_table[rows].to(self.device))
        gather = functools.partial(gather_with_grad, enabled=self.distributed)
        loss = info_nce(gather(audio), gather(text), module.tau)  # over the global batch
        return loss * index.numel(), float(index.numel())

    def validate(self, module) -> Validation:
        metrics, loss = retrieval_eval(
            module, self.valid_set, self.valid_text, self.valid_owner, self.device
        )
        return Validation(loss, main_metric("atcl", metrics), {"metrics": metrics})

    def log_values(self, module) -> dict:
        return {"tau": float(module.tau.detach())}


class MlacTask(_WaveTask):
    metric, loss_label = "mAP", "loss (BCE)"

    def __init__(self, conf, train_set, sampler, valid_set, dist, train_labels, valid_targets):
        """train_labels: class indices of each training clip; valid_targets: (N', K)."""
        super().__init__(conf, train_set, sampler, valid_set, dist)
        self.train_labels, self.valid_targets = train_labels, valid_targets

    def loss(self, model, module, batch, epoch: int):
        """BCE summed over this rank's clips (mean over classes)."""
        index, wave, lengths = batch
        wave = wave.to(self.device)
        labels = [self.train_labels[int(i)] for i in index]
        target = multi_hot(labels, self.conf.num_classes).to(self.device)
        alpha = self.conf.augment.mixup_alpha
        if alpha > 0:  # mix each clip with the batch reversed: waves and targets alike
            draw = np.random.default_rng([self.conf.seed, epoch, int(index[0])])
            lam = float(draw.beta(alpha, alpha))
            wave = lam * wave + (1 - lam) * wave.flip(0)
            target = lam * target + (1 - lam) * target.flip(0)
            lengths = torch.maximum(lengths, lengths.flip(0))
        logits = model(wave, lengths).float()
        total = F.binary_cross_entropy_with_logits(logits, target, reduction="sum")
        return total / target.shape[1], float(index.numel())

    def validate(self, module) -> Validation:
        metrics, loss = tagging_eval(module, self.valid_set, self.valid_targets, self.device)
        return Validation(loss, main_metric("mlac", metrics), {"metrics": metrics})


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
) -> AtclTask:
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
    return AtclTask(
        conf,
        crops(train, conf, rate, True),
        sampler,
        crops(valid, conf, rate, False),
        dist,
        (emb[: len(texts)], rows),
        (emb[len(texts) :], vowner),
    )


def mlac_task(conf, train_dir, valid_dir, rate, dist) -> MlacTask:
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
        sampler = GlobalBatchSampler(
            len(train), conf.optim.batch_size, conf.seed, dist.rank, dist.world_size
        )
    return MlacTask(
        conf,
        crops(train, conf, rate, True),
        sampler,
        crops(valid, conf, rate, False),
        dist,
        train_labels,
        valid_targets,
    )
