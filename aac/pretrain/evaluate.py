"""Evaluation of a pre-training model: retrieval (ATCL) and tagging (MLAC) on a data set.

Used both for per-epoch validation (model selection) and by `aac-eval-retrieval` /
`aac-eval-tagging`. Clips are windows of `crop_seconds` from their start (see
aac.pretrain.data), embedded in eval mode in batches.
"""

from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

import torch
import torch.nn.functional as F

from aac.pretrain.data import WaveCrops, collate_waves
from aac.pretrain.losses import info_nce
from aac.pretrain.metrics import retrieval_metrics, tagging_map


@torch.no_grad()
def model_outputs(
    model, crops: WaveCrops, device, batch_size: int = 32, amp: bool = False
) -> torch.Tensor:
    """(N, out) head outputs of every clip of `crops`, in order, float32 on CPU."""
    was_training = model.training
    model.eval()
    loader = torch.utils.data.DataLoader(crops, batch_size=batch_size, collate_fn=collate_waves)
    out = []
    for _, wave, lengths in loader:
        with torch.autocast(torch.device(device).type, enabled=amp):
            out.append(model(wave.to(device), lengths).float().cpu())
    model.train(was_training)
    return torch.cat(out)


def flatten_captions(clip_ids: Sequence[str], captions: Dict[str, List[str]]):
    """-> (all captions, index of each caption's clip in clip_ids)."""
    texts, owner = [], []
    for i, clip in enumerate(clip_ids):
        texts += captions[clip]
        owner += [i] * len(captions[clip])
    return texts, owner


@torch.no_grad()
def retrieval_eval(
    model,
    crops: WaveCrops,
    text_emb: torch.Tensor,
    owner: Sequence[int],
    device,
    batch_size: int = 32,
) -> Tuple[dict, float]:
    """(metrics of aac.pretrain.metrics.retrieval_metrics, InfoNCE of first captions).

    text_emb: (C, H) frozen embeddings of every caption, owner[c] its clip index.
    """
    audio = F.normalize(model_outputs(model, crops, device, batch_size), dim=-1)  # (N, E)
    was_training = model.training
    model.eval()
    text = F.normalize(model.embed_text(text_emb.to(device)).float().cpu(), dim=-1)  # (C, E)
    model.train(was_training)
    sim = (text @ audio.t()).numpy()  # (C, N)
    metrics = retrieval_metrics(sim, owner)
    owner_t = torch.as_tensor(owner)
    first = torch.stack([torch.nonzero(owner_t == i)[0, 0] for i in range(len(audio))])
    loss = float(info_nce(audio, text[first], float(model.tau)))
    return metrics, loss


@torch.no_grad()
def tagging_eval(
    model, crops: WaveCrops, targets: torch.Tensor, device, batch_size: int = 32
) -> Tuple[dict, float]:
    """(tagging mAP metrics, mean BCE); targets (N, K) multi-hot."""
    logits = model_outputs(model, crops, device, batch_size)  # (N, K)
    loss = float(F.binary_cross_entropy_with_logits(logits, targets))
    return tagging_map(torch.sigmoid(logits).numpy(), targets.numpy()), loss


def main_metric(task: str, metrics: dict) -> float:
    """The validation figure that picks the best epoch (and the best tau): higher is better."""
    return float(metrics["t2a"]["mAP@10"] if task == "atcl" else metrics["mAP"])


def retrieval_table(metrics: dict, title: str) -> str:
    rows = [
        f"## {title}",
        "",
        f"{metrics['num_captions']} caption queries, {metrics['num_clips']} clips "
        f"(chance R@1 = {1 / metrics['num_clips']:.4f})",
        "",
        "| direction | R@1 | R@5 | R@10 | mAP@10 |",
        "|---|---|---|---|---|",
    ]
    for key, name in (("t2a", "text-to-audio"), ("a2t", "audio-to-text")):
        m = metrics[key]
        rows.append(
            f"| {name} | {m['R@1']:.4f} | {m['R@5']:.4f} | {m['R@10']:.4f} | {m['mAP@10']:.4f} |"
        )
    return "\n".join(rows) + "\n"


def tagging_table(metrics: dict, title: str, num_clips: int) -> str:
    return (
        "\n".join(
            [
                f"## {title}",
                "",
                f"{num_clips} clips",
                "",
                "| mAP | classes scored | classes without positives |",
                "|---|---|---|",
                f"| {metrics['mAP']:.4f} | {metrics['num_classes_scored']} "
                f"| {metrics['num_classes_without_positives']} |",
            ]
        )
        + "\n"
    )
