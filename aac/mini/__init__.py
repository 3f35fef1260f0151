"""Deterministic synthetic mini corpus in the Clotho v2.1 / AudioCaps v1 on-disk layouts."""

from aac.mini.corpus import DEFAULT_CLIPS, MiniConf, is_complete, make_corpus

__all__ = ["DEFAULT_CLIPS", "MiniConf", "is_complete", "make_corpus"]
