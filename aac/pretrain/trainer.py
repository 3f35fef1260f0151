"""The pre-training loop, built from the captioning trainer's pieces.

Reused: `aac.train.loop.build_optimizer` (AdamW, no decay on 1-d tensors),
`aac.train.scheduler` (warm-up + decay), `aac.train.checkpoints` (atomic weights-only
files, RNG state, n-best), `aac.train.distributed` (DDP, all-reduce, barrier),
`aac.train.plots` and the `aac.dataset.GlobalBatchSampler` family. AMP on CUDA.
`checkpoints/last.pt` holds the full state after every epoch; a rerun resumes from it.
Rank 0 validates (retrieval or tagging, aac.pretrain.evaluate) and writes
`metrics.jsonl`, `images/`, `best.pt` ({"model": the whole PretrainModel state}).
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from aac.atomic import write_text_atomic
from aac.pretrain.data import collate_waves, multi_hot, pick_captions
from aac.pretrain.evaluate import main_metric, retrieval_eval, tagging_eval
from aac.pretrain.losses import gather_with_grad, info_nce
from aac.train import checkpoints as ckpt
from aac.train.distributed import DistInfo, all_reduce_sum, barrier
from aac.train.logs import epoch_bar
from aac.train.loop import ResumableLoop
from aac.train.plots import plot_history

logger = logging.getLogger("aac.pretrain")


class PretrainTrainer(ResumableLoop):
    """`task` holds the data: train_set, sampler, and for ATCL train_text (per-clip lists of
    caption rows into text_table) / for MLAC train_labels; valid_set and valid targets."""

    def __init__(self, conf, model, task, exp_dir, dist: DistInfo):
        self.conf, self.task, self.dist = conf, task, dist
        self.exp_dir, self.device = Path(exp_dir), torch.device(dist.device)
        self.ckpt_dir = self.exp_dir / "checkpoints"
        self.module = model.to(self.device)
        self.model = model
        if dist.enabled:
            ids = [dist.local_rank] if self.device.type == "cuda" else None
            self.model = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
        self.loader = torch.utils.data.DataLoader(
            task.train_set,
            batch_sampler=task.sampler,
            num_workers=conf.num_workers,
            collate_fn=collate_waves,
            generator=torch.Generator().manual_seed(conf.seed),
        )
        self.batches_per_epoch = len(task.sampler.global_batches())
        self.build_optimization(self.batches_per_epoch)
        self.state = {
            "epoch": 1,
            "batch": 0,
            "step": 0,
            "loss": 0.0,
            "count": 0.0,
            "history": [],
            "epoch_time": 0.0,
        }

    # ---- checkpoints (save_last, resume: aac.train.loop) --------------------------
    def extra_state(self) -> dict:
        return {"mask_rng": self.module.mask_rng.get_state()}

    def load_extra_state(self, saved: dict) -> None:
        self.module.mask_rng.set_state(saved["mask_rng"].cpu())

    # ---- training ----------------------------------------------------------------
    def _loss(self, index, wave, lengths, epoch):
        """Global-batch loss of this rank's share: (loss to backpropagate, detached sum, count)."""
        t = self.task
        if self.conf.task == "atcl":
            rows = [
                t.train_text[int(i)][k]
                for i, k in zip(
                    index,
                    pick_captions([len(x) for x in t.train_text], self.conf.seed, epoch, index),
                )
            ]
            audio = gather_with_grad(self.model(wave, lengths), self.dist.enabled)  # (B, E)
            text = gather_with_grad(
                self.module.embed_text(t.text_table[rows].to(self.device)), self.dist.enabled
            )
            loss = info_nce(audio, text, self.module.tau)  # identical on every rank
            n = audio.shape[0]
            return loss, loss.detach() * n / self.dist.world_size, n / self.dist.world_size
        target = multi_hot([t.train_labels[int(i)] for i in index], self.conf.num_classes).to(
            self.device
        )
        alpha = self.conf.augment.mixup_alpha
        if alpha > 0:  # mix each clip with the batch reversed: waves and targets alike
            lam = float(
                np.random.default_rng([self.conf.seed, epoch, int(index[0])]).beta(alpha, alpha)
            )
            wave, target = (
                lam * wave + (1 - lam) * wave.flip(0),
                lam * target + (1 - lam) * target.flip(0),
            )
            lengths = torch.maximum(lengths, lengths.flip(0))
        total = (
            F.binary_cross_entropy_with_logits(
                self.model(wave, lengths).float(), target, reduction="sum"
            )
            / target.shape[1]
        )
        stats = torch.tensor([float(index.numel())], dtype=torch.float64)
        all_reduce_sum(stats, self.dist)  # global batch size
        # DDP averages gradients over ranks, hence * world: the gradient of the global mean
        return total * self.dist.world_size / float(stats[0]), total.detach(), float(index.numel())

    def train_epoch(self, epoch: int) -> float:
        s, accum = self.state, self.conf.optim.accum_grad
        self.task.sampler.set_epoch(epoch, s["batch"])
        self.task.train_set.set_epoch(epoch)
        self.model.train()
        start = time.time()
        bar = epoch_bar(epoch, self.batches_per_epoch, s["batch"], self.dist.is_main)
        for index, wave, lengths in self.loader:
            sync = (s["batch"] + 1) % accum == 0 or s["batch"] + 1 == self.batches_per_epoch
            no_sync = (
                self.model.no_sync if (self.dist.enabled and not sync) else contextlib.nullcontext
            )
            with no_sync(), torch.autocast(self.device.type, enabled=self.use_amp):
                loss, total, count = self._loss(index, wave.to(self.device), lengths, epoch)
                self.scaler.scale(loss / accum).backward()
            s["loss"] += float(total)
            s["count"] += count
            s["batch"] += 1
            bar.update(1)
            if sync:
                self._optimizer_step()
                bar.set_postfix(loss=f"{float(loss.detach()):.3f}")
                if s["step"] % self.conf.log_interval == 0:
                    logger.info(
                        "epoch %d step %d loss %.5f lr %.3e tau %.4f",
                        epoch,
                        s["step"],
                        float(loss.detach()),
                        self.scheduler.get_last_lr()[0],
                        self._tau(),
                    )
        bar.close()
        s["epoch_time"] += time.time() - start
        stats = all_reduce_sum(
            torch.tensor([s["loss"], s["count"]], dtype=torch.float64), self.dist
        )
        return float(stats[0] / stats[1].clamp(min=1))

    def _tau(self) -> float:
        return float(self.module.tau.detach()) if self.conf.task == "atcl" else 0.0

    # ---- validation and bookkeeping ----------------------------------------------
    def validate(self):
        t = self.task
        if self.conf.task == "atcl":
            return retrieval_eval(
                self.module, t.valid_set, t.valid_text, t.valid_owner, self.device
            )
        return tagging_eval(self.module, t.valid_set, t.valid_targets, self.device)

    def end_epoch(self, epoch: int, train_loss: float) -> None:
        metrics, valid_loss = self.validate()
        s, score = self.state, main_metric(self.conf.task, metrics)
        row = {
            "epoch": epoch,
            "step": s["step"],
            "train_loss": train_loss,
            "valid_loss": valid_loss,
            "valid_metric": score,
            "metrics": metrics,
            "tau": self._tau(),
            "lr": self.scheduler.get_last_lr()[0],
            "time_s": round(s["epoch_time"], 3),
        }
        s["history"] = [h for h in s["history"] if h["epoch"] < epoch] + [row]
        logger.info(
            "epoch %d done: train_loss %.4f valid_loss %.4f valid %s %.4f (%.1f s)",
            epoch,
            train_loss,
            valid_loss,
            "t2a mAP@10" if self.conf.task == "atcl" else "mAP",
            score,
            row["time_s"],
        )
        scored = [{"epoch": h["epoch"], "score": h["valid_metric"]} for h in s["history"]]
        best = ckpt.update_nbest(
            self.ckpt_dir,
            self.module.state_dict(),
            epoch,
            score,
            self.conf.keep_nbest,
            True,
            scored,
        )
        if best["epoch"] == epoch:
            ckpt.save_atomic(
                {
                    "model": self.module.state_dict(),
                    "epoch": epoch,
                    "score": score,
                    "metrics": metrics,
                },
                self.exp_dir / "best.pt",
            )
        rows = s["history"]
        write_text_atomic(
            self.exp_dir / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in rows)
        )
        plot_history(
            rows,
            self.exp_dir / "images",
            "t2a mAP@10" if self.conf.task == "atcl" else "tagging mAP",
        )

    def fit(self) -> None:
        while self.state["epoch"] <= self.conf.optim.epochs:
            epoch = self.state["epoch"]
            train_loss = self.train_epoch(epoch)
            if self.dist.is_main:
                self.end_epoch(epoch, train_loss)
            self.state.update(epoch=epoch + 1, batch=0, loss=0.0, count=0.0, epoch_time=0.0)
            self.save_last()
            barrier(self.dist)
        logger.info(
            "training finished: %d epochs, %d steps", self.conf.optim.epochs, self.state["step"]
        )
