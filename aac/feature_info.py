"""What a feature cache says about its features, as config.yaml's `encoder:` block keeps it.

    attrs = feature_attrs("dump/feats/beats/clotho_development/feats.h5")
    info = encoder_info_from_attrs(attrs)   # -> config.yaml `encoder:` (name, rates, ...)
    k = extract_stride(info)                # frames the cache already dropped at extraction

Training writes the block, decoding / packing / the Captioner / the results tables read
it; the module sits below all of them. Caches written before the rename recorded the
extraction stride as `downsample`; it still reads as `extract_stride`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

ENCODER_INFO_KEYS = (
    "name",
    "checkpoint",
    "checkpoint_sha256",
    "random_init",
    "sample_rate",
    "frame_rate",
    "extract_stride",
)


def open_features(path: str | os.PathLike):
    """A streaming reader of a finished HDF5 feature cache (FileNotFoundError if absent)."""
    from aac.features import FeatureReader

    if not Path(path).is_file():
        raise FileNotFoundError(f"feature cache not found: {path}")
    return FeatureReader(str(path))


def feature_attrs(path: str | os.PathLike) -> dict:
    """Root attributes of a cache as plain Python values (for config.yaml)."""
    out = {}
    for key, value in dict(open_features(path).attrs).items():
        if isinstance(value, bytes):
            value = value.decode("utf-8")
        elif isinstance(value, np.generic):
            value = value.item()
        out[key] = value
    return out


def extract_stride(info: dict) -> int:
    """Frame stride applied when the cache was written (attrs or encoder block; old name too)."""
    value = info.get("extract_stride")
    if value is None:
        value = info.get("downsample")  # caches and configs from before the rename
    return int(value or 1)


def encoder_info_from_attrs(attrs: dict) -> dict:
    """Feature-cache attributes -> the `encoder:` block stored in config.yaml."""
    info = {key: attrs.get(key) for key in ENCODER_INFO_KEYS}
    info["name"] = attrs.get("encoder", attrs.get("name"))
    info["extract_stride"] = extract_stride(attrs)
    info["dim"] = attrs.get("dim")
    # Long clips were encoded in chunks of this many seconds (0: whole clips); captioning
    # from audio chunks the same way to get the same features.
    info["chunk_seconds"] = float(attrs.get("chunk_seconds") or 0.0)
    # The options the features were extracted with (e.g. BEATs freq_pool): decoding from
    # audio must rebuild the very same encoder.
    info["conf"] = json.loads(attrs.get("encoder_conf") or "{}")
    return info
