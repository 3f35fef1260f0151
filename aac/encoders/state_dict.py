"""Strict state-dict checks for encoder checkpoints, with messages that name the file.

Reading goes through `aac.checkpoint_io.load_checkpoint` (weights-only unless trusted);
this module only checks what was read. Mismatches report the first offending key and
shape instead of PyTorch's wall of 300 missing keys.
"""

from __future__ import annotations

from typing import Dict, Mapping

import torch

from aac.checkpoint_io import CheckpointError


def state_dict_of(obj, path: str, container_key: str | None) -> Dict[str, torch.Tensor]:
    """Pull the state dict out of a loaded checkpoint (`obj[container_key]` or obj itself)."""
    if container_key is not None:
        if not isinstance(obj, Mapping) or container_key not in obj:
            kind = f"keys {sorted(obj)[:5]}" if isinstance(obj, Mapping) else type(obj).__name__
            raise CheckpointError(
                f"{path}: expected a dict with a {container_key!r} entry, got {kind}"
            )
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
