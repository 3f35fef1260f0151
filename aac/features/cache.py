"""HDF5 feature cache: one dataset per clip id, shape (frames, dim), plus root attributes.

Root attributes (docs/design.md): `encoder`, `checkpoint`, `checkpoint_sha256`,
`random_init`, `sample_rate`, `frame_rate` (after the extraction stride), `extract_stride`, `dim`,
`dtype`; extraction adds `encoder_frame_rate`, `encoder_conf` and, for random weights,
`warning`. The completeness mark, written by `finish()` only: `complete=True`,
`num_clips` (datasets in the file) and, from extraction, `num_listed` (clips of the
wav.scp) and `num_skipped` (unreadable clips, reasons in the log), with
num_clips + num_skipped == num_listed. `FeatureReader` refuses a file without it.
`finish()` also writes the clip index (`#index`: clip ids and frame counts, see
aac.features.index), which is all a reader reads on opening.

Writing goes to `<file>.partial`, flushed after every batch, and is renamed to `<file>`
only by `finish()`, so a finished-looking file is always complete. A clip counts as
written only once its dataset carries the attribute `written`, set after its data was
flushed: a crash or a full disk in the middle of a write leaves a dataset without it,
which a rerun deletes and writes again, so a resumed run equals an uninterrupted one.
Reopening a partial file resumes it (its attributes must match); one whose HDF5
structure a kill left unreadable is set aside as `<file>.partial.corrupt` and restarted.
A writer holds an exclusive lock (`aac.locking.OutputLock` on `<file>.lock`) from opening
to publishing, so a second run on the same output stops instead of corrupting the first.

Each clip's dataset carries `crc32` (zlib.crc32 of its stored bytes), and every read
checks it, so a clip changed after extraction (a block overwritten with zeros, values
written in by another tool) is refused, naming the clip; so are non-finite (NaN/Inf)
features, on writing and on reading (`check_finite`). A dataset without `crc32` was not
written by `FeatureWriter` and is refused too.

Reading streams: `FeatureReader` opens the file lazily in each process (h5py handles must
not cross a fork, so DataLoader workers each get their own) and reads one clip at a time.
"""

from __future__ import annotations

import logging
import os
import zlib
from typing import Dict, Iterator, List, Optional, Tuple

import h5py
import numpy as np

from aac.features.index import (
    COMPLETE,
    INDEX,
    FeatureCacheError,
    read_index,
    write_index,
)
from aac.locking import OutputLock

log = logging.getLogger(__name__)


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


CLIP_DONE = "written"  # dataset attribute set after the clip's data is flushed
CHECKSUM = "crc32"  # dataset attribute: zlib.crc32 of the clip's stored bytes
DEFAULT_CHUNK_SECONDS = 60.0  # aac-extract-feats --chunk-seconds (attribute chunk_seconds)


def check_finite(feats: np.ndarray, clip_id: str, path: str) -> np.ndarray:
    """Raise FeatureCacheError if `feats` holds NaN or Inf; returns `feats` unchanged."""
    if not np.isfinite(feats).all():
        bad = int(np.size(feats) - np.count_nonzero(np.isfinite(feats)))
        raise FeatureCacheError(
            f"{path}: clip {clip_id!r} has {bad} non-finite (NaN/Inf) "
            f"feature values; re-extract it (float16 storage overflows "
            f"above 65504)"
        )
    return feats


def clip_checksum(feats: np.ndarray) -> int:
    """CRC-32 of an array's bytes as stored (C order, stored dtype)."""
    return zlib.crc32(np.ascontiguousarray(feats).data)


def check_checksum(feats: np.ndarray, recorded, clip_id: str, path: str) -> np.ndarray:
    """Raise FeatureCacheError unless `feats` has the checksum written with it."""
    if recorded is None:
        raise FeatureCacheError(
            f"{path}: clip {clip_id!r} has no checksum (dataset attribute {CHECKSUM!r}): "
            f"not written by aac.features.FeatureWriter; re-extract it with aac-extract-feats"
        )
    actual = clip_checksum(feats)
    if actual != int(recorded):
        raise FeatureCacheError(
            f"{path}: clip {clip_id!r} fails its checksum (crc32 {actual:08x}, written "
            f"{int(recorded):08x}): the file was changed or damaged after extraction; "
            f"re-extract it"
        )
    return feats


class FeatureWriter:
    """Append clips to `<path>.partial`; `finish()` renames it to `path`.

    with FeatureWriter(path, attrs) as w:
        for clip_id, feats in ...:
            if clip_id not in w: w.write(clip_id, feats)
            w.flush()  # marks the written clips complete
        w.finish()
    """

    def __init__(self, path: str | os.PathLike, attrs: Dict[str, object]):
        self.path = str(path)
        self.partial = self.path + ".partial"
        self.attrs = dict(attrs)
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        self._lock = OutputLock(self.path)
        self._pending: List[str] = []
        try:
            self.resumed = os.path.exists(self.partial)
            self._h5 = self._open_partial() if self.resumed else self._create()
        except BaseException:
            self._lock.release()
            raise

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
            if "lock" in str(e).lower():  # HDF5's own file lock: a live writer, not damage
                raise FeatureCacheError(
                    f"{self.partial}: another process has it open ({e}); not touching it"
                ) from None
            log.warning(
                "%s: unreadable partial file (%s); setting it aside and starting over",
                self.partial,
                e,
            )
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
        if INDEX in h5:  # killed inside finish(): the index is written again there
            del h5[INDEX]
        unfinished = [k for k in h5.keys() if not h5[k].attrs.get(CLIP_DONE, False)]
        for clip_id in unfinished:  # half-written by a crash or a full disk: redo
            del h5[clip_id]
        if unfinished:
            log.warning(
                "%s: %d clip(s) were not completely written (%s); writing them again",
                self.partial,
                len(unfinished),
                " ".join(unfinished[:5]),
            )
            h5.flush()
        return h5

    def __contains__(self, clip_id: str) -> bool:
        return clip_id in self._h5

    def __len__(self) -> int:
        return len(self._h5)

    def keys(self) -> List[str]:
        return [k for k in self._h5.keys() if k != INDEX]

    def write(self, clip_id: str, feats: np.ndarray) -> None:
        """Add one clip (frames, dim); it counts as written after the next `flush()`."""
        if feats.ndim != 2:
            raise FeatureCacheError(
                f"{self.partial}: {clip_id}: features must be (frames, dim), got {feats.shape}"
            )
        if clip_id in self._h5:
            raise FeatureCacheError(f"{self.partial}: clip {clip_id!r} written twice")
        if not clip_id or "#" in clip_id or any(c.isspace() for c in clip_id):
            # '#' marks the index; whitespace separates ids in the index and in wav.scp
            raise FeatureCacheError(
                f"{self.partial}: clip id {clip_id!r} is empty or contains '#' or whitespace"
            )
        check_finite(feats, clip_id, self.partial)
        self._pending.append(clip_id)
        try:
            data = self._h5.create_dataset(clip_id, data=feats)
            data.attrs[CHECKSUM] = clip_checksum(feats)
        except OSError as e:  # HDF5 reports a full disk without an errno
            raise FeatureCacheError(
                f"{self.partial}: writing clip {clip_id!r} failed ({e}); "
                f"free space and rerun: unfinished clips are redone"
            ) from e

    def flush(self) -> None:
        """Flush the data, then mark the clips written since the last flush complete."""
        try:
            self._h5.flush()
            for clip_id in self._pending:
                self._h5[clip_id].attrs[CLIP_DONE] = True
            self._pending = []
            self._h5.flush()
        except OSError as e:
            raise FeatureCacheError(
                f"{self.partial}: flushing failed ({e}); free space and "
                f"rerun: unfinished clips are redone"
            ) from e

    def finish(self, extra_attrs: Optional[dict] = None) -> str:
        """Mark complete, close and atomically publish the file; returns its path."""
        self.flush()
        clip_ids = self.keys()
        unfinished = [k for k in clip_ids if not self._h5[k].attrs.get(CLIP_DONE, False)]
        if unfinished:  # cannot happen through write()+flush(); guards hand-made partials
            raise FeatureCacheError(
                f"{self.partial}: clips {unfinished[:5]} are not marked written"
            )
        write_index(self._h5, clip_ids, [self._h5[k].shape[0] for k in clip_ids])
        for key, value in (extra_attrs or {}).items():
            self._h5.attrs[key] = value
        self._h5.attrs["num_clips"] = len(clip_ids)
        self._h5.attrs[COMPLETE] = True
        self._h5.close()
        os.replace(self.partial, self.path)
        self._lock.release()
        return self.path

    def discard(self) -> None:
        """Close and delete the partial file (nothing worth keeping was written)."""
        self.close()
        os.remove(self.partial)

    def close(self) -> None:
        """Close without publishing (the partial file stays resumable)."""
        if self._h5.id.valid:
            self._h5.close()
        self._lock.release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class FeatureReader:
    """Read-only, streaming access to a finished feature file (completeness mark checked).

    Opening reads the root attributes and the clip index (aac.features.index), never the
    list of the file's keys. `reader[clip_id]` -> np.ndarray (frames, dim) in the stored
    dtype; `reader.shape(id)`, `keys()`, `len()` and `in` answer from the index without
    touching the file. Safe to pass to DataLoader workers (reopened per process).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = str(path)
        if not os.path.isfile(self.path):
            hint = (
                " (an unfinished .partial exists: extraction did not complete)"
                if os.path.exists(self.path + ".partial")
                else ""
            )
            raise FeatureCacheError(f"{self.path}: feature file not found{hint}")
        try:
            with h5py.File(self.path, "r") as h5:
                self.attrs = read_attrs(h5)
                self._keys, frames = read_index(h5, self.path, self.attrs)
        except OSError as e:
            raise FeatureCacheError(
                f"{self.path}: not a readable HDF5 feature file ({e})"
            ) from None
        self._frames: Dict[str, int] = dict(zip(self._keys, frames.tolist()))
        self._dim = int(self.attrs["dim"])
        self._h5: Optional[h5py.File] = None
        self._pid: Optional[int] = None

    def _file(self) -> h5py.File:
        if self._h5 is None or self._pid != os.getpid():
            self._h5 = h5py.File(self.path, "r")
            self._pid = os.getpid()
        return self._h5

    def __getitem__(self, clip_id: str) -> np.ndarray:
        """The clip's features, refused when non-finite, when they fail their checksum or
        when they are not the shape the index records."""
        expected = self.shape(clip_id)
        try:
            data = self._file()[clip_id]
        except KeyError:
            raise FeatureCacheError(
                f"{self.path}: the index lists clip {clip_id!r} but the file does not hold "
                f"it: the file was changed after extraction; re-extract it"
            ) from None
        if data.shape != expected:
            raise FeatureCacheError(
                f"{self.path}: clip {clip_id!r} has shape {data.shape} but its index row "
                f"and dim say {expected}: the file was changed after extraction; re-extract it"
            )
        try:
            feats = data[()]
        except OSError as e:  # HDF5 could not decode the clip's blocks
            raise FeatureCacheError(
                f"{self.path}: clip {clip_id!r} is unreadable ({e}): the file is damaged; "
                f"re-extract it"
            ) from None
        check_finite(feats, clip_id, self.path)  # first: NaN written in by another tool
        return check_checksum(feats, data.attrs.get(CHECKSUM), clip_id, self.path)

    def shape(self, clip_id: str) -> Tuple[int, int]:
        """(frames, dim) of a clip, from the index (KeyError naming the file if absent)."""
        try:
            return (self._frames[clip_id], self._dim)
        except KeyError:
            raise KeyError(f"{self.path}: no features for clip {clip_id!r}") from None

    def keys(self) -> List[str]:
        return list(self._keys)

    def __contains__(self, clip_id: str) -> bool:
        return clip_id in self._frames

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
