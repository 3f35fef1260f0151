"""What a feature cache says about its features, as config.yaml's `encoder:` block keeps it.

    attrs = feature_attrs("dump/feats/beats_1a2b3c4d/clotho_development/feats.h5")
    info = encoder_info_from_attrs(attrs)   # -> config.yaml `encoder:` (name, rates, ...)
    k = extract_stride(info)                # frames the cache already dropped at extraction
    tag = feats_tag(info)                   # "beats_1a2b3c4d": the cache's directory name
    mismatches(info, other_attrs)           # [(key, info's value, the cache's value)]

Training writes the block, decoding / packing / the Captioner / the results tables read
it; the module sits below all of them. The same block, built from the inputs a user asks
for (`requested_encoder_info`), names the cache directory: `feats_tag` hashes everything
that changes the features, so two checkpoints of one encoder never share a cache.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np

ENCODER_INFO_KEYS = (
    "name",
    "checkpoint",
    "checkpoint_sha256",
    "random_init",
    "sample_rate",
    "frame_rate",
    "extract_stride",
    "dtype",
)
# What changes the features of a cache, given the audio: the directory tag hashes these.
# The sample rate and frame rates follow from the encoder and its conf.
IDENTITY_KEYS = (
    "name",
    "checkpoint_sha256",
    "random_init",
    "conf",
    "extract_stride",
    "chunk_seconds",
    "dtype",
)
# The checkpoint path is where the weights were, not what they are: their SHA-256 is
# compared instead, so a moved checkpoint still matches.
NOT_COMPARED = ("checkpoint",)


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
    """Frame stride applied when the cache was written (cache attrs or `encoder:` block)."""
    return int(info.get("extract_stride") or 1)


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


def parse_encoder_conf(items) -> dict:
    """`--encoder-conf` items (YAML files and key=value overrides, in order) -> a dict."""
    from aac.config import apply_overrides, load_yaml

    conf: dict = {}
    for item in items:
        if "=" in item:
            apply_overrides(conf, [item], source="--encoder-conf")
        else:
            conf.update(load_yaml(item))
    return conf


def requested_encoder_info(
    encoder: str,
    checkpoint: Optional[str],
    random_init: bool,
    conf: Optional[dict],
    stride: int,
    chunk_seconds: Optional[float],
    dtype: str,
) -> dict:
    """The identity part of an `encoder:` block for features not extracted yet."""
    if checkpoint is not None and not Path(checkpoint).is_file():
        raise FileNotFoundError(f"encoder checkpoint not found: {checkpoint}")
    from aac.hashing import file_sha256  # as the encoder records it, without torch

    sha256 = "" if checkpoint is None else file_sha256(checkpoint)
    return {
        "name": encoder,
        "checkpoint_sha256": sha256,
        "random_init": bool(random_init),
        "conf": dict(conf or {}),
        "extract_stride": int(stride),
        "chunk_seconds": float(chunk_seconds or 0.0),
        "dtype": dtype,
    }


def feats_tag(info: dict) -> str:
    """`<encoder>[_random]_<hash8>`: the cache directory of features made as `info` says."""
    identity = {key: info.get(key) for key in IDENTITY_KEYS}
    identity["extract_stride"] = extract_stride(info)
    identity["chunk_seconds"] = float(info.get("chunk_seconds") or 0.0)
    identity["conf"] = info.get("conf") or {}
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
    return f"{info['name']}{'_random' if info.get('random_init') else ''}_{digest}"


def _same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        try:
            return math.isclose(float(a), float(b), rel_tol=1e-9)
        except (TypeError, ValueError):
            return False
    return a == b


def mismatches(info: dict, attrs: dict) -> List[Tuple[str, object, object]]:
    """Keys of `info` (an `encoder:` block) that a cache's `attrs` contradict.

    Returns [(key, info's value, the cache's value)]; keys `info` does not record (None)
    are not compared, nor the checkpoint path (see NOT_COMPARED).
    """
    cache = encoder_info_from_attrs(attrs)
    return [
        (key, value, cache.get(key))
        for key, value in info.items()
        if key not in NOT_COMPARED and value is not None and not _same(value, cache.get(key))
    ]


def describe_mismatch(found: List[Tuple[str, object, object]], cache: str, wanted: str) -> str:
    """'FILE was made with K=V, but WANTED has K=W' for the first mismatch (and the count)."""
    key, expected, actual = found[0]
    more = f" (and {len(found) - 1} more: {', '.join(k for k, _, _ in found[1:])})"
    return f"{cache} was made with {key}={actual!r}, but {wanted} has {key}={expected!r}" + (
        more if len(found) > 1 else ""
    )
