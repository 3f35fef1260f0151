"""Atomic checkpoints: full training state in last.pt, n-best weights, best.pt.

Every file is written to `<name>.tmp` and renamed, so a kill never leaves a half-written
checkpoint that looks finished.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import List, Optional

import numpy as np
import torch


def save_atomic(obj, path: str | os.PathLike) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    if not Path(path).is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        # Our own files; they hold numpy RNG state, which weights_only=True refuses.
        return torch.load(path, map_location=map_location, weights_only=False)
    except Exception as e:
        raise RuntimeError(f"{path}: cannot load checkpoint ({type(e).__name__}: {e})") from None


def rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(),
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def update_nbest(ckpt_dir: Path, model_state: dict, epoch: int, score: float,
                 keep: int, higher_is_better: bool, history: List[dict]) -> Optional[dict]:
    """Save epoch<N>.pt if it ranks in the n best; delete the dropped ones; return the best.

    `history` holds {"epoch", "score"} of every validated epoch (from metrics.jsonl).
    """
    ranked = sorted(history, key=lambda h: (-h["score"] if higher_is_better else h["score"],
                                            h["epoch"]))
    kept = {h["epoch"] for h in ranked[: max(1, keep)]}
    if epoch in kept:
        save_atomic({"model": model_state, "epoch": epoch, "score": score},
                    ckpt_dir / f"epoch{epoch}.pt")
    for path in ckpt_dir.glob("epoch*.pt"):
        stem = path.stem[len("epoch"):]
        if stem.isdigit() and int(stem) not in kept:
            path.unlink()
    return ranked[0] if ranked else None
