"""Encoder pre-training (Wu et al. 2023, section 3): make your own audio encoder.

Two tasks share one trainer (`aac-pretrain-encoder --task atcl|mlac`):
  - ATCL, audio-text contrastive learning: a registered encoder (`aac.encoders`, made
    trainable), pooled over frames and projected, against a frozen sentence-embedding
    text encoder (all-MiniLM-L6-v2 by default), symmetric InfoNCE; judged by text-audio
    retrieval (R@1/5/10, mAP@10, DCASE task 6b protocol).
  - MLAC, multi-label audio classification: the same encoder + pooling + a linear
    classifier, BCE, a class-balanced sampler; judged by tagging mAP.
`aac-export-encoder` writes the trained encoder's state dict, which
`aac-extract-feats --encoder NAME --encoder-checkpoint FILE` (and so the captioning recipes) load.
"""
