"""What every training loop of the toolkit shares: resumable state and the optimizer step.

`ResumableLoop` is mixed into the caption trainer (`aac.train.trainer.Trainer`) and the
encoder pre-trainer (`aac.pretrain.trainer.PretrainTrainer`). It expects the attributes
`module` (the unwrapped model), `optimizer`, `scheduler`, `scaler` (GradScaler), `state`
(dict with at least epoch and step), `conf` (a dataclass with `optim.grad_clip`),
`ckpt_dir`, `dist` (DistInfo) and `device`; `build_optimization` makes the optimizer,
scheduler and scaler. `checkpoints/last.pt` holds the model,
optimizer, scheduler, scaler, loop state, RNG states and the config, written atomically and
read weights-only; a subclass adds its own entries through `extra_state`/`load_extra_state`.
"""

from __future__ import annotations

import dataclasses
import logging
import math

import torch

from aac.train import checkpoints as ckpt
from aac.train.scheduler import build_scheduler

logger = logging.getLogger("aac.train")


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


class ResumableLoop:
    def build_optimization(self, batches_per_epoch: int) -> None:
        """AdamW, its schedule over all optimizer steps, and the AMP scaler (CUDA only)."""
        optim = self.conf.optim
        self.total_steps = math.ceil(batches_per_epoch / optim.accum_grad) * optim.epochs
        self.optimizer = build_optimizer(self.module, optim)
        self.scheduler = build_scheduler(self.optimizer, optim, self.total_steps)
        self.use_amp = optim.amp and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)

    def extra_state(self) -> dict:
        """More entries for last.pt (e.g. a private RNG)."""
        return {}

    def load_extra_state(self, saved: dict) -> None:
        """Restore what `extra_state` saved."""

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
        ckpt.save_atomic({**state, **self.extra_state()}, self.ckpt_dir / "last.pt")

    def resume(self) -> bool:
        """Restore checkpoints/last.pt if there is one; True when resumed."""
        path = self.ckpt_dir / "last.pt"
        if not path.is_file():
            return False
        saved = ckpt.load_checkpoint(path, map_location=self.device)
        self.module.load_state_dict(saved["model"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.scheduler.load_state_dict(saved["scheduler"])
        self.scaler.load_state_dict(saved["scaler"])
        self.state = dict(saved["state"])
        ckpt.set_rng_state(saved["rng"])
        self.load_extra_state(saved)
        s = self.state
        logger.info(
            "resumed from %s: epoch %d, batch %d, step %d",
            path,
            s["epoch"],
            s.get("batch", 0),
            s["step"],
        )
        return True

    def _optimizer_step(self) -> None:
        """Unscale + clip (optim.grad_clip > 0), step, zero grads, advance the schedule."""
        if self.conf.optim.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.module.parameters(), self.conf.optim.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()
        self.state["step"] += 1
