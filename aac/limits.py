"""Bounded reading of files made elsewhere (configs, packed models, archives, CSVs, data dirs).

A file from another lab or another tool can be crafted: a config whose aliases expand to
a billion nodes, a zip member that inflates to gigabytes, a CSV that is one 2 GB line.
Each reader therefore checks a size before it reads and reads with a cap, so a lie (a
zip header that understates, a file that grows) is caught too, and the cost of a refusal
is bounded by the limit, never by the input. Error messages show values through
`short_repr`, so formatting a hostile value costs no more than its first characters.

    text = read_text_capped(path, CONFIG_BYTES, "config file")
    for line in bounded_lines(f, path):          # refuses a line over LINE_CHARS
    copy_capped(src, out, limit, f"{zip}: member {name!r}")
"""

from __future__ import annotations

import os
import reprlib
from typing import IO, Any, Iterator

from aac.errors import AacError

MiB = 1 << 20
CONFIG_BYTES = 4 * MiB  # YAML configs and presets are a few kB
LINE_CHARS = 1 * MiB  # one line of wav.scp / text / a corpus CSV (captions are < 1 kB)
ARCHIVE_MEMBERS = 100_000  # members listed in an archive the toolkit unpacks from
ARCHIVE_MEMBER_BYTES = 2048 * MiB  # one extracted asset (the largest jar is ~400 MB)
REPR_CHARS = 200


class InputTooLarge(AacError, ValueError):
    """A file (or part of one) is larger than the toolkit accepts for its kind."""


_repr = reprlib.Repr()
_repr.maxlevel = 4
_repr.maxstring = _repr.maxother = REPR_CHARS
for _attr in ("maxlist", "maxtuple", "maxdict", "maxset", "maxfrozenset", "maxdeque"):
    setattr(_repr, _attr, 8)


def short_repr(value: Any, limit: int = REPR_CHARS) -> str:
    """repr() cut to `limit` characters, visiting a bounded part of nested containers."""
    text = _repr.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def size_text(n: int) -> str:
    return f"{n} bytes" if n < 10 * MiB else f"{n / MiB:.0f} MiB ({n} bytes)"


def check_size(size: int, limit: int, what: str) -> None:
    """Refuse `what` (a phrase naming the file or member) when `size` exceeds `limit`."""
    if size > limit:
        raise InputTooLarge(
            f"{what} is {size_text(size)}, more than the {size_text(limit)} allowed"
        )


def read_bytes_capped(path: str | os.PathLike, limit: int, what: str = "file") -> bytes:
    """The bytes of `path`, refused (before reading) when larger than `limit`."""
    with open(path, "rb") as f:
        check_size(os.fstat(f.fileno()).st_size, limit, f"{path}: {what}")
        data = f.read(limit + 1)  # a device or a growing file reports a size it does not keep
    check_size(len(data), limit, f"{path}: {what}")
    return data


def read_text_capped(
    path: str | os.PathLike, limit: int, what: str = "file", encoding: str = "utf-8"
) -> str:
    return read_bytes_capped(path, limit, what).decode(encoding)


def bounded_lines(
    f: IO[str], path: str | os.PathLike, max_chars: int = LINE_CHARS
) -> Iterator[str]:
    """Lines of text file `f` (newline kept), refusing one longer than `max_chars`
    before more than `max_chars + 1` characters of it are held."""
    lineno = 0
    while True:
        line = f.readline(max_chars + 1)
        if not line:
            return
        lineno += 1
        if len(line) > max_chars:
            raise InputTooLarge(
                f"{path}:{lineno}: line longer than {max_chars} characters "
                f"(starts {short_repr(line[:60])}); not a text file of this kind?"
            )
        yield line


def copy_capped(src: IO[bytes], out: IO[bytes], limit: int, what: str) -> int:
    """Copy `src` to `out` in blocks, refusing once more than `limit` bytes came out."""
    total = 0
    while block := src.read(min(MiB, limit + 1 - total)):
        total += len(block)
        if total > limit:
            raise InputTooLarge(
                f"{what} holds more than the {size_text(limit)} its header or the limit allows"
            )
        out.write(block)
    return total
