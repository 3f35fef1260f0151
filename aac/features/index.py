"""The clip index of a finished feature cache, and the checks a reader runs on opening.

A finished cache holds one dataset `#index` beside the clips (`#` is never part of a clip
id): one row per clip, sorted by clip id, fields `clip` (the id, UTF-8 bytes) and `frames`
(its number of frames). `FeatureWriter.finish()` and `aac-merge-feats` write it; a reader
reads it once instead of listing the file's keys, which grew with the number of clips
(a sorted listing of 25,000 clips costs tens of milliseconds, every time a cache is opened).

Opening checks the completeness mark, the root attributes a cache must have, that the
index exists (a cache without one was written before it: re-run stage 3) and that it
lists `num_clips` rows. It does not count the file's clips: HDF5 counts the links of a
group by walking them (70 ms at 25,000 clips, as slow as listing them), so a clip deleted
after publishing is found when it is read, which names it (`FeatureReader`), as a changed
clip is found by its checksum and its index row.
"""

from __future__ import annotations

from typing import List, Sequence, Tuple

import h5py
import numpy as np

from aac.errors import AacError

INDEX = "#index"  # the index dataset; clip ids never contain '#' or whitespace
COMPLETE = "complete"  # root attribute set by finish()
# Attributes a finished cache must carry (written when the file is created).
REQUIRED_ATTRS = ("encoder", "frame_rate", "dim")


class FeatureCacheError(AacError, RuntimeError):
    """A feature file that is missing, mismatching or malformed; names the file."""


def index_rows(clip_ids: Sequence[str], frames: Sequence[int]) -> np.ndarray:
    """(clip, frames) rows sorted by clip id, as the `#index` dataset stores them."""
    order = sorted(range(len(clip_ids)), key=lambda i: clip_ids[i])
    encoded = [clip_ids[i].encode("utf-8") for i in order]
    width = max((len(b) for b in encoded), default=1)
    rows = np.empty(len(encoded), dtype=[("clip", f"S{width}"), ("frames", "<i8")])
    rows["clip"] = encoded
    rows["frames"] = [int(frames[i]) for i in order]
    return rows


def write_index(h5: h5py.File, clip_ids: Sequence[str], frames: Sequence[int]) -> None:
    """Write (or rewrite) the `#index` dataset of the clips `clip_ids`."""
    if INDEX in h5:
        del h5[INDEX]
    h5.create_dataset(INDEX, data=index_rows(clip_ids, frames))


def check_complete(path: str, attrs: dict, num_clips: int) -> None:
    """Refuse a cache without a consistent completeness mark; names what is missing."""
    if attrs.get(COMPLETE) is not True:
        raise FeatureCacheError(
            f"{path}: no completeness mark (root attribute {COMPLETE!r} is "
            f"{attrs.get(COMPLETE)!r}): written by an unfinished run or an older aac; "
            f"re-extract it with aac-extract-feats"
        )
    missing = [k for k in REQUIRED_ATTRS if k not in attrs]
    if missing:
        raise FeatureCacheError(f"{path}: incomplete: root attributes {missing} missing")
    if "num_listed" in attrs:
        skipped = int(attrs.get("num_skipped", 0))
        if num_clips + skipped != attrs["num_listed"]:
            raise FeatureCacheError(
                f"{path}: incomplete: {num_clips} clips + {skipped} skipped but its wav.scp "
                f"listed {attrs['num_listed']} ({attrs['num_listed'] - skipped - num_clips} "
                f"missing)"
            )


def read_index(h5: h5py.File, path: str, attrs: dict) -> Tuple[List[str], np.ndarray]:
    """(sorted clip ids, their frame counts (N,) int64) of a finished cache, checked."""
    check_complete(path, attrs, int(attrs.get("num_clips") or 0))
    if INDEX not in h5:
        raise FeatureCacheError(
            f"{path}: no clip index (dataset {INDEX!r}): written by an aac from before the "
            f"index; re-run stage 3 (aac-extract-feats, aac-merge-feats) to write it again"
        )
    rows = h5[INDEX][()]
    if attrs.get("num_clips") != len(rows):
        raise FeatureCacheError(
            f"{path}: incomplete: num_clips is {attrs.get('num_clips')!r} but its index "
            f"lists {len(rows)} clips"
        )
    # one decode of the joined ids, not one per clip (ids hold no whitespace)
    clip_ids = b"\n".join(rows["clip"].tolist()).decode("utf-8").split("\n") if len(rows) else []
    return clip_ids, rows["frames"].astype(np.int64)
