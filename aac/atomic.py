"""Atomic file writes: write a temporary sibling, then rename over the target.

A reader (or a rerun after a kill) sees either the old file or the complete new one,
never a half-written file that looks finished.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any, Iterator, TextIO


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


@contextlib.contextmanager
def open_atomic(path: str | os.PathLike, newline: str | None = None) -> Iterator[TextIO]:
    """A text stream (UTF-8) for `path` written through `path.tmp`, renamed on success.

    For output produced piece by piece (a streaming results file). If the body raises,
    the temporary file is removed and `path` keeps its previous content.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    stream = open(tmp, "w", encoding="utf-8", newline=newline)
    try:
        yield stream
        stream.close()
        os.replace(tmp, path)
    except BaseException:
        stream.close()
        tmp.unlink(missing_ok=True)
        raise
