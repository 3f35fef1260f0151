"""What every training loop of the toolkit shares: resumable state and the optimizer step.

`ResumableLoop` is mixed into the caption trainer (`aac.train.trainer.Trainer`) and the
encoder pre-trainer (`aac.pretrain.trainer.PretrainTrainer`). It expects the attributes
`module` (the unwrapped model), `optimizer`, `scheduler`, `scaler` (GradScaler), `state`
(dict with at least epoch and step), `conf` (a dataclass with `optim.grad_clip`),
`ckpt_dir`, `dist` (DistInfo) and `device`. `checkpoints/last.pt` holds the model,
optimizer, scheduler, scaler, loop state, RNG states and the config, written atomically and
read weights-only; a subclass adds its own entries through `extra_state`/`load_extra_state`.
"""

from __future__ import annotations

import dataclasses
import logging

import torch

from aac.train import checkpoints as ckpt

logger = logging.getLogger("aac.train")


class ResumableLoop:
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
