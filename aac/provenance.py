"""What a recipe stage consumed, as its `.done` marker records it.

    record = stage_record(files=["conf/finetune.yaml"], data_dirs=["data/clotho_evaluation"],
                          checkpoints=[("exp/finetune_beats_ds1", "best")], options={"beam": "4"})
    write_record("exp/.../.done", record)           # once the stage has finished
    changes(read_record("exp/.../.done"), record)   # [] when nothing changed, else why

A record maps each input to its identity: a file or a resolved model checkpoint to the
SHA-256 of its bytes, a Kaldi data directory to the SHA-256 of its data files, an option
to its value. A stage whose marker holds another record (another best.pt, other data,
another beam) is run again by `egs2/TEMPLATE/aac1/aac.sh`, which logs `changes`. The
markers of earlier stages are files too, so a stage that consumes another stage's output
(decoded text, a feature cache) names that stage's marker.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

# Files of a Kaldi data directory that a stage may read (docs/design.md, data directory).
DATA_FILES = ("wav.scp", "utt2dur", "text") + tuple(f"text_spk{k}" for k in range(1, 6))
ABSENT = "absent"


def file_identity(path: str | os.PathLike) -> str:
    """`sha256:<hex>` of a file's bytes, or `absent`."""
    from aac.hashing import file_sha256

    return "sha256:" + file_sha256(path) if Path(path).is_file() else ABSENT


def data_identity(data_dir: str | os.PathLike) -> str:
    """`sha256:<hex>` over the names and bytes of a data directory's data files."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        return ABSENT
    digest = hashlib.sha256()
    for name in DATA_FILES:
        if (data_dir / name).is_file():
            digest.update(f"{name}\n{file_identity(data_dir / name)}\n".encode())
    return "sha256:" + digest.hexdigest()


def checkpoint_identity(exp_dir: str, name: str) -> str:
    """Identity of a model checkpoint given as best, last, epochN or a path."""
    from aac.expdir import resolve_checkpoint

    try:
        return file_identity(resolve_checkpoint(exp_dir, name))
    except FileNotFoundError:  # no such checkpoint: the stage itself will say so
        return ABSENT


def stage_record(
    files: Iterable[str] = (),
    data_dirs: Iterable[str] = (),
    checkpoints: Iterable[Sequence[str]] = (),
    options: Optional[Dict[str, str]] = None,
) -> Dict[str, str]:
    """Input -> identity, for every input of a stage (see the module docstring)."""
    record = {f"file {p}": file_identity(p) for p in files}
    record.update({f"data {d}": data_identity(d) for d in data_dirs})
    record.update({f"checkpoint {e} {n}": checkpoint_identity(e, n) for e, n in checkpoints})
    record.update({f"option {k}": str(v) for k, v in (options or {}).items()})
    return record


def format_record(record: Dict[str, str]) -> str:
    return json.dumps({"inputs": record}, indent=1, sort_keys=True) + "\n"


def write_record(marker: str | os.PathLike, record: Dict[str, str]) -> None:
    from aac.atomic import write_text_atomic

    Path(marker).parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(marker, format_record(record))


def read_record(marker: str | os.PathLike) -> Optional[Dict[str, str]]:
    """A marker's record, or None for a marker that records no inputs (an older aac.sh)."""
    try:
        inputs = json.loads(Path(marker).read_text(encoding="utf-8")).get("inputs")
    except (OSError, ValueError, AttributeError):
        return None
    return inputs if isinstance(inputs, dict) else None


def _short(identity: str) -> str:
    return identity[len("sha256:") :][:12] if identity.startswith("sha256:") else identity


def changes(old: Optional[Dict[str, str]], new: Dict[str, str]) -> List[str]:
    """Why `new` is not the record `old` was made with ([] when it is)."""
    if old is None:
        return ["its marker records no inputs (written by an older aac.sh)"]
    out: List[Tuple[str, str]] = []
    for key in sorted(set(old) | set(new)):
        was, now = old.get(key), new.get(key)
        if was == now:
            continue
        if was is None:
            out.append((key, "new input"))
        elif now is None:
            out.append((key, "no longer an input"))
        else:
            out.append((key, f"{_short(was)} -> {_short(now)}"))
    return [f"{key}: {what}" for key, what in out]
