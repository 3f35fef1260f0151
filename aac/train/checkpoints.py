"""What the training loop's checkpoints hold beside the weights: RNG states, the n best
epochs, and the average of the n best (`average_best`: best.pt as ESPnet and icefall make it).

Files are written and read through `aac.checkpoint_io` (atomic, weights-only). RNG states
are stored as tensors and plain numbers so resume state loads weights-only too.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import List, Optional

import numpy as np
import torch

from aac.checkpoint_io import load_checkpoint, save_atomic


def rng_state() -> dict:
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": {
            "name": name,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    n = state["numpy"]
    np.random.set_state(
        (n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"])
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def update_nbest(
    ckpt_dir: Path,
    model_state: dict,
    epoch: int,
    score: float,
    keep: int,
    higher_is_better: bool,
    history: List[dict],
) -> Optional[dict]:
    """Save epoch<N>.pt if it ranks in the n best; delete the dropped ones; return the best.

    `history` holds {"epoch", "score"} of every validated epoch (from metrics.jsonl).
    """
    ranked = rank_epochs(history, higher_is_better)
    kept = {h["epoch"] for h in ranked[: max(1, keep)]}
    if epoch in kept:
        save_atomic(
            {"model": model_state, "epoch": epoch, "score": score}, ckpt_dir / f"epoch{epoch}.pt"
        )
    for path in ckpt_dir.glob("epoch*.pt"):
        stem = path.stem[len("epoch") :]
        if stem.isdigit() and int(stem) not in kept:
            path.unlink()
    return ranked[0] if ranked else None


def rank_epochs(history: List[dict], higher_is_better: bool) -> List[dict]:
    """{"epoch", "score"} rows best first (ties: the earlier epoch first)."""
    return sorted(
        history, key=lambda h: (-h["score"] if higher_is_better else h["score"], h["epoch"])
    )


def average_states(states: List[dict]) -> dict:
    """Element-wise mean of floating-point tensors of several state dicts (in float64, cast
    back); other entries (integer buffers) are taken from the first state."""
    out = {}
    for key, first in states[0].items():
        if torch.is_tensor(first) and first.is_floating_point():
            total = sum(s[key].double() for s in states)
            out[key] = (total / len(states)).to(first.dtype)
        else:
            out[key] = first
    return out


def average_nbest(ckpt_dir: Path, epochs: List[int]) -> dict:
    """Mean weights of checkpoints/epoch<N>.pt for N in `epochs` (update_nbest keeps them)."""
    return average_states([load_checkpoint(ckpt_dir / f"epoch{e}.pt")["model"] for e in epochs])


def save_average_best(
    ckpt_dir: Path,
    best_path: Path,
    history: List[dict],
    n: int,
    higher_is_better: bool,
    metric: str,
    epoch: int,
) -> List[int]:
    """Rewrite best.pt as the mean weights of the n best epochs when `epoch` joins them
    (returns their epochs, else []). Its `epoch`/`score` are the best single epoch's (the
    average itself is not validated); `averaged_epochs` lists what was averaged."""
    top = rank_epochs(history, higher_is_better)[:n]
    epochs = [h["epoch"] for h in top]
    if epoch not in epochs:
        return []
    info = {"epoch": top[0]["epoch"], "score": top[0]["score"], "metric": metric}
    save_atomic(
        {"model": average_nbest(ckpt_dir, epochs), **info, "averaged_epochs": epochs}, best_path
    )
    return epochs
