"""Caption training: the captioning task of the one training loop (aac.train.loop).

The task gives the loop the caption pairs (`CaptionDataset`, `GlobalBatchSampler`), the
loss (token NLL summed over this rank's share, and its token count) and the validation:
the token NLL of the validation set and, with `valid.metric: cider_d`, the corpus CIDEr-D
of captions written the way decoding writes them (`aac.captioning`). Everything else
(epochs, accumulation, DDP, checkpoints, metrics.jsonl, best.pt, resume) is the loop's.
"""

from __future__ import annotations

import functools

import torch

from aac.captioning import CaptionEngine
from aac.dataset import collate_captions
from aac.text import normalize_caption
from aac.train.loop import LoopTask, Validation


def cider_d_score(hyps: list, refs: list) -> float:
    """Corpus CIDEr-D on normalised text without the PTB tokenizer (no Java needed): the
    validation metric `cider_d_simple`, close to but not the CIDEr-D aac-score reports."""
    from aac.metrics.scoring import import_aac_metrics

    cider_d = import_aac_metrics().functional.cider_d

    cands = [normalize_caption(h) for h in hyps]
    mrefs = [[normalize_caption(r) for r in rs] for rs in refs]
    corpus, _ = cider_d(cands, mrefs, return_all_scores=True)
    return float(corpus["cider_d"])


class CaptionTask(LoopTask):
    loss_label = "loss (token NLL)"

    def __init__(self, conf, train_set, sampler, valid_set, valid_refs, tokenizer):
        self.conf, self.tokenizer = conf, tokenizer
        self.train_set, self.sampler = train_set, sampler
        self.collate_fn = functools.partial(collate_captions, pad_id=tokenizer.pad_id)
        self.valid_set, self.valid_refs = valid_set, valid_refs
        self.metric = conf.valid.metric
        self.higher_is_better = conf.valid.metric != "loss"

    def loss(self, model, module, batch: dict, epoch: int):
        device = next(module.parameters()).device
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        nll, count = model(batch["feats"], batch["feat_mask"], batch["labels"], reduce=False)
        return nll, count

    @torch.no_grad()
    def validate(self, module) -> Validation:
        """Valid token NLL, and the valid metric (that NLL, or CIDEr-D)."""
        module.eval()
        device = next(module.parameters()).device
        loader = torch.utils.data.DataLoader(
            self.valid_set, batch_size=self.conf.valid.batch_size, collate_fn=self.collate_fn
        )
        nll = tokens = 0.0
        for batch in loader:
            batch = {k: v.to(device) for k, v in batch.items()}
            n, c = module(batch["feats"], batch["feat_mask"], batch["labels"], reduce=False)
            nll, tokens = nll + float(n), tokens + float(c)
        valid_loss = nll / max(1.0, tokens)
        score = valid_loss if self.metric == "loss" else self._valid_cider(module)
        return Validation(valid_loss, score, {})

    def _valid_cider(self, module) -> float:
        """`cider_d_simple` of captions written the way decoding writes them (aac.captioning)."""
        clips = sorted(self.valid_refs)
        if self.conf.valid.max_clips > 0:
            clips = clips[: self.conf.valid.max_clips]
        reader = self.valid_set.reader  # opened once by aac-train, not per validation
        engine = CaptionEngine(
            module,
            self.tokenizer,
            stride=self.conf.downsample,
            beam=self.conf.valid.beam,
            max_length=self.conf.valid.max_length,
        )
        hyps = engine.run(
            {c: reader.shape(c)[0] for c in clips},
            self.conf.valid.batch_size,
            lambda ids: [reader[c] for c in ids],
            source="features",
        )
        return cider_d_score([hyps[c] for c in clips], [self.valid_refs[c] for c in clips])
