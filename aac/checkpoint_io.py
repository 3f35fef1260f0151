"""The one way the toolkit reads and writes checkpoint files.

Reading uses `torch.load(weights_only=True)` (or safetensors for `.safetensors` files): it
cannot run code hidden in a pickle. A file that needs full unpickling is opened only when
the caller passes `trust=True` (the `--trust-checkpoint` flag, `trust_checkpoint=True` in
Python), and the refusal says so. Everything the toolkit writes itself (decoder weights,
resume state with RNG states, packed models) is plain tensors, numbers, strings, lists and
dicts, so it always loads weights-only.

Writing goes to `<name>.tmp` and is renamed, so a kill never leaves a half-written
checkpoint that looks finished. This module sits below encoders, training and inference.
"""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path

import torch

from aac.errors import AacError
from aac.hashing import file_sha256  # noqa: F401 (the one hasher; callers import it here too)


class CheckpointError(AacError, ValueError):
    """Unreadable, untrusted or mismatching checkpoint; the message names the file."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """The checkpoint file does not exist."""


def _first_line(e: BaseException) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(e)).strip()  # torch colours its messages
    lines = text.splitlines()
    # torch's weights-only refusal says what it met on a later line: name that object
    culprit = re.search(r"Unsupported global: GLOBAL \S+", text)
    return culprit.group(0) if culprit else (lines[0] if lines else type(e).__name__)


def load_checkpoint(path: str | os.PathLike, trust: bool = False, map_location="cpu"):
    """Read a checkpoint; full unpickling only when `trust` is set."""
    path = str(path)
    if not os.path.isfile(path):
        raise CheckpointNotFoundError(f"{path}: checkpoint file not found")
    if path.endswith(".safetensors"):
        return load_safetensors(path, map_location)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        if "weights only" not in str(e).lower():
            raise CheckpointError(
                f"{path}: cannot read checkpoint (corrupt or truncated?): {_first_line(e)}"
            ) from None
        if not trust:
            raise CheckpointError(
                f"{path}: refused: this file stores Python objects beyond tensors and can only "
                f"be read with full unpickling, which can run arbitrary code "
                f"({_first_line(e)}). If you trust its source, pass --trust-checkpoint "
                f"(trust_checkpoint=True in Python)."
            ) from None
    except Exception as e:  # truncated zip, random bytes, wrong format
        raise CheckpointError(
            f"{path}: cannot read checkpoint (truncated or not a PyTorch "
            f"file?): {type(e).__name__}: {_first_line(e)}"
        ) from None
    try:  # only reached with trust=True
        return torch.load(path, map_location=map_location, weights_only=False)  # trusted
    except Exception as e:
        raise CheckpointError(
            f"{path}: cannot read checkpoint: {type(e).__name__}: {_first_line(e)}"
        ) from None


def load_safetensors(path: str | os.PathLike, map_location="cpu") -> dict:
    """A safetensors file as {name: tensor} (never runs code)."""
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device=str(map_location))
    except Exception as e:
        raise CheckpointError(
            f"{path}: cannot read safetensors file: {type(e).__name__}: {_first_line(e)}"
        ) from None


def save_atomic(obj, path: str | os.PathLike) -> None:
    """torch.save through `<name>.tmp` + rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def save_safetensors_atomic(tensors: dict, path: str | os.PathLike, metadata=None) -> None:
    """{name: tensor} as safetensors through `<name>.tmp` + rename."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp), metadata=metadata)
    os.replace(tmp, path)
