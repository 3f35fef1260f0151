"""Shared pieces of corpus preparation: clip ids, CSV reading, durations, data-dir writing.

A corpus reader turns its CSVs and audio folder into a list of `Clip`s (id, audio path,
captions); `write_data_dir` then measures durations (skipping unreadable audio with a
count and the reason) and writes `wav.scp`, `utt2dur`, `text` and `text_spk1..5`.

A corpus file name is data, never a command: a path that `wav.scp` would read back as a
pipe (`... |`), an `ark:offset` spec or another path (leading/trailing whitespace, a line
break) is refused with the file named, before any audio is opened. Entries that are not
regular files (a FIFO, a device) are skipped with a warning, as missing files are.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import os
import re
import stat
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from tqdm import tqdm

from aac.audio import AudioError, audio_duration, load_audio, spec_kind
from aac.datadir import CAPTION_SEP, CLIP_ID_RE, NUM_REFS, read_kaldi_text, write_kaldi_text
from aac.errors import AacError
from aac.limits import InputTooLarge, bounded_lines

log = logging.getLogger("aac.prep")

_NOT_ID_CHAR = re.compile(r"[^A-Za-z0-9_.-]+")
# Letters NFKD does not split into ASCII + accent.
_TRANSLIT = str.maketrans(
    {
        "ß": "ss",
        "æ": "ae",
        "Æ": "AE",
        "ø": "o",
        "Ø": "O",
        "œ": "oe",
        "Œ": "OE",
        "ł": "l",
        "Ł": "L",
        "đ": "d",
        "Đ": "D",
        "þ": "th",
    }
)


class PrepError(AacError, RuntimeError):
    """Data preparation cannot go on (missing CSV, bad layout); names the file."""


@dataclass
class Clip:
    clip_id: str
    wav: str  # wav.scp value: absolute path (spaces allowed), pipe or ark:offset
    captions: List[str] = field(default_factory=list)


def clean_caption(text: str) -> str:
    """Collapse whitespace (quoted CSV fields may hold newlines); keep everything else raw."""
    return " ".join(text.split())


def slugify(name: str) -> str:
    """'Café bells (far) #2' -> 'Cafe_bells_far_2': ASCII letters, digits, `_.-` only."""
    ascii_name = unicodedata.normalize("NFKD", name.translate(_TRANSLIT))
    ascii_name = ascii_name.encode("ascii", "ignore").decode()
    slug = _NOT_ID_CHAR.sub("_", ascii_name).strip("_")
    return slug or "clip"


def short_hash(text: str, n: int = 8) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:n]


def clip_id_for(name: str) -> str:
    """Stable, readable clip id for a file stem.

    A stem that is already a valid id is kept; any other gets its slug plus
    `-<hash of the original stem>`, so two stems with the same slug never collide and
    an id depends on its own file name only, never on which other clips are in the set.
    """
    if CLIP_ID_RE.match(name):
        return name
    return f"{slugify(name)}-{short_hash(name)}"


def make_clip_ids(names: Sequence[str]) -> Dict[str, str]:
    """Stem -> clip id for every stem; an id clash (a hash collision) is an error."""
    ids = {name: clip_id_for(name) for name in names}
    if len(set(ids.values())) != len(ids):
        clash = Counter(ids.values()).most_common(1)[0][0]
        raise PrepError(f"two file names map to clip id {clash!r}: rename one of them")
    return ids


def open_csv_text(path: Path):
    """Open a corpus CSV; UTF-8 (with or without BOM), else ISO-8859-1 as older Clotho files."""
    try:
        with open(path, encoding="utf-8-sig") as f:
            while f.read(1 << 20):  # decoded in blocks: memory stays bounded
                pass
        return open(path, encoding="utf-8-sig", newline="")
    except UnicodeDecodeError:
        log.warning("%s: not valid UTF-8, reading it as ISO-8859-1", path)
        return open(path, encoding="ISO-8859-1", newline="")


def read_csv_rows(path: Path, columns: Sequence[str]) -> Iterator[Tuple[int, Dict[str, str]]]:
    """Yield (line number, row) for well-formed rows; malformed rows are logged and skipped.

    The header must contain `columns` (extra columns are fine). A row with the wrong
    number of fields or an empty required field is skipped with a message naming the
    file and line.
    """
    if not path.is_file():
        raise PrepError(f"{path}: CSV file not found")
    with open_csv_text(path) as f:
        reader = csv.reader(bounded_lines(f, path))  # a line over LINE_CHARS is refused
        try:
            yield from _csv_rows(reader, path, columns)
        except (InputTooLarge, csv.Error) as e:
            raise PrepError(f"{path}:{reader.line_num}: unreadable CSV: {e}") from None


def _csv_rows(reader, path: Path, columns: Sequence[str]) -> Iterator[Tuple[int, Dict[str, str]]]:
    header = next(reader, None)
    if header is None:
        raise PrepError(f"{path}: CSV file is empty (no header)")
    header = [h.strip() for h in header]
    missing = [c for c in columns if c not in header]
    if missing:
        raise PrepError(f"{path}: header lacks column(s) {missing}; found {header}")
    index = {c: header.index(c) for c in columns}
    for fields in reader:
        lineno = reader.line_num
        if not fields or all(not x.strip() for x in fields):
            continue
        if len(fields) != len(header):
            log.warning(
                "%s:%d: skipped row: %d fields, expected %d",
                path,
                lineno,
                len(fields),
                len(header),
            )
            continue
        row = {c: fields[i] for c, i in index.items()}
        empty = [c for c, v in row.items() if not v.strip()]
        if empty:
            log.warning("%s:%d: skipped row: empty %s", path, lineno, ", ".join(empty))
            continue
        yield lineno, row


def find_audio(folder: Path, name: str, listing: Optional[Dict[str, str]] = None) -> Optional[Path]:
    """Path of `name` in `folder`, tolerating NFC/NFD differences between CSV and disk;
    None when it is missing or not a regular file (a FIFO would block the reader)."""
    path = folder / name
    if not os.path.lexists(path) and listing is not None:
        on_disk = listing.get(unicodedata.normalize("NFC", name))
        path = folder / on_disk if on_disk is not None else path
    try:
        mode = os.stat(path).st_mode  # follows links: a link to a FIFO is a FIFO
    except OSError:
        return None
    if not stat.S_ISREG(mode):
        log.warning("%s: not a regular file (FIFO, device or directory), skipped", path)
        return None
    return path


def wav_scp_problem(value: str) -> Optional[str]:
    """Why `value` would not read back from wav.scp as this very file (None when it does)."""
    if "\n" in value or "\r" in value:
        return "its name holds a line break"
    if value != value.strip():
        return "its name starts or ends with whitespace, which wav.scp drops"
    kind = spec_kind(value)
    if kind == "pipe":
        return "wav.scp would run it as a shell command (a name ending in '|')"
    if kind == "ark":
        return "wav.scp would read it as an 'ark:offset' spec (a name ending in ':<digits>')"
    return None


def check_wav_values(clips: Sequence[Clip]) -> None:
    """PrepError naming the first clip whose audio path would act in wav.scp."""
    for clip in clips:
        problem = wav_scp_problem(clip.wav)
        if problem:
            raise PrepError(f"{clip.wav!r}: refused as audio file: {problem}; rename the file")


def nfc_listing(folder: Path) -> Dict[str, str]:
    """NFC-normalised file name -> name as stored on disk."""
    if not folder.is_dir():
        return {}
    return {unicodedata.normalize("NFC", p): p for p in os.listdir(folder)}


def measure_durations(
    clips: Iterable[Clip], verify: bool = False, desc: str = "durations"
) -> Tuple[List[Tuple[Clip, float]], Counter]:
    """(clip, seconds) for every readable clip, and a Counter of skip reasons.

    `verify` decodes the whole file (finds NaN samples and truncated data) instead of
    reading the header only.
    """
    kept, skipped = [], Counter()
    for clip in tqdm(list(clips), desc=desc, unit="clip", leave=False):
        try:
            if verify:
                wave, rate = load_audio(clip.wav)
                seconds = wave.shape[-1] / rate
            else:
                seconds = audio_duration(clip.wav)
        except AudioError as e:
            reason = _reason(str(e))
            log.warning("skipped clip %s: %s", clip.clip_id, e)
            skipped[reason] += 1
            continue
        kept.append((clip, seconds))
    return kept, skipped


def _reason(message: str) -> str:
    """Short category of an AudioError message, for the summary count."""
    for key in ("file not found", "empty audio", "NaN", "header", "cannot read"):
        if key in message:
            return key
    return "unreadable"


def write_data_dir(
    out_dir: Path, clips: Sequence[Clip], with_text: bool, verify: bool = False
) -> int:
    """Write wav.scp, utt2dur, text (if `with_text`) and text_spk1..N; returns clips kept."""
    ids = [c.clip_id for c in clips]
    dupes = [k for k, n in Counter(ids).items() if n > 1]
    if dupes:
        raise PrepError(f"{out_dir}: duplicate clip ids {dupes[:5]}")
    check_wav_values(clips)  # before any audio is opened
    kept, skipped = measure_durations(clips, verify=verify, desc=out_dir.name)
    if skipped:
        summary = ", ".join(f"{n} {why}" for why, n in sorted(skipped.items()))
        log.warning(
            "%s: skipped %d unreadable clip(s) (%s)", out_dir, sum(skipped.values()), summary
        )
    if not kept:
        raise PrepError(f"{out_dir}: no readable clips out of {len(clips)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    write_kaldi_text(out_dir / "wav.scp", [(c.clip_id, c.wav) for c, _ in kept])
    write_kaldi_text(out_dir / "utt2dur", [(c.clip_id, f"{d:.3f}") for c, d in kept])
    if with_text:
        write_kaldi_text(
            out_dir / "text",
            [
                (f"{c.clip_id}{CAPTION_SEP}{k}", cap)
                for c, _ in kept
                for k, cap in enumerate(c.captions, 1)
            ],
        )
    num_refs = min(NUM_REFS, max(len(c.captions) for c, _ in kept))
    for k in range(1, NUM_REFS + 1):
        path = out_dir / f"text_spk{k}"
        if k > num_refs:
            if path.exists():  # stale file from an earlier run with more references
                path.unlink()
            continue
        write_kaldi_text(
            path, [(c.clip_id, c.captions[k - 1]) for c, _ in kept if len(c.captions) >= k]
        )
    hours = sum(d for _, d in kept) / 3600
    log.info(
        "%s: %d clips, %.2f h, %d captions",
        out_dir,
        len(kept),
        hours,
        sum(len(c.captions) for c, _ in kept),
    )
    return len(kept)


def write_utt2dur(data_dir: Path, verify: bool = False) -> int:
    """(Re)write `utt2dur` for an existing `wav.scp` (paths, `... |` pipes, `ark:offset`).

    Unreadable entries are left out of `utt2dur` and counted; `wav.scp` is not touched.
    """
    wav_scp = data_dir / "wav.scp"
    if not wav_scp.is_file():
        raise PrepError(f"{wav_scp}: file not found")
    clips = [Clip(k, v) for k, v in read_kaldi_text(wav_scp).items()]
    kept, skipped = measure_durations(clips, verify=verify, desc=data_dir.name)
    if skipped:
        log.warning(
            "%s: %d entrie(s) unreadable, left out of utt2dur: %s",
            wav_scp,
            sum(skipped.values()),
            dict(skipped),
        )
    write_kaldi_text(data_dir / "utt2dur", [(c.clip_id, f"{d:.3f}") for c, d in kept])
    return len(kept)
