"""AudioSet label files -> a Kaldi-style tagging data dir (`wav.scp`, `labels`, `classes`).

Reads the official CSV layout:
  - segments CSV (`balanced_train_segments.csv`, `eval_segments.csv`, ...): comment lines
    starting with `#`, then `YTID, start_seconds, end_seconds, "mid1,mid2,..."`;
  - `class_labels_indices.csv`: header `index,mid,display_name`, one row per class;
  - `ontology.json` is not needed (labels are the MIDs themselves).
Audio is found either in an existing data dir whose clip ids follow aac-prep-data's
AudioCaps naming (`<YTID>_<start>`, AudioCaps clips are AudioSet segments), or in an audio
folder whose file stems are `<YTID>_<start>`, `Y<YTID>...` (the common download scripts)
or `<YTID>`. Segments without audio are counted and skipped, as vanished videos.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Dict, List, Tuple

from aac.datadir import DataDirError, read_kaldi_text
from aac.prep.common import clip_id_for

logger = logging.getLogger("aac.pretrain")
AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".m4a")


def start_spelling(value: str) -> str:
    """'30.000' -> '30' (the spelling of AudioCaps file names), '12.5' stays."""
    number = float(value)
    return str(int(number)) if number == int(number) else str(number)


def read_segments(path) -> List[Tuple[str, str, List[str]]]:
    """(YTID, start spelling, [mid, ...]) per segment row."""
    out = []
    with open(path, encoding="utf-8", newline="") as f:
        rows = csv.reader(
            (line for line in f if line.strip() and not line.startswith("#")), skipinitialspace=True
        )
        for lineno, row in enumerate(rows, 1):
            if len(row) < 4:
                raise DataDirError(
                    f"{path}: row {lineno}: expected 'YTID, start_seconds, "
                    f"end_seconds, positive_labels', got {row!r}"
                )
            try:
                start = start_spelling(row[1])
            except ValueError:
                raise DataDirError(
                    f"{path}: row {lineno}: start_seconds {row[1]!r} is not a number"
                ) from None
            mids = [m.strip() for m in ",".join(row[3:]).split(",") if m.strip()]
            out.append((row[0].strip(), start, mids))
    return out


def read_class_indices(path) -> List[Tuple[str, str]]:
    """(mid, display name) in index order."""
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or not {"index", "mid", "display_name"} <= set(rows[0]):
        raise DataDirError(f"{path}: expected the header 'index,mid,display_name'")
    rows.sort(key=lambda r: int(r["index"]))
    return [(r["mid"].strip(), r["display_name"].strip()) for r in rows]


def audio_from_data_dir(data_dir) -> Dict[str, Tuple[str, str]]:
    """lookup key -> (clip id, wav.scp value) for a data dir prepared by aac-prep-data."""
    wavs = read_kaldi_text(Path(data_dir) / "wav.scp")
    return {clip: (clip, wav) for clip, wav in wavs.items()}


def audio_from_folder(folder) -> Dict[str, Tuple[str, str]]:
    out = {}
    for path in sorted(Path(folder).rglob("*")):
        if path.suffix.lower() not in AUDIO_SUFFIXES:
            continue
        stem = path.stem
        clip = clip_id_for(stem)
        for key in {stem, stem[1:] if stem.startswith("Y") else stem}:
            out.setdefault(clip_id_for(key), (clip, str(path.resolve())))
            out.setdefault(
                key.split("_")[0] if len(key) > 11 and key[11] == "_" else key,
                (clip, str(path.resolve())),
            )
    return out


def tagging_entries(segments, audio: Dict[str, Tuple[str, str]]):
    """-> {clip id: (wav.scp value, [mid, ...])}; segments without audio are counted."""
    out, missing = {}, 0
    for ytid, start, mids in segments:
        hit = audio.get(clip_id_for(f"{ytid}_{start}")) or audio.get(ytid)
        if hit is None:
            missing += 1
            continue
        out[hit[0]] = (hit[1], mids)
    if missing:
        logger.warning("%d of %d segments have no audio (skipped)", missing, len(segments))
    if not out:
        raise DataDirError("no segment of the CSV has audio: check --data-dir / --audio-dir")
    return out
