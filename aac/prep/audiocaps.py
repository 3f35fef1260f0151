"""AudioCaps v1 reader, for the layout aac-datasets produces:

    ROOT/AUDIOCAPS/audio_32000Hz/{train,val,test}/<youtube_id>_<start_time>.flac
    ROOT/AUDIOCAPS/csv_files_v1/{train,val,test}.csv

CSV columns `audiocap_id,youtube_id,start_time,caption`, one row per caption: train has
one caption per clip, val/test five. Many YouTube videos have vanished since AudioCaps
was published, so rows without audio are normal: they are skipped and counted.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Dict, List

from aac.prep.common import Clip, PrepError, clean_caption, find_audio, make_clip_ids, read_csv_rows

log = logging.getLogger("aac.prep")

SPLITS = ("train", "val", "test")
TRAIN_SPLITS = ("train",)
COLUMNS = ("audiocap_id", "youtube_id", "start_time", "caption")
AUDIO_EXT = ".flac"


def audio_dir(root: Path, split: str) -> Path:
    return Path(root) / "AUDIOCAPS" / "audio_32000Hz" / split


def captions_csv(root: Path, split: str) -> Path:
    return Path(root) / "AUDIOCAPS" / "csv_files_v1" / f"{split}.csv"


def set_name(split: str) -> str:
    return f"audiocaps_{split}"


def is_present(root: Path, split: str) -> bool:
    folder = audio_dir(root, split)
    return captions_csv(root, split).is_file() and folder.is_dir() and any(folder.iterdir())


def _start_time(value: str) -> str:
    """'30' or '30.0' -> '30', the spelling used in the audio file names."""
    number = float(value)
    return str(int(number)) if number == int(number) else value.strip()


def read_split(root: Path, split: str) -> List[Clip]:
    """Clips of one AudioCaps split, captions in CSV order; vanished audio is counted."""
    if split not in SPLITS:
        raise PrepError(f"unknown AudioCaps split {split!r}; expected one of {SPLITS}")
    path = captions_csv(root, split)
    folder = audio_dir(root, split)
    if not folder.is_dir():
        raise PrepError(f"{folder}: AudioCaps audio folder not found")
    captions: Dict[str, List[str]] = {}  # file stem -> captions, in CSV order
    for lineno, row in read_csv_rows(path, COLUMNS):
        try:
            start = _start_time(row["start_time"])
        except ValueError:
            log.warning(
                "%s:%d: skipped row: start_time %r is not a number", path, lineno, row["start_time"]
            )
            continue
        stem = f"{row['youtube_id'].strip()}_{start}"
        captions.setdefault(stem, []).append(clean_caption(row["caption"]))
    ids = make_clip_ids(list(captions))
    clips, vanished = [], 0
    for stem, caps in captions.items():
        wav = find_audio(folder, stem + AUDIO_EXT)
        if wav is None:
            vanished += 1
            continue
        clips.append(Clip(ids[stem], str(wav.resolve()), caps))
    if vanished:
        log.warning(
            "%s: skipped %d of %d clip(s) whose audio is not in %s (vanished videos)",
            path,
            vanished,
            len(captions),
            folder,
        )
    log.info("%s: %d clips with audio", path, len(clips))
    return clips
