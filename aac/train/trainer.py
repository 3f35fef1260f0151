"""The training loop: AdamW + warm-up, clipping, AMP (CUDA), DDP, validation, resume.

State lives in `checkpoints/last.pt` (model, optimizer, scheduler, GradScaler, epoch and
position inside it, partial epoch sums, RNG states, metric history), written atomically at
every epoch end and every `checkpoint_interval` optimizer steps. A rerun restores it and
continues with the very next batch, so the final weights equal an uninterrupted run.
Only rank 0 validates and writes files; the other ranks wait at a barrier.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import logging
import math
import time
from pathlib import Path

import torch

from aac.atomic import write_text_atomic
from aac.captioning import CaptionEngine
from aac.dataset import collate_captions
from aac.errors import AacError
from aac.feature_info import open_features
from aac.text import normalize_caption
from aac.train import checkpoints as ckpt
from aac.train.distributed import DistInfo, all_reduce_sum, barrier
from aac.train.logs import epoch_bar
from aac.train.loop import ResumableLoop
from aac.train.plots import plot_history

logger = logging.getLogger("aac.train")


class NonFiniteLossError(AacError, FloatingPointError):
    """The training loss became NaN/Inf; raised before the step, so no checkpoint holds it."""


def finite_or_none(row: dict) -> dict:
    """A metrics row with NaN/Inf numbers as None (JSON null), listed under "non_finite"."""
    bad = [k for k, v in row.items() if isinstance(v, float) and not math.isfinite(v)]
    if not bad:
        return row
    return {**{k: (None if k in bad else v) for k, v in row.items()}, "non_finite": bad}


def cider_d_score(hyps: list, refs: list) -> float:
    """Corpus CIDEr-D on normalised text (no Java needed)."""
    from aac.metrics.scoring import import_aac_metrics

    cider_d = import_aac_metrics().functional.cider_d

    cands = [normalize_caption(h) for h in hyps]
    mrefs = [[normalize_caption(r) for r in rs] for rs in refs]
    corpus, _ = cider_d(cands, mrefs, return_all_scores=True)
    return float(corpus["cider_d"])


# Keys that may change between a run and its resumption without changing the result.
RESUME_FREE_KEYS = ("num_workers", "log_interval", "checkpoint_interval", "tokenizer")


def config_changes(old: dict, new: dict, prefix: str = "") -> list:
    """['optim.lr: 0.001 -> 0.0002', ...] for keys whose values differ (free keys ignored)."""
    out = []
    for key in sorted(set(old) | set(new)):
        name = prefix + key
        if name in RESUME_FREE_KEYS:
            continue
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += config_changes(a, b, name + ".")
        elif a != b:
            out.append(f"{name}: {a!r} -> {b!r}")
    return out


class Trainer(ResumableLoop):
    def __init__(
        self,
        conf,
        model,
        train_set,
        valid_set,
        valid_refs: dict,
        valid_feats,
        tokenizer,
        exp_dir,
        dist: DistInfo,
        sampler,
    ):
        self.conf, self.tokenizer, self.dist = conf, tokenizer, dist
        self.exp_dir = Path(exp_dir)
        self.ckpt_dir = self.exp_dir / "checkpoints"
        self.device = torch.device(dist.device)
        self.module = model.to(self.device)
        self.model = model
        if dist.enabled:
            ids = [dist.local_rank] if self.device.type == "cuda" else None
            self.model = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
        self.sampler = sampler
        self.loader = torch.utils.data.DataLoader(
            train_set,
            batch_sampler=sampler,
            num_workers=conf.num_workers,
            collate_fn=functools.partial(collate_captions, pad_id=tokenizer.pad_id),
            # own generator: creating an iterator must not draw from the global RNG, or a
            # resumed run would see different dropout masks than an uninterrupted one
            generator=torch.Generator().manual_seed(conf.seed),
        )
        self.valid_set, self.valid_refs, self.valid_feats = valid_set, valid_refs, valid_feats
        self.batches_per_epoch = math.ceil(len(train_set) / conf.optim.batch_size)
        self.build_optimization(self.batches_per_epoch)
        self.state = {
            "epoch": 1,
            "batch": 0,
            "step": 0,
            "nll": 0.0,
            "tokens": 0.0,
            "history": [],
            "epoch_time": 0.0,
        }

    # ---- checkpoints (save_last, resume: aac.train.loop) --------------------------
    def init_from(self, weights: dict) -> None:
        missing, unexpected = self.module.load_state_dict(weights, strict=False)
        if missing or unexpected:
            raise ValueError(
                f"--init-from weights do not fit this model: missing {missing[:3]}, "
                f"unexpected {unexpected[:3]}"
            )

    # ---- training ----------------------------------------------------------------
    def _micro_batch(self, batch: dict, sync: bool) -> torch.Tensor:
        """Forward + backward of one rank's share; returns global (nll, tokens)."""
        batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
        no_sync = self.model.no_sync if (self.dist.enabled and not sync) else contextlib.nullcontext
        with no_sync():
            with torch.autocast(self.device.type, enabled=self.use_amp):
                nll, count = self.model(
                    batch["feats"], batch["feat_mask"], batch["labels"], reduce=False
                )
            stats = torch.stack([nll.detach().double(), count.double()])
            all_reduce_sum(stats, self.dist)  # global sums over ranks
            # DDP averages gradients over ranks, hence * world_size: the gradient is that of
            # (global NLL sum / global token count), identical to one process on the batch.
            loss = nll * self.dist.world_size / stats[1].clamp(min=1) / self.conf.optim.accum_grad
            self.scaler.scale(loss).backward()
        return stats

    def train_epoch(self, epoch: int) -> float:
        s, accum = self.state, self.conf.optim.accum_grad
        self.sampler.set_epoch(epoch, s["batch"])
        self.model.train()
        start = time.time()
        bar = epoch_bar(epoch, self.batches_per_epoch, s["batch"], self.dist.is_main)
        try:  # close the bar on errors too, so an error message starts on its own line
            for batch in self.loader:
                last = s["batch"] + 1 == self.batches_per_epoch
                sync = (s["batch"] + 1) % accum == 0 or last
                stats = self._micro_batch(batch, sync)
                if not math.isfinite(float(stats[0])):  # same value on every rank (all-reduced)
                    raise NonFiniteLossError(
                        f"training loss is {float(stats[0])} at epoch {epoch}, step {s['step'] + 1}, "
                        f"batch {s['batch'] + 1}: stopped before the optimizer step; the last "
                        f"checkpoint ({self.ckpt_dir / 'last.pt'}) and best.pt hold only finite "
                        f"weights. Check the features for NaN/Inf and lower the learning rate"
                    )
                s["nll"] += float(stats[0])
                s["tokens"] += float(stats[1])
                s["batch"] += 1
                bar.update(1)
                if not sync:
                    continue
                self._optimizer_step()
                step_loss = float(stats[0] / stats[1].clamp(min=1))
                bar.set_postfix(loss=f"{step_loss:.3f}")
                if s["step"] % self.conf.log_interval == 0:
                    logger.info(
                        "epoch %d step %d loss %.6f lr %.3e",
                        epoch,
                        s["step"],
                        step_loss,
                        self.scheduler.get_last_lr()[0],
                    )
                if (
                    self.conf.checkpoint_interval
                    and not last
                    and s["step"] % self.conf.checkpoint_interval == 0
                ):
                    s["epoch_time"] += time.time() - start
                    start = time.time()
                    self.save_last()
        finally:
            bar.close()
        s["epoch_time"] += time.time() - start
        return s["nll"] / max(1.0, s["tokens"])

    # ---- validation --------------------------------------------------------------
    @torch.no_grad()
    def validate(self) -> tuple:
        """(valid loss, valid metric) on rank 0."""
        self.module.eval()
        loader = torch.utils.data.DataLoader(
            self.valid_set,
            batch_size=self.conf.valid.batch_size,
            collate_fn=functools.partial(collate_captions, pad_id=self.tokenizer.pad_id),
        )
        nll = tokens = 0.0
        for batch in loader:
            batch = {k: v.to(self.device) for k, v in batch.items()}
            n, c = self.module(batch["feats"], batch["feat_mask"], batch["labels"], reduce=False)
            nll, tokens = nll + float(n), tokens + float(c)
        valid_loss = nll / max(1.0, tokens)
        if self.conf.valid.metric == "loss":
            return valid_loss, valid_loss
        return valid_loss, self._valid_cider()

    def _valid_cider(self) -> float:
        """Corpus CIDEr-D of captions written the way decoding writes them (aac.captioning)."""
        clips = sorted(self.valid_refs)
        if self.conf.valid.max_clips > 0:
            clips = clips[: self.conf.valid.max_clips]
        reader = open_features(self.valid_feats)
        engine = CaptionEngine(
            self.module,
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

    # ---- bookkeeping -------------------------------------------------------------
    def end_epoch(self, epoch: int, train_loss: float) -> None:
        valid_loss, metric = self.validate()
        s = self.state
        row = {
            "epoch": epoch,
            "step": s["step"],
            "train_loss": train_loss,
            "valid_loss": valid_loss,
            "valid_metric": metric,
            "metric": self.conf.valid.metric,
            "lr": self.scheduler.get_last_lr()[0],
            "time_s": round(s["epoch_time"], 3),
        }
        s["history"] = [h for h in s["history"] if h["epoch"] < epoch] + [row]
        logger.info(
            "epoch %d done: train_loss %.4f valid_loss %.4f valid_%s %.4f (%.1f s)",
            epoch,
            train_loss,
            valid_loss,
            row["metric"],
            metric,
            row["time_s"],
        )
        higher = self.conf.valid.metric != "loss"
        if not all(math.isfinite(v) for v in (train_loss, valid_loss, metric)):
            # A NaN score would win or poison every later comparison: never best, never kept.
            self.write_metrics()
            raise NonFiniteLossError(
                f"epoch {epoch}: non-finite result (train_loss {train_loss}, valid_loss "
                f"{valid_loss}, valid_{row['metric']} {metric}); not saved as best or last"
            )
        scored = [{"epoch": h["epoch"], "score": h["valid_metric"]} for h in s["history"]]
        best = ckpt.update_nbest(
            self.ckpt_dir,
            self.module.state_dict(),
            epoch,
            metric,
            self.conf.valid.keep_nbest,
            higher,
            scored,
        )
        if best["epoch"] == epoch:
            ckpt.save_atomic(
                {
                    "model": self.module.state_dict(),
                    "epoch": epoch,
                    "score": metric,
                    "metric": row["metric"],
                },
                self.exp_dir / "best.pt",
            )
        self.write_metrics()
        s.update(epoch=epoch + 1, batch=0, nll=0.0, tokens=0.0, epoch_time=0.0)

    def write_metrics(self) -> None:
        rows = self.state["history"]
        # strict JSON: a NaN would make the file unreadable for every JSON parser
        write_text_atomic(
            self.exp_dir / "metrics.jsonl",
            "".join(json.dumps(finite_or_none(r), allow_nan=False) + "\n" for r in rows),
        )
        if rows:
            plot_history(rows, self.exp_dir / "images", self.conf.valid.metric)

    def fit(self) -> None:
        epochs = self.conf.optim.epochs
        while self.state["epoch"] <= epochs:
            epoch = self.state["epoch"]
            train_loss = self.train_epoch(epoch)
            if self.dist.is_main:
                self.end_epoch(epoch, train_loss)
            else:
                self.state.update(epoch=epoch + 1, batch=0, nll=0.0, tokens=0.0, epoch_time=0.0)
            self.save_last()
            barrier(self.dist)
        logger.info("training finished: %d epochs, %d steps", epochs, self.state["step"])


def check_previous_run(exp_dir, conf) -> bool:
    """True when `exp_dir` already finished all epochs of `conf`.

    A previous run made with another configuration is refused before anything is written,
    so resuming can never mix two experiments in one directory.
    """
    path = Path(exp_dir) / "checkpoints" / "last.pt"
    if not path.is_file():
        return False
    saved = ckpt.load_checkpoint(path)
    changed = config_changes(saved.get("config", {}), dataclasses.asdict(conf))
    if changed:
        raise ValueError(
            f"{path} was trained with another configuration ({'; '.join(changed[:5])}): "
            f"resuming would mix the two. Use a new --output-dir, or move {exp_dir} aside "
            "(the recipe does this with --force true)"
        )
    return saved["state"]["epoch"] > conf.optim.epochs and (Path(exp_dir) / "best.pt").is_file()
