"""Per-epoch plots from metrics.jsonl rows: images/loss.png and images/valid_metric.png."""

from __future__ import annotations

import os
from pathlib import Path
from typing import List

# The validation metric's name on the plot: cider_d_simple skips the PTB tokenizer, so it
# is not the CIDEr-D that aac-score reports.
VALID_LABELS = {"cider_d_simple": "CIDEr-D (no PTB tokenization)"}


def _save(fig, path: Path) -> None:
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=100, bbox_inches="tight")
    os.replace(tmp, path)


def plot_history(
    rows: List[dict], image_dir: str | os.PathLike, metric: str, loss_label: str = "loss"
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    image_dir = Path(image_dir)
    image_dir.mkdir(parents=True, exist_ok=True)
    epochs = [r["epoch"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(epochs, [r["train_loss"] for r in rows], marker="o", label="train")
    ax.plot(epochs, [r["valid_loss"] for r in rows], marker="o", label="valid")
    ax.set_xlabel("epoch")
    ax.set_ylabel(loss_label)
    ax.legend()
    ax.grid(alpha=0.3)
    _save(fig, image_dir / "loss.png")
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(epochs, [r["valid_metric"] for r in rows], marker="o")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"valid {VALID_LABELS.get(metric, metric)}")
    ax.grid(alpha=0.3)
    _save(fig, image_dir / "valid_metric.png")
    plt.close(fig)
