"""Fetch and verify the official encoder checkpoints of `aac.official_encoders`.

    path = fetch_checkpoint(official_checkpoint("beats_as2m"), Path("downloads/encoders"))

The transfer is `aac.prep.download.fetch_resuming` (`<file>.part`, resumed with HTTP Range,
renamed only after the hashes match). Hashes checked: the table's MD5 where one is quoted,
and the SHA-256 from the table or, where the table has none, from `<dir>/SHA256SUMS`
(`sha256sum` format). A file with no SHA-256 anywhere gets its SHA-256 printed and
recorded there on first download (or first use of a file placed by hand); from then on
every download and use is checked against that record. A mismatch deletes the `.part`
and never renames it into place.
"""

from __future__ import annotations

import logging
import tarfile
import urllib.error
import zipfile
from pathlib import Path
from typing import Callable, Dict, Optional, Sequence, Tuple

from aac.atomic import write_text_atomic
from aac.official_encoders import OfficialCheckpoint
from aac.prep.download import DownloadError, fetch_resuming, file_digest

log = logging.getLogger("aac.prep")
SUMS = "SHA256SUMS"


def read_sums(directory: Path) -> Dict[str, str]:
    """`<sha256>  <file name>` lines of `directory/SHA256SUMS` as {file name: sha256}."""
    path = Path(directory) / SUMS
    if not path.is_file():
        return {}
    sums = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            digest, name = line.split(None, 1)
            sums[name.lstrip("*")] = digest.lower()
    return sums


def record_sum(directory: Path, filename: str, sha256: str) -> None:
    sums = read_sums(directory)
    sums[filename] = sha256
    write_text_atomic(
        Path(directory) / SUMS, "".join(f"{d}  {n}\n" for n, d in sorted(sums.items()))
    )


def expected_sha256(entry: OfficialCheckpoint, directory: Path) -> Tuple[Optional[str], str]:
    """(SHA-256 the file must have, where that comes from); (None, "") when none is known."""
    if entry.sha256:
        return entry.sha256, "aac.official_encoders"
    recorded = read_sums(directory).get(entry.filename)
    return (recorded, str(Path(directory) / SUMS)) if recorded else (None, "")


def verify(path: Path, entry: OfficialCheckpoint, directory: Path) -> Tuple[str, bool]:
    """(SHA-256 of `path`, whether it still has to be recorded); DownloadError on a mismatch."""
    if entry.md5:
        md5 = file_digest(path, "md5")
        if md5 != entry.md5:
            raise DownloadError(
                f"{path}: MD5 mismatch for {entry.filename} (expected {entry.md5}, "
                f"{entry.md5_source}; got {md5}): not the official file"
            )
    sha = file_digest(path, "sha256")
    expected, source = expected_sha256(entry, directory)
    if expected and sha != expected:
        raise DownloadError(
            f"{path}: SHA-256 mismatch for {entry.filename} (expected {expected} "
            f"from {source}, got {sha}): not the official file"
        )
    return sha, expected is None


def offline_message(url: str, entry: OfficialCheckpoint, dest: Path, reason) -> str:
    return (
        f"cannot download {url} ({reason}); without network access, fetch that URL "
        f"elsewhere and put the file {entry.filename} at {dest}, then run again"
    )


def _transfer(urls: Sequence[str], part: Path, entry, dest: Path, fetch) -> None:
    """Fill `part` from the first URL that answers; one-line DownloadError when none does."""
    failure = None
    for url in urls:
        try:
            fetch_resuming(url, part, fetch=fetch)
            return
        except urllib.error.HTTPError as e:  # the server answered: try the next URL
            failure = (url, f"HTTP {e.code} {e.reason}")
        except urllib.error.URLError as e:  # unreachable: no network, DNS, refused
            failure = (url, getattr(e, "reason", e))
        except OSError as e:
            failure = (url, e)
        log.warning("%s: %s", *failure)
    raise DownloadError(offline_message(failure[0], entry, dest, failure[1]))


def _extract_member(archive: Path, member: str, out: Path) -> None:
    """Copy the archive member whose base name is `member` to `out` (zip or tar)."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            names = [n for n in z.namelist() if Path(n).name == member]
            if names:
                out.write_bytes(z.read(names[0]))
                return
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as t:
            infos = [i for i in t.getmembers() if i.isfile() and Path(i.name).name == member]
            if infos:
                out.write_bytes(t.extractfile(infos[0]).read())
                return
    raise DownloadError(f"{archive}: no {member} inside (is it the right archive?)")


def fetch_checkpoint(
    entry: OfficialCheckpoint,
    directory: Path,
    urls: Sequence[str],
    fetch: Optional[Callable] = None,
    say: Callable[[str], None] = print,
) -> Path:
    """`directory/<official file>`, downloaded (or found) and verified; see the module docstring."""
    directory = Path(directory)
    dest = directory / entry.filename
    if dest.is_file():
        sha, new = verify(dest, entry, directory)
        say(f"{dest}: present, {'SHA-256 ' + sha if new else 'hash verified'}")
    else:
        directory.mkdir(parents=True, exist_ok=True)
        part = dest.with_name(dest.name + ".part")
        if entry.archive_member:
            archive = directory / (Path(urls[0].split("?")[0]).name + ".part")
            _transfer(urls, archive, entry, dest, fetch)
            _extract_member(archive, entry.archive_member, part)
        else:
            _transfer(urls, part, entry, dest, fetch)
        try:
            sha, new = verify(part, entry, directory)
        except DownloadError as err:
            part.unlink(missing_ok=True)
            raise DownloadError(f"{err}; deleted {part}, nothing was put in place") from None
        part.replace(dest)
        if entry.archive_member:
            archive.unlink(missing_ok=True)
        say(f"{dest}: downloaded, {'SHA-256 ' + sha if new else 'hash verified'}")
    if new:
        record_sum(directory, entry.filename, sha)
        say(
            f"{entry.filename}: no published SHA-256; recorded {sha} in {directory / SUMS} "
            "(later downloads and uses are checked against it)"
        )
    return dest
