"""Atomic file writes: write a temporary sibling, then rename over the target.

A reader (or a rerun after a kill) sees either the old file or the complete new one,
never a half-written file that looks finished.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write `text` (UTF-8) to `path` through `path.tmp`; creates the parent directory."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_json_atomic(path: str | os.PathLike, data: Any, indent: int = 2) -> None:
    """JSON (non-ASCII kept as is) with a final newline, written atomically."""
    write_text_atomic(path, json.dumps(data, indent=indent, ensure_ascii=False) + "\n")
