"""Caption training: the captioning task of the one training loop (aac.train.loop).

The task gives the loop the caption pairs (`CaptionDataset`, `GlobalBatchSampler`), the
loss (token NLL summed over this rank's share, and its token count) and the validation:
the token NLL of the validation set and, with `valid.metric: cider_d`, the corpus CIDEr-D
of captions written the way decoding writes them (`aac.captioning`). Everything else
(epochs, accumulation, DDP, checkpoints, metrics.jsonl, best.pt, resume) is the loop's.

Levers of the config, all off by default (the paper trains with plain NLL):
- `spec_augment`: training batches get time/channel masks (aac.train.augment);
- `text_embedding`: the loss is token NLL + weight * InfoNCE(audio embedding of the
  model's text-embedding head, frozen sentence embedding of the reference caption), the
  symmetric InfoNCE of `aac.pretrain.losses` over this rank's share of the batch; added to
  the summed NLL as weight * InfoNCE * tokens, so the loop's division by the token count
  makes it weight * InfoNCE of the mean loss;
- mix-up items are ordinary items of the training set (aac.dataset reads their mixtures).
"""

from __future__ import annotations

import functools

import torch

from aac.captioning import CaptionEngine
from aac.dataset import collate_captions
from aac.pretrain.losses import info_nce
from aac.text import normalize_caption
from aac.train.augment import IndexedItems, spec_augment
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

    def __init__(self, conf, train_set, sampler, valid_set, valid_refs, tokenizer, text_table=None):
        """`text_table` (N, E): the frozen sentence embedding of each training item's
        caption, needed when conf.text_embedding.weight > 0."""
        self.conf, self.tokenizer = conf, tokenizer
        self.text_weight = conf.text_embedding.weight
        if self.text_weight > 0:
            if text_table is None or len(text_table) != len(train_set):
                raise ValueError("text_embedding.weight > 0 needs one embedding per item")
            train_set = IndexedItems(train_set)
            self.loss_label = f"loss (token NLL + {self.text_weight:g} x InfoNCE)"
        self.text_table, self.last_infonce = text_table, None
        self.train_set, self.sampler = train_set, sampler
        self.collate_fn = functools.partial(collate_captions, pad_id=tokenizer.pad_id)
        self.valid_set, self.valid_refs = valid_set, valid_refs
        self.metric = conf.valid.metric
        self.higher_is_better = conf.valid.metric != "loss"

    def loss(self, model, module, batch: dict, epoch: int):
        device = next(module.parameters()).device
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        feats, mask = (
            spec_augment(batch["feats"], batch["feat_mask"], self.conf.spec_augment),
            batch["feat_mask"],
        )
        if self.text_weight <= 0:
            return model(feats, mask, batch["labels"], reduce=False)
        nll, count, audio = model(feats, mask, batch["labels"], reduce=False, embed=True)
        text = self.text_table[batch["index"].cpu()].to(device)  # (B, E)
        aux = info_nce(audio, text, self.conf.text_embedding.temperature)
        self.last_infonce = float(aux.detach())
        return nll + self.text_weight * aux * count, count

    def log_values(self, module) -> dict:
        """The last batch's InfoNCE (text-embedding loss), when that loss is on."""
        return {} if self.last_infonce is None else {"text_infonce": self.last_infonce}

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
