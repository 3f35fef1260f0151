"""HDF5 feature cache: one dataset per clip id, shape (frames, dim), plus root attributes.

Root attributes (docs/design.md): `encoder`, `checkpoint`, `checkpoint_sha256`,
`random_init`, `sample_rate`, `frame_rate` (after downsampling), `downsample`, `dim`,
`dtype`; extraction adds `encoder_frame_rate`, `encoder_conf` and, for random weights,
`warning`.

Writing goes to `<file>.partial`, flushed after every batch, and is renamed to `<file>`
only by `finish()`, so a finished-looking file is always complete. Reopening a partial
file resumes it (its attributes must match); one whose HDF5 structure a kill left
unreadable is set aside as `<file>.partial.corrupt` and restarted.

Reading streams: `FeatureReader` opens the file lazily in each process (h5py handles must
not cross a fork, so DataLoader workers each get their own) and reads one clip at a time.
"""

from __future__ import annotations

import logging
import os
from typing import Dict, Iterator, List, Optional

import h5py
import numpy as np

from aac.errors import AacError

log = logging.getLogger(__name__)


class FeatureCacheError(AacError, RuntimeError):
    """A feature file that is missing, mismatching or malformed; names the file."""


def _plain(value):
    """h5py attribute -> plain Python value."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def read_attrs(h5: h5py.File) -> dict:
    return {k: _plain(v) for k, v in h5.attrs.items()}


class FeatureWriter:
    """Append clips to `<path>.partial`; `finish()` renames it to `path`.

        with FeatureWriter(path, attrs) as w:
            for clip_id, feats in ...:
                if clip_id not in w: w.write(clip_id, feats)
            w.finish()
    """

    def __init__(self, path: str | os.PathLike, attrs: Dict[str, object]):
        self.path = str(path)
        self.partial = self.path + ".partial"
        self.attrs = dict(attrs)
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        self.resumed = os.path.exists(self.partial)
        self._h5 = self._open_partial() if self.resumed else self._create()

    def _create(self) -> h5py.File:
        h5 = h5py.File(self.partial, "w")
        for key, value in self.attrs.items():
            h5.attrs[key] = value
        h5.flush()
        return h5

    def _open_partial(self) -> h5py.File:
        try:
            h5 = h5py.File(self.partial, "a")
        except OSError as e:
            log.warning("%s: unreadable partial file (%s); setting it aside and starting over", self.partial, e)
            os.replace(self.partial, self.partial + ".corrupt")
            self.resumed = False
            return self._create()
        old = read_attrs(h5)
        for key, value in self.attrs.items():
            if old.get(key) != value:  # attrs are plain str/int/float/bool
                h5.close()
                raise FeatureCacheError(
                    f"{self.partial}: cannot resume: attribute {key!r} is {old.get(key)!r} in the "
                    f"file but {value!r} now; delete the partial file or rerun with the same options"
                )
        return h5

    def __contains__(self, clip_id: str) -> bool:
        return clip_id in self._h5

    def __len__(self) -> int:
        return len(self._h5)

    def keys(self) -> List[str]:
        return list(self._h5.keys())

    def write(self, clip_id: str, feats: np.ndarray) -> None:
        if feats.ndim != 2:
            raise FeatureCacheError(f"{self.partial}: {clip_id}: features must be (frames, dim), got {feats.shape}")
        if clip_id in self._h5:
            raise FeatureCacheError(f"{self.partial}: clip {clip_id!r} written twice")
        self._h5.create_dataset(clip_id, data=feats)

    def flush(self) -> None:
        self._h5.flush()

    def finish(self, extra_attrs: Optional[dict] = None) -> str:
        """Close and atomically publish the complete file; returns its path."""
        for key, value in (extra_attrs or {}).items():
            self._h5.attrs[key] = value
        self._h5.close()
        os.replace(self.partial, self.path)
        return self.path

    def close(self) -> None:
        """Close without publishing (the partial file stays resumable)."""
        if self._h5.id.valid:
            self._h5.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class FeatureReader:
    """Read-only, streaming access to a finished feature file.

    `reader[clip_id]` -> np.ndarray (frames, dim) in the stored dtype; `reader.shape(id)`
    reads only metadata. Safe to pass to DataLoader workers (reopened per process).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = str(path)
        if not os.path.isfile(self.path):
            hint = " (an unfinished .partial exists: extraction did not complete)" if os.path.exists(self.path + ".partial") else ""
            raise FeatureCacheError(f"{self.path}: feature file not found{hint}")
        try:
            with h5py.File(self.path, "r") as h5:
                self.attrs = read_attrs(h5)
                self._keys = sorted(h5.keys())
                self._keyset = set(self._keys)
        except OSError as e:
            raise FeatureCacheError(f"{self.path}: not a readable HDF5 feature file ({e})") from None
        self._h5: Optional[h5py.File] = None
        self._pid: Optional[int] = None

    def _file(self) -> h5py.File:
        if self._h5 is None or self._pid != os.getpid():
            self._h5 = h5py.File(self.path, "r")
            self._pid = os.getpid()
        return self._h5

    def __getitem__(self, clip_id: str) -> np.ndarray:
        try:
            return self._file()[clip_id][()]
        except KeyError:
            raise KeyError(f"{self.path}: no features for clip {clip_id!r}") from None

    def shape(self, clip_id: str):
        return self._file()[clip_id].shape

    def keys(self) -> List[str]:
        return list(self._keys)

    def __contains__(self, clip_id: str) -> bool:
        return clip_id in self._keyset

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def close(self) -> None:
        if self._h5 is not None and self._pid == os.getpid():
            self._h5.close()
        self._h5 = None

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_h5"], state["_pid"] = None, None  # handles never cross processes
        return state

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
