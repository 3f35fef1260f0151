"""Frame striding, the one implementation: keep every k-th frame (the paper's downsampling).

    feats, lengths = stride_frames(feats, lengths, k)   # (B, T, D), (B,) -> (B, ceil(T/k), D)

Used at every level that strides: feature extraction (`extract_stride`, stored in the cache),
training data (`downsample` of config.yaml, before cross-attention) and captioning. Works on
torch tensors and numpy arrays alike; `lengths` may be None (all clips full length).
"""

from __future__ import annotations

STRIDE_FACTORS = (1, 2, 4, 8)


def stride_frames(feats, lengths, k: int):
    """Keep frames 0, k, 2k, ...: feats[:, ::k]; lengths become ceil(len / k)."""
    if k not in STRIDE_FACTORS:
        raise ValueError(f"frame stride must be one of {STRIDE_FACTORS}, got {k}")
    if k == 1:
        return feats, lengths
    if lengths is not None:
        lengths = (lengths + k - 1) // k
    return feats[:, ::k], lengths
