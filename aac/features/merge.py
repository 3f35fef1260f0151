"""Merge the feature files of parallel extraction jobs into one, bit for bit.

Parts must carry identical attributes (same encoder, checkpoint hash, extraction stride, ...),
the completeness mark and clip index of a finished extraction (an unfinished, pre-mark
or pre-index part is refused, naming what is missing) and disjoint clip ids, read from
the parts' indexes (no part's keys are listed). Datasets are copied as stored, with
their per-clip marks (no re-encoding), so the merged file equals a single-job run,
completeness mark and index included (counts summed). The output is written under a
temporary name and renamed.
"""

from __future__ import annotations

import os
from typing import Sequence

import h5py

from aac.features.cache import read_attrs
from aac.features.index import COMPLETE, FeatureCacheError, read_index, write_index

# Counts that legitimately differ between parts; summed instead of compared.
SUMMED_ATTRS = ("num_skipped", "num_padded", "num_listed", "num_clips")


def merge_feature_files(parts: Sequence[str], output: str) -> int:
    """Merge `parts` into `output`; returns the number of clips."""
    if not parts:
        raise FeatureCacheError(f"{output}: no input parts to merge")
    attrs, owner, frames, part_ids = None, {}, {}, []
    sums = {k: 0 for k in SUMMED_ATTRS}
    for part in parts:
        if not os.path.isfile(part):
            raise FeatureCacheError(f"{part}: feature part not found (did its job finish?)")
        with h5py.File(part, "r") as h5:
            part_attrs = read_attrs(h5)
            ids, lengths = read_index(h5, part, part_attrs)
            part_attrs.pop(COMPLETE)
            for k in SUMMED_ATTRS:
                value = part_attrs.pop(k, None)
                # a count only some parts record (num_listed) cannot be summed: dropped
                sums[k] = None if (value is None or sums[k] is None) else sums[k] + int(value)
            if attrs is None:
                attrs, first = part_attrs, part
            elif part_attrs != attrs:
                key = sorted(
                    k for k in set(attrs) | set(part_attrs) if attrs.get(k) != part_attrs.get(k)
                )[0]
                raise FeatureCacheError(
                    f"{part}: attribute {key!r} is {part_attrs.get(key)!r} but {attrs.get(key)!r} "
                    f"in {first}; parts from different encoders/options cannot be merged"
                )
            for clip_id, length in zip(ids, lengths.tolist()):
                if clip_id in owner:
                    raise FeatureCacheError(
                        f"{part}: clip {clip_id!r} also appears in {owner[clip_id]}"
                    )
                owner[clip_id], frames[clip_id] = part, length
            part_ids.append(ids)
    tmp = output + ".tmp"
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    with h5py.File(tmp, "w") as out:
        for key, value in attrs.items():
            out.attrs[key] = value
        for part, ids in zip(parts, part_ids):
            with h5py.File(part, "r") as h5:
                for clip_id in ids:  # sorted, as the index lists them
                    h5.copy(h5[clip_id], out, name=clip_id)
        write_index(out, list(frames), list(frames.values()))
        for key, value in sums.items():
            if value is not None:
                out.attrs[key] = value
        out.attrs[COMPLETE] = True  # set last, once every clip is in
    os.replace(tmp, output)
    return len(owner)
