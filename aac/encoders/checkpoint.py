"""Safe checkpoint reading and strict state-dict checks with messages that name the file.

`torch.load(weights_only=True)` is tried first: it cannot run code hidden in a pickle.
A file that needs full unpickling is opened only when the caller passes
`trust=True` (the `--trust-checkpoint` flag). Mismatches report the first offending
key and shape instead of PyTorch's wall of 300 missing keys.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from typing import Dict, Mapping

import torch


class CheckpointError(ValueError):
    """Unreadable, untrusted or mismatching checkpoint; the message names the file."""


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def load_checkpoint(path: str | os.PathLike, trust: bool = False):
    """Read a checkpoint on CPU; full unpickling only when `trust` is set."""
    path = str(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: checkpoint file not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "weights only" not in str(e).lower():
            raise CheckpointError(f"{path}: cannot read checkpoint (corrupt or truncated?): {e}") from None
        if not trust:
            first = str(e).strip().splitlines()[0]
            raise CheckpointError(
                f"{path}: this file stores Python objects beyond tensors and can only be read "
                f"with full unpickling, which can run arbitrary code ({first}). If you trust "
                f"its source, pass --trust-checkpoint (trust_checkpoint=True)."
            ) from None
    except Exception as e:  # truncated zip, random bytes, wrong format
        raise CheckpointError(
            f"{path}: cannot read checkpoint (truncated or not a PyTorch file?): "
            f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        ) from None
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:
        raise CheckpointError(f"{path}: cannot read checkpoint: {type(e).__name__}: {e}") from None


def state_dict_of(obj, path: str, container_key: str | None) -> Dict[str, torch.Tensor]:
    """Pull the state dict out of a loaded checkpoint (`obj[container_key]` or obj itself)."""
    if container_key is not None:
        if not isinstance(obj, Mapping) or container_key not in obj:
            kind = f"keys {sorted(obj)[:5]}" if isinstance(obj, Mapping) else type(obj).__name__
            raise CheckpointError(f"{path}: expected a dict with a {container_key!r} entry, got {kind}")
        obj = obj[container_key]
    if not isinstance(obj, Mapping) or not all(torch.is_tensor(v) for v in obj.values()):
        raise CheckpointError(f"{path}: expected a state dict of tensors, got {type(obj).__name__}")
    return dict(obj)


def check_state_dict(
    model: torch.nn.Module, state: Mapping[str, torch.Tensor], path: str, what: str
) -> None:
    """Raise naming the first missing/unexpected key or wrong shape, in model order."""
    expected = model.state_dict()
    for key, tensor in expected.items():
        if key not in state:
            raise CheckpointError(
                f"{path}: not a {what} checkpoint: key {key!r} {tuple(tensor.shape)} is missing "
                f"(file has {len(state)} keys, model expects {len(expected)})"
            )
        if tuple(state[key].shape) != tuple(tensor.shape):
            raise CheckpointError(
                f"{path}: not a {what} checkpoint: key {key!r} has shape "
                f"{tuple(state[key].shape)} in the file, model expects {tuple(tensor.shape)}"
            )
    extra = [k for k in state if k not in expected]
    if extra:
        raise CheckpointError(
            f"{path}: not a {what} checkpoint: unexpected key {extra[0]!r} "
            f"({len(extra)} unexpected in total)"
        )


def load_strict(model: torch.nn.Module, state: Mapping[str, torch.Tensor], path: str, what: str):
    check_state_dict(model, state, path, what)
    model.load_state_dict(state, strict=True)
