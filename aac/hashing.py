"""The one chunked file hasher: every file digest in the toolkit (checkpoint SHA-256s, the
MD5s of Zenodo downloads, pinned wheels) is read through `file_digests`.

No PyTorch import here: the download tools use it before any model code is loaded.
"""

from __future__ import annotations

import hashlib
import os
from typing import Dict, Sequence

CHUNK = 1 << 20


def file_digests(
    path: str | os.PathLike, algorithms: Sequence[str] = ("sha256",)
) -> Dict[str, str]:
    """{algorithm: hex digest} of the file, all computed in one read of 1 MiB blocks."""
    digests = {name: hashlib.new(name) for name in algorithms}
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            for digest in digests.values():
                digest.update(block)
    return {name: digest.hexdigest() for name, digest in digests.items()}


def file_sha256(path: str | os.PathLike) -> str:
    return file_digests(path)["sha256"]
