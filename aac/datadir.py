"""Kaldi-style data directories: `wav.scp`, `utt2dur`, `text`, `text_spk1..5`.

Every file is `key<space>value` per line, UTF-8, sorted by key. Keys never contain
whitespace; values may (file names with spaces are common in Clotho).

Caption keys in a training `text` are `<clip_id>#<k>` (k = 1..5): one line per caption,
so all five captions of a clip are used. `clip_of()` maps such a key back to its clip.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional, Tuple

from aac.atomic import write_text_atomic
from aac.errors import AacError
from aac.limits import LINE_CHARS, InputTooLarge, bounded_lines, short_repr

NUM_REFS = 5
CAPTION_SEP = "#"
CLIP_ID_RE = re.compile(r"^[A-Za-z0-9_.-]+$")  # what a clip id may hold (never # or +)
MIX_SEP = "+"  # a mixture of two clips: `<clipA>+<clipB>` (mix-up captions)


class DataDirError(AacError, ValueError):
    """A malformed data-directory file; the message names the file and the line."""


def _numbered_lines(path: str | os.PathLike) -> Iterator[Tuple[int, str, str]]:
    """(line number, key, value) of a Kaldi key-value file; value may contain spaces.
    A line longer than LINE_CHARS is refused before more of it is read."""
    with open(path, encoding="utf-8") as f:
        try:
            for lineno, line in enumerate(bounded_lines(f, path, LINE_CHARS), 1):
                line = line.rstrip("\n").rstrip("\r")
                if not line.strip():
                    continue
                parts = line.split(None, 1)
                if len(parts) != 2 or not parts[1].strip():
                    raise DataDirError(
                        f"{path}:{lineno}: expected '<key> <value>', got {short_repr(line)}"
                    )
                yield lineno, parts[0], parts[1].strip()
        except InputTooLarge as e:
            raise DataDirError(str(e)) from None


def iter_kaldi_lines(path: str | os.PathLike) -> Iterator[Tuple[str, str]]:
    """Yield (key, value) from a Kaldi key-value file; value may contain spaces."""
    for _, key, value in _numbered_lines(path):
        yield key, value


def read_kaldi_text(path: str | os.PathLike) -> Dict[str, str]:
    """Read a Kaldi key-value file into an insertion-ordered dict; duplicate keys are errors."""
    out: Dict[str, str] = {}
    first_line: Dict[str, int] = {}
    for lineno, key, value in _numbered_lines(path):
        if key in out:
            raise DataDirError(
                f"{path}:{lineno}: duplicate id {short_repr(key)} (first on line {first_line[key]})"
            )
        out[key], first_line[key] = value, lineno
    return out


def write_kaldi_text(path: str | os.PathLike, items: Iterable[Tuple[str, str]]) -> None:
    """Write sorted `key value` lines atomically (temporary name, then rename)."""
    rows = sorted(items)
    for key, value in rows:
        if not key or any(c.isspace() for c in key):
            raise DataDirError(f"{path}: key {key!r} is empty or contains whitespace")
        if "\n" in value:
            raise DataDirError(f"{path}: value for {key!r} contains a newline")
    write_text_atomic(path, "".join(f"{key} {value}\n" for key, value in rows))


def clip_of(caption_key: str) -> str:
    """`clip#3` -> `clip`; a key without `#` is already a clip id."""
    return caption_key.rsplit(CAPTION_SEP, 1)[0]


def mixture_parts(mix_id: str) -> Tuple[str, str]:
    """`clipA+clipB` -> ('clipA', 'clipB'); ValueError for anything else."""
    parts = mix_id.split(MIX_SEP)
    if len(parts) != 2 or not all(CLIP_ID_RE.match(p) for p in parts):
        raise ValueError(f"{mix_id!r} is not <clipA>{MIX_SEP}<clipB>")
    return parts[0], parts[1]


def read_mixture_captions(path: str | os.PathLike) -> List[Tuple[str, str]]:
    """(mixture id, caption) of a mix-up caption file: Kaldi text, one line per caption,
    `<clipA>+<clipB> <caption>` or, for several captions of one mixture,
    `<clipA>+<clipB>#<k> <caption>`. The mixture is clip A's frames then clip B's (or
    their sum: the training config's mixup.mode)."""
    out = []
    for lineno, key, caption in _numbered_lines(path):
        try:
            mixture_parts(clip_of(key))
        except ValueError as e:
            raise DataDirError(f"{path}:{lineno}: {e}") from None
        out.append((clip_of(key), caption))
    if not out:
        raise DataDirError(f"{path}: no mixture captions")
    return out


def read_references(data_dir: str | os.PathLike, min_refs: Optional[int] = None) -> Dict[str, list]:
    """clip id -> list of reference captions, from `text_spk1..5`.

    `min_refs` None: missing files are skipped and clips keep what they have (training's
    validation references). With `min_refs` N (scoring): every clip needs at least N
    references, and when N is NUM_REFS every one of the files must exist and list every
    clip; otherwise a DataDirError names the missing files and the short clips.
    """
    data_dir = Path(data_dir)
    all_files = [data_dir / f"text_spk{i}" for i in range(1, NUM_REFS + 1)]
    files = [f for f in all_files if f.exists()]
    if not files:
        raise DataDirError(f"{data_dir}: no text_spk1..{NUM_REFS} files")
    refs: Dict[str, list] = {}
    listed: Dict[Path, set] = {}
    for f in files:
        captions = read_kaldi_text(f)
        listed[f] = set(captions)
        for key, caption in captions.items():
            refs.setdefault(key, []).append(caption)
    if min_refs is not None:
        check_reference_counts(data_dir, refs, listed, all_files, min_refs)
    return refs


def check_reference_counts(
    data_dir: Path,
    refs: Dict[str, list],
    listed: Dict[Path, set],
    all_files: List[Path],
    min_refs: int,
) -> None:
    """Raise DataDirError unless every clip has at least `min_refs` references."""
    hint = (
        f"the protocol scores against {NUM_REFS} references per clip; pass --min-refs N "
        f"to score with fewer"
    )
    if min_refs >= len(all_files):
        missing = [f.name for f in all_files if f not in listed]
        if missing:
            raise DataDirError(
                f"{data_dir}: reference files missing: {', '.join(missing)} ({hint})"
            )
        for f, keys in listed.items():
            absent = sorted(set(refs) - keys)
            if absent:
                raise DataDirError(
                    f"{f}: no reference for {len(absent)} clip(s): "
                    f"{' '.join(absent[:5])}{' ...' if len(absent) > 5 else ''} "
                    f"({hint})"
                )
    short = sorted(c for c, caps in refs.items() if len(caps) < min_refs)
    if short:
        raise DataDirError(
            f"{data_dir}: {len(short)} clip(s) have fewer than {min_refs} references in "
            f"text_spk1..{NUM_REFS}: "
            + " ".join(f"{c} ({len(refs[c])})" for c in short[:5])
            + (" ..." if len(short) > 5 else "")
        )


def reference_counts(refs: Dict[str, list]) -> Dict[str, object]:
    """{"min": .., "max": .., "histogram": {"5": clips, ...}} of references per clip."""
    counts = Counter(len(caps) for caps in refs.values())
    return {
        "min": min(counts),
        "max": max(counts),
        "histogram": {str(n): counts[n] for n in sorted(counts)},
    }


def read_utt2dur(data_dir: str | os.PathLike) -> Dict[str, float]:
    path = Path(data_dir) / "utt2dur"
    out = {}
    for key, value in read_kaldi_text(path).items():
        try:
            out[key] = float(value)
        except ValueError:
            raise DataDirError(
                f"{path}: duration {short_repr(value)} of {short_repr(key)} is not a number"
            ) from None
    return out
