"""The one training loop of the toolkit; a task supplies only its data, loss and validation.

    loop = TrainingLoop(conf, model, task, exp_dir, dist, keep_nbest)
    loop.resume()          # checkpoints/last.pt, if there is one
    loop.fit()

Tasks: captioning (`aac.train.trainer.CaptionTask`), ATCL and MLAC
(`aac.pretrain.tasks`). A task is a `LoopTask`: `train_set`, `sampler` (a
`GlobalBatchSampler`), `collate_fn`, and

    loss(model, module, batch, epoch) -> (sum, count)
        the loss summed over this rank's share of the global batch (with gradients) and the
        share's count (tokens, clips);
    validate(module) -> Validation(loss, score, extra)   (rank 0 only)

The loop owns everything else, the same way for every task:
- epochs and the position inside one; DDP wrapping, AMP (CUDA), AdamW + schedule, clipping;
- gradient accumulation, scaled one way: the loop all-reduces (sum, count) and backpropagates
  sum * world_size / global count / accum_grad (DDP averages gradients over ranks, so each
  optimizer step follows the mean loss of its global batches, as one process would);
- the stop on a non-finite training loss (before the optimizer step, on every rank) and on a
  non-finite validation (never best, never in last.pt);
- `metrics.jsonl` in strict JSON (a NaN/Inf becomes null and is listed under "non_finite"),
  `images/` plots, the n best `checkpoints/epoch<N>.pt` and `best.pt`;
- `checkpoints/last.pt` (model, optimizer, scheduler, GradScaler, loop state, RNG states,
  the task's own state, the config) at every epoch end and every `checkpoint_interval`
  optimizer steps, written atomically; `resume` continues with the very next batch, so the
  final weights equal an uninterrupted run;
- `check_previous_run`: whether an experiment dir already finished this config, and the
  refusal of one made with another config.
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
from typing import Any, Callable, NamedTuple, Tuple

import torch

from aac.atomic import write_text_atomic
from aac.checkpoint_io import load_checkpoint, save_atomic
from aac.config import ConfigError, build
from aac.errors import AacError
from aac.train import checkpoints as ckpt
from aac.train.distributed import DistInfo, all_reduce_sum, barrier
from aac.train.logs import epoch_bar
from aac.train.plots import plot_history
from aac.train.scheduler import build_scheduler

logger = logging.getLogger("aac.train")


class NonFiniteLossError(AacError, FloatingPointError):
    """The loss became NaN/Inf; raised before the step, so no checkpoint holds it."""


class Validation(NamedTuple):
    loss: float
    score: float  # picks the best epoch (LoopTask.higher_is_better)
    extra: dict  # more entries of the metrics row and best.pt (e.g. all retrieval metrics)


class LoopTask:
    """What one kind of training gives the loop (see the module docstring)."""

    train_set: Any
    sampler: Any  # GlobalBatchSampler family: set_epoch(epoch, start_batch), global_batches()
    collate_fn: Callable
    metric = "loss"  # name of Validation.score in metrics.jsonl, best.pt and train.log
    higher_is_better = True
    loss_label = "loss"  # y axis of images/loss.png

    def start_epoch(self, epoch: int, start_batch: int) -> None:
        self.sampler.set_epoch(epoch, start_batch)

    def loss(self, model, module, batch, epoch: int) -> Tuple[torch.Tensor, float]:
        raise NotImplementedError

    def validate(self, module) -> Validation:
        raise NotImplementedError

    def log_values(self, module) -> dict:
        """Figures logged with each step and added to the metrics row (e.g. a temperature)."""
        return {}

    def state_dict(self, module) -> dict:
        """More entries for last.pt (e.g. a private RNG)."""
        return {}

    def load_state_dict(self, module, saved: dict) -> None:
        """Restore what `state_dict` saved."""


def _nulled(value, name: str, bad: list):
    if isinstance(value, float) and not math.isfinite(value):
        bad.append(name)
        return None
    if isinstance(value, dict):
        return {k: _nulled(v, f"{name}.{k}" if name else k, bad) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_nulled(v, f"{name}[{i}]", bad) for i, v in enumerate(value)]
    return value


def finite_or_none(row: dict) -> dict:
    """A metrics row with NaN/Inf numbers (nested ones too) as None (JSON null), their keys
    listed under "non_finite"; a finite row is returned as it is."""
    bad: list = []
    out = _nulled(row, "", bad)
    return {**out, "non_finite": bad} if bad else row


def build_optimizer(model: torch.nn.Module, optim_conf) -> torch.optim.Optimizer:
    """AdamW; biases and norm weights (1-d tensors) get no weight decay."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": optim_conf.weight_decay},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(
        groups, lr=optim_conf.lr, betas=tuple(optim_conf.betas), eps=optim_conf.eps
    )


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


def saved_config(saved: dict, schema) -> dict:
    """A last.pt config with the defaults of keys added to `schema` since it was written
    (a run from before a new, default-off key resumes); as saved if it does not build."""
    try:
        return dataclasses.asdict(build(schema, saved, "last.pt"))
    except ConfigError:
        return saved


def check_previous_run(exp_dir, conf) -> bool:
    """True when `exp_dir` already finished all epochs of `conf`.

    A previous run made with another configuration is a ConfigError before anything is
    written, so resuming can never mix two experiments in one directory.
    """
    path = Path(exp_dir) / "checkpoints" / "last.pt"
    if not path.is_file():
        return False
    saved = load_checkpoint(path)
    changed = config_changes(
        saved_config(saved.get("config", {}), type(conf)), dataclasses.asdict(conf)
    )
    if changed:
        raise ConfigError(
            f"{path} was trained with another configuration ({'; '.join(changed[:5])}): "
            f"resuming would mix the two. Use a new --output-dir, or move {exp_dir} aside "
            "(the recipe does this with --force true)"
        )
    return saved["state"]["epoch"] > conf.optim.epochs and (Path(exp_dir) / "best.pt").is_file()


def _fresh_epoch() -> dict:
    return {"batch": 0, "loss_sum": 0.0, "count": 0.0, "epoch_time": 0.0}


class TrainingLoop:
    def __init__(
        self,
        conf,
        model,
        task: LoopTask,
        exp_dir,
        dist: DistInfo,
        keep_nbest: int,
        average_best: int = 0,
    ):
        self.conf, self.task, self.dist, self.keep_nbest = conf, task, dist, keep_nbest
        self.average_best = average_best  # best.pt = mean of the n best epochs; 0 = the best
        self.exp_dir = Path(exp_dir)
        self.ckpt_dir = self.exp_dir / "checkpoints"
        self.device = torch.device(dist.device)
        self.module = model.to(self.device)
        self.model = model
        if dist.enabled:
            ids = [dist.local_rank] if self.device.type == "cuda" else None
            self.model = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
        self.loader = torch.utils.data.DataLoader(
            task.train_set,
            batch_sampler=task.sampler,
            num_workers=conf.num_workers,
            collate_fn=task.collate_fn,
            # own generator: creating an iterator must not draw from the global RNG, or a
            # resumed run would see different dropout masks than an uninterrupted one
            generator=torch.Generator().manual_seed(conf.seed),
        )
        self.batches_per_epoch = len(task.sampler.global_batches())
        optim = conf.optim
        self.total_steps = math.ceil(self.batches_per_epoch / optim.accum_grad) * optim.epochs
        self.optimizer = build_optimizer(self.module, optim)
        self.scheduler = build_scheduler(self.optimizer, optim, self.total_steps)
        self.use_amp = optim.amp and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.state = {"epoch": 1, "step": 0, "history": [], **_fresh_epoch()}

    # ---- checkpoints ---------------------------------------------------------------
    def save_last(self) -> None:
        if not self.dist.is_main:
            return
        state = {
            "model": self.module.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "state": dict(self.state),
            "rng": ckpt.rng_state(),
            "config": dataclasses.asdict(self.conf),
        }
        save_atomic({**state, **self.task.state_dict(self.module)}, self.ckpt_dir / "last.pt")

    def resume(self) -> bool:
        """Restore checkpoints/last.pt if there is one; True when resumed."""
        path = self.ckpt_dir / "last.pt"
        if not path.is_file():
            return False
        saved = load_checkpoint(path, map_location=self.device)
        self.module.load_state_dict(saved["model"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.scheduler.load_state_dict(saved["scheduler"])
        self.scaler.load_state_dict(saved["scaler"])
        self.state = dict(saved["state"])
        ckpt.set_rng_state(saved["rng"])
        self.task.load_state_dict(self.module, saved)
        s = self.state
        logger.info(
            "resumed from %s: epoch %d, batch %d, step %d", path, s["epoch"], s["batch"], s["step"]
        )
        return True

    # ---- training ------------------------------------------------------------------
    def micro_batch(self, batch, epoch: int, sync: bool) -> torch.Tensor:
        """Forward + backward of this rank's share; returns the global (loss sum, count)."""
        no_sync = self.model.no_sync if (self.dist.enabled and not sync) else contextlib.nullcontext
        with no_sync():
            with torch.autocast(self.device.type, enabled=self.use_amp):
                total, count = self.task.loss(self.model, self.module, batch, epoch)
            count = torch.as_tensor(count, dtype=torch.float64, device=total.device)
            stats = torch.stack([total.detach().double(), count])
            all_reduce_sum(stats, self.dist)  # global sums: the same on every rank
            # the gradient of (global sum / global count) / accum_grad; DDP averages over
            # ranks, hence * world_size
            loss = total * self.dist.world_size / stats[1].clamp(min=1) / self.conf.optim.accum_grad
            self.scaler.scale(loss).backward()
        return stats

    def optimizer_step(self) -> None:
        """Unscale + clip (optim.grad_clip > 0), step, zero grads, advance the schedule."""
        if self.conf.optim.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.module.parameters(), self.conf.optim.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()
        self.state["step"] += 1

    def _stop_if_not_finite(self, stats: torch.Tensor, epoch: int) -> None:
        s = self.state
        if not math.isfinite(float(stats[0])):  # same value on every rank (all-reduced)
            raise NonFiniteLossError(
                f"training loss is {float(stats[0])} at epoch {epoch}, step {s['step'] + 1}, "
                f"batch {s['batch'] + 1}: stopped before the optimizer step, so no checkpoint "
                f"under {self.exp_dir} holds non-finite weights. Check the inputs for NaN/Inf "
                "and lower the learning rate"
            )

    def _log_step(self, epoch: int, step_loss: float) -> None:
        if self.state["step"] % self.conf.log_interval:
            return
        extra = "".join(f" {k} {v:.4f}" for k, v in self.task.log_values(self.module).items())
        lr = self.scheduler.get_last_lr()[0]
        logger.info(
            "epoch %d step %d loss %.6f lr %.3e%s", epoch, self.state["step"], step_loss, lr, extra
        )

    def train_epoch(self, epoch: int) -> float:
        """One epoch (or its rest after a resume); returns the epoch's mean training loss."""
        s, accum, interval = self.state, self.conf.optim.accum_grad, self.conf.checkpoint_interval
        self.task.start_epoch(epoch, s["batch"])
        self.model.train()
        start = time.time()
        bar = epoch_bar(epoch, self.batches_per_epoch, s["batch"], self.dist.is_main)
        try:  # close the bar on errors too, so an error message starts on its own line
            for batch in self.loader:
                last = s["batch"] + 1 == self.batches_per_epoch
                sync = (s["batch"] + 1) % accum == 0 or last
                stats = self.micro_batch(batch, epoch, sync)
                self._stop_if_not_finite(stats, epoch)
                s["loss_sum"] += float(stats[0])
                s["count"] += float(stats[1])
                s["batch"] += 1
                bar.update(1)
                if not sync:
                    continue
                self.optimizer_step()
                step_loss = float(stats[0]) / max(float(stats[1]), 1.0)
                bar.set_postfix(loss=f"{step_loss:.3f}")
                self._log_step(epoch, step_loss)
                if interval and not last and s["step"] % interval == 0:
                    s["epoch_time"] += time.time() - start
                    start = time.time()
                    self.save_last()
        finally:
            bar.close()
        s["epoch_time"] += time.time() - start
        return s["loss_sum"] / max(1.0, s["count"])

    # ---- validation and bookkeeping ---------------------------------------------------
    def end_epoch(self, epoch: int, train_loss: float) -> None:
        """Validate (rank 0), log, write metrics.jsonl and plots, keep the n best epochs."""
        result = self.task.validate(self.module)
        s, metric = self.state, self.task.metric
        row = {
            "epoch": epoch,
            "step": s["step"],
            "train_loss": train_loss,
            "valid_loss": result.loss,
            "valid_metric": result.score,
            "metric": metric,
            **result.extra,
            **self.task.log_values(self.module),
            "lr": self.scheduler.get_last_lr()[0],
            "time_s": round(s["epoch_time"], 3),
        }
        s["history"] = [h for h in s["history"] if h["epoch"] < epoch] + [row]
        logger.info(
            "epoch %d done: train_loss %.4f valid_loss %.4f valid_%s %.4f (%.1f s)",
            epoch,
            train_loss,
            result.loss,
            metric,
            result.score,
            row["time_s"],
        )
        if not all(math.isfinite(v) for v in (train_loss, result.loss, result.score)):
            # A NaN score would win or poison every later comparison: never best, never kept.
            self.write_metrics()
            raise NonFiniteLossError(
                f"epoch {epoch}: non-finite result (train_loss {train_loss}, valid_loss "
                f"{result.loss}, valid_{metric} {result.score}); not saved as best or last"
            )
        self.keep_best(epoch, result)
        self.write_metrics()

    def keep_best(self, epoch: int, result: Validation) -> None:
        scored = [{"epoch": h["epoch"], "score": h["valid_metric"]} for h in self.state["history"]]
        weights = self.module.state_dict()
        higher = self.task.higher_is_better
        best = ckpt.update_nbest(
            self.ckpt_dir, weights, epoch, result.score, self.keep_nbest, higher, scored
        )
        if self.average_best > 0:
            self.save_average(epoch, scored)
        elif best["epoch"] == epoch:
            info = {"epoch": epoch, "score": result.score, "metric": self.task.metric}
            save_atomic({"model": weights, **info, **result.extra}, self.exp_dir / "best.pt")

    def save_average(self, epoch: int, scored: list) -> None:
        """best.pt = mean weights of the `average_best` best epochs (ckpt.save_average_best)."""
        higher, n = self.task.higher_is_better, self.average_best
        epochs = ckpt.save_average_best(
            self.ckpt_dir, self.exp_dir / "best.pt", scored, n, higher, self.task.metric, epoch
        )
        if epochs:
            logger.info("best.pt: mean of epochs %s", epochs)

    def write_metrics(self) -> None:
        rows = self.state["history"]
        # strict JSON: a NaN would make the file unreadable for every JSON parser
        write_text_atomic(
            self.exp_dir / "metrics.jsonl",
            "".join(json.dumps(finite_or_none(r), allow_nan=False) + "\n" for r in rows),
        )
        if rows:
            plot = functools.partial(plot_history, loss_label=self.task.loss_label)
            plot(rows, self.exp_dir / "images", self.task.metric)

    def fit(self) -> None:
        epochs = self.conf.optim.epochs
        while self.state["epoch"] <= epochs:
            epoch = self.state["epoch"]
            train_loss = self.train_epoch(epoch)
            if self.dist.is_main:
                self.end_epoch(epoch, train_loss)
            self.state.update(epoch=epoch + 1, **_fresh_epoch())
            self.save_last()
            barrier(self.dist)
        logger.info("training finished: %d epochs, %d steps", epochs, self.state["step"])
