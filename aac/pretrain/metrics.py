"""Retrieval and tagging metrics of the pre-training tasks (numpy; no torch needed).

Retrieval (DCASE 2022-24 task 6b protocol): text-to-audio, each caption queries the audio
set and has exactly one relevant clip; R@k = share of queries whose clip ranks <= k;
mAP@10 = mean over queries of 1/rank when rank <= 10, else 0. Audio-to-text, each clip
queries all captions and its own (usually 5) are relevant; the rank is that of its
best-ranked own caption. A rank is 1 + the number of irrelevant items scoring at least
as high as the best relevant one (ties count against the query, so a model that scores
everything equal gets chance figures, not perfect ones).

Tagging: mAP = macro average over classes of average precision
AP = sum over distinct score thresholds of (recall step) x (precision), as
scikit-learn's `average_precision_score`; classes without a positive example are left
out and counted.
"""

from __future__ import annotations

from typing import Dict, Sequence

import numpy as np


def ranks_of(scores: np.ndarray, relevant: np.ndarray) -> np.ndarray:
    """scores, relevant: (Q, N) float and bool -> (Q,) 1-based rank of the best relevant item."""
    scores = np.asarray(scores, dtype=np.float64)
    relevant = np.asarray(relevant, dtype=bool)
    if scores.shape != relevant.shape or not relevant.any(axis=1).all():
        raise ValueError("every query needs at least one relevant item of the same shape")
    best = np.where(relevant, scores, -np.inf).max(axis=1, keepdims=True)  # (Q, 1)
    return 1 + ((scores >= best) & ~relevant).sum(axis=1)


def recall_map(ranks: np.ndarray, ks: Sequence[int] = (1, 5, 10)) -> Dict[str, float]:
    ranks = np.asarray(ranks)
    out = {f"R@{k}": float((ranks <= k).mean()) for k in ks}
    out["mAP@10"] = float(np.where(ranks <= 10, 1.0 / ranks, 0.0).mean())
    return out


def retrieval_metrics(sim: np.ndarray, caption_clip: Sequence[int]) -> Dict[str, dict]:
    """sim: (C captions, N clips) similarities; caption_clip[c] = index of caption c's clip.

    Returns {"t2a": {R@1, R@5, R@10, mAP@10}, "a2t": {...}, "num_clips", "num_captions"}.
    """
    sim = np.asarray(sim, dtype=np.float64)
    owner = np.asarray(caption_clip)
    relevant = owner[:, None] == np.arange(sim.shape[1])[None, :]  # (C, N)
    return {
        "t2a": recall_map(ranks_of(sim, relevant)),
        "a2t": recall_map(ranks_of(sim.T, relevant.T)),
        "num_clips": int(sim.shape[1]),
        "num_captions": int(sim.shape[0]),
    }


def average_precision(scores: np.ndarray, targets: np.ndarray) -> float:
    """AP of one class: scores (N,), targets (N,) in {0, 1}; nan without positives."""
    scores = np.asarray(scores, dtype=np.float64)
    targets = np.asarray(targets) > 0.5
    if not targets.any():
        return float("nan")
    order = np.argsort(-scores, kind="mergesort")
    s, t = scores[order], targets[order]
    tp = np.cumsum(t)
    last = np.r_[s[1:] != s[:-1], True]  # last item of each run of equal scores
    tp, seen = tp[last], np.arange(1, len(s) + 1)[last]
    precision, recall = tp / seen, tp / t.sum()
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def tagging_map(scores: np.ndarray, targets: np.ndarray) -> Dict[str, float]:
    """scores, targets: (N, K) -> {"mAP", "num_classes_scored", "num_classes_without_positives"}."""
    aps = np.array([average_precision(scores[:, k], targets[:, k]) for k in range(scores.shape[1])])
    scored = ~np.isnan(aps)
    return {
        "mAP": float(aps[scored].mean()) if scored.any() else float("nan"),
        "num_classes_scored": int(scored.sum()),
        "num_classes_without_positives": int((~scored).sum()),
    }
