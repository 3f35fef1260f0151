"""Clotho v2.1 reader, for the layout aac-datasets produces:

    ROOT/CLOTHO_v2.1/clotho_audio_files/{development,validation,evaluation}/*.wav
    ROOT/CLOTHO_v2.1/clotho_csv_files/clotho_captions_{split}.csv

The captions CSV has the header `file_name,caption_1,...,caption_5` with standard CSV
quoting (captions contain commas and quotes). All five captions of a clip are kept.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import List

from aac.prep.common import (
    Clip,
    PrepError,
    clean_caption,
    find_audio,
    make_clip_ids,
    nfc_listing,
    read_csv_rows,
)

log = logging.getLogger("aac.prep")

VERSION_DIR = "CLOTHO_v2.1"
SPLITS = ("development", "validation", "evaluation")
TRAIN_SPLITS = ("development",)
CAPTION_COLUMNS = tuple(f"caption_{k}" for k in range(1, 6))
ZENODO_RECORD = "4783391"

# Zenodo record 4783391 (Clotho v2.1): file name -> MD5, as published with the record.
ZENODO_MD5 = {
    "clotho_audio_development.7z": "c8b05bc7acdb13895bb3c6a29608667e",
    "clotho_captions_development.csv": "d4090b39ce9f2491908eebf4d5b09bae",
    "clotho_audio_validation.7z": "7dba730be08bada48bd15dc4e668df59",
    "clotho_captions_validation.csv": "5879e023032b22a2c930aaa0528bead4",
    "clotho_audio_evaluation.7z": "4569624ccadf96223f19cb59fe4f849f",
    "clotho_captions_evaluation.csv": "1b16b9e57cf7bdb7f13a13802aeb57e2",
}


def audio_dir(root: Path, split: str) -> Path:
    return Path(root) / VERSION_DIR / "clotho_audio_files" / split


def csv_dir(root: Path) -> Path:
    return Path(root) / VERSION_DIR / "clotho_csv_files"


def captions_csv(root: Path, split: str) -> Path:
    return csv_dir(root) / f"clotho_captions_{split}.csv"


def set_name(split: str) -> str:
    return f"clotho_{split}"


def is_present(root: Path, split: str) -> bool:
    folder = audio_dir(root, split)
    return captions_csv(root, split).is_file() and folder.is_dir() and any(folder.iterdir())


def read_split(root: Path, split: str) -> List[Clip]:
    """Clips of one Clotho split; rows whose audio file is missing are skipped and counted."""
    if split not in SPLITS:
        raise PrepError(f"unknown Clotho split {split!r}; expected one of {SPLITS}")
    path = captions_csv(root, split)
    folder = audio_dir(root, split)
    if not folder.is_dir():
        raise PrepError(f"{folder}: Clotho audio folder not found")
    listing = nfc_listing(folder)
    rows, seen = [], set()
    for lineno, row in read_csv_rows(path, ("file_name",) + CAPTION_COLUMNS):
        name = row["file_name"]
        if name in seen:
            log.warning("%s:%d: skipped duplicate row for %r", path, lineno, name)
            continue
        seen.add(name)
        rows.append(row)
    ids = make_clip_ids([Path(r["file_name"]).stem for r in rows])
    clips, missing = [], 0
    for row in rows:
        wav = find_audio(folder, row["file_name"], listing)
        if wav is None:
            log.warning("%s: no audio file %r in %s", path, row["file_name"], folder)
            missing += 1
            continue
        captions = [clean_caption(row[c]) for c in CAPTION_COLUMNS]
        clips.append(Clip(ids[Path(row["file_name"]).stem], str(wav.resolve()), captions))
    if missing:
        log.warning("%s: skipped %d row(s) whose audio file is missing", path, missing)
    log.info("%s: %d clips listed with audio", path, len(clips))
    return clips
