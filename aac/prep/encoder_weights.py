"""Fetch and verify the official encoder checkpoints of `aac.official_encoders`.

    path = fetch_checkpoint(entry, Path("downloads/encoders"), download_urls(entry))

URLs are tried in order (official link, then mirrors). Each transfer goes to
`<file>.part` (`aac.prep.download.fetch_resuming`: resumed with HTTP Range) and is checked
BEFORE it is renamed into place: it must look like a PyTorch checkpoint (a zip or pickle,
not an HTML or text page; at least MIN_CHECKPOINT_BYTES without a size pin) and match the
table's pin (size, SHA-256, MD5). A URL whose bytes are refused is logged and the next one
is tried; its `.part` is deleted, and nothing is recorded.

`<dir>/SHA256SUMS` (`sha256sum` format, read with a 1 MiB cap) records the SHA-256 of each
file put in place. For a file without a SHA-256 pin that record, made at first download,
is what later uses check against, and every message about it says "unverified (recorded
at first download)". A user who has checked a file that fails its pin accepts exactly
that file with `accept_sha256` (`--accept-sha256 SHA256`): it is recorded as a
`# accepted <sha256>  <file>` line, and later uses of that file (those bytes only) pass.
"""

from __future__ import annotations

import logging
import re
import tarfile
import urllib.error
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, NamedTuple, Optional, Sequence

from aac.atomic import write_text_atomic
from aac.hashing import file_digests
from aac.official_encoders import MIN_CHECKPOINT_BYTES, UNVERIFIED, OfficialCheckpoint
from aac.prep.download import DownloadError, fetch_resuming

log = logging.getLogger("aac.prep")
SUMS = "SHA256SUMS"
MAX_SUMS_BYTES = 1 << 20  # a few lines per checkpoint; anything larger is not our file
ACCEPTED = "# accepted "
SHA256_RE = re.compile(r"[0-9a-f]{64}")
ACCEPT_FLAG = "--accept-sha256"


@dataclass(frozen=True)
class Record:
    sha256: str
    accepted: bool  # the user accepted this file in place of a failing pin


class Verdict(NamedTuple):
    sha256: str
    note: str  # what the messages say about the file's hash
    accepted: bool


def read_sums(directory: Path) -> Dict[str, Record]:
    """{file name: Record} from `directory/SHA256SUMS`; DownloadError names a bad file."""
    path = Path(directory) / SUMS
    if not path.is_file():
        return {}
    size = path.stat().st_size
    if size > MAX_SUMS_BYTES:
        raise DownloadError(
            f"{path}: {size} bytes, over the {MAX_SUMS_BYTES} bytes a checksum list can "
            "take; not read (move it away and run again)"
        )
    sums, accepted = {}, {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        target = accepted if line.startswith(ACCEPTED) else sums
        text = line[len(ACCEPTED) :] if target is accepted else line
        if not text.strip() or (target is sums and line.startswith("#")):
            continue
        parts = text.split(None, 1)
        if len(parts) != 2 or not SHA256_RE.fullmatch(parts[0].lower()):
            raise DownloadError(f"{path}:{lineno}: not a '<sha256>  <file name>' line")
        target[parts[1].strip().lstrip("*")] = parts[0].lower()
    return {n: Record(d, accepted.get(n) == d) for n, d in sums.items()}


def record_sum(directory: Path, filename: str, sha256: str, accepted: bool) -> None:
    sums = read_sums(directory)
    if sums.get(filename) == Record(sha256, accepted):
        return
    sums[filename] = Record(sha256, accepted)
    lines = []
    for name, rec in sorted(sums.items()):
        lines += [f"{ACCEPTED}{rec.sha256}  {name}\n"] if rec.accepted else []
        lines.append(f"{rec.sha256}  {name}\n")
    write_text_atomic(Path(directory) / SUMS, "".join(lines))


def not_a_checkpoint(path: Path, entry: OfficialCheckpoint) -> Optional[str]:
    """Why `path` cannot be the checkpoint (None when it can): torch.save writes a zip
    (`PK\\x03\\x04`) or, before PyTorch 1.6, a pickle (`\\x80` + protocol 2..5)."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(256)
    if head.startswith(b"PK\x03\x04") or head[:2] in (
        b"\x80\x02",
        b"\x80\x03",
        b"\x80\x04",
        b"\x80\x05",
    ):
        if entry.pin.size is None and size < MIN_CHECKPOINT_BYTES:
            return f"{size} bytes, far below any encoder checkpoint"
        return None
    kind = (
        "an HTML or XML page (a login wall or an expired link?)"
        if head.lstrip().startswith(b"<")
        else "text"
        if all(32 <= b < 127 or b in b"\t\r\n" for b in head)
        else "neither a zip nor a pickle"
    )
    return f"not a PyTorch checkpoint: {kind} ({size} bytes, starting {head[:32]!r})"


def _pin_mismatch(entry: OfficialCheckpoint, size: int, digests, recorded) -> Optional[str]:
    """What fails the pin (or the first-download record), naming both values and the source."""
    pin, sha = entry.pin, digests["sha256"]
    checks = (
        ("SHA-256", bool(pin.sha256) and sha != pin.sha256),
        ("MD5", bool(pin.md5) and digests.get("md5") != pin.md5),
        ("size", pin.size is not None and size != pin.size),
    )
    failed = [kind for kind, bad in checks if bad]
    if failed:
        facts = [f"SHA-256 {sha}" + (f", pinned {pin.sha256}" if pin.sha256 else "")]
        facts += [f"MD5 {digests['md5']}, pinned {pin.md5}"] if pin.md5 else []
        facts += [f"size {size} bytes, pinned {pin.size}"] if "size" in failed else []
        return f"{failed[0]} mismatch: got {'; '.join(facts)} (pin: {pin.source})"
    if not pin.sha256 and recorded and recorded.sha256 != sha:
        how = "accepted with " + ACCEPT_FLAG if recorded.accepted else UNVERIFIED
        return f"SHA-256 mismatch: got {sha}, expected {recorded.sha256} from {SUMS}, {how}"
    return None


def verify(
    path: Path, entry: OfficialCheckpoint, directory: Path, accept_sha256: Optional[str] = None
) -> Verdict:
    """The file's SHA-256 and what to say about it; DownloadError when it is refused."""
    reason = not_a_checkpoint(path, entry)
    if reason:
        raise DownloadError(f"{path}: {reason}")
    digests = file_digests(path, ("sha256", "md5") if entry.pin.md5 else ("sha256",))
    sha, pin = digests["sha256"], entry.pin
    recorded = read_sums(directory).get(entry.filename)
    mismatch = _pin_mismatch(entry, path.stat().st_size, digests, recorded)
    if mismatch is None:
        if pin.sha256:
            return Verdict(sha, "SHA-256 matches the pin", False)
        md5 = "MD5 matches the pin; " if pin.md5 else ""
        if recorded:
            return Verdict(sha, f"{md5}SHA-256 matches {SUMS}: {UNVERIFIED}", recorded.accepted)
        return Verdict(sha, f"{md5}SHA-256 {sha} recorded in {SUMS}: {UNVERIFIED}", False)
    if sha == accept_sha256 or (recorded and recorded.accepted and recorded.sha256 == sha):
        return Verdict(sha, f"SHA-256 {sha} accepted by the user ({ACCEPT_FLAG}): {mismatch}", True)
    other = f" ({ACCEPT_FLAG} {accept_sha256} does not match it either)" if accept_sha256 else ""
    raise DownloadError(
        f"{path}: {mismatch}: not the official {entry.filename}{other}; if you have checked "
        f"this file, run again with {ACCEPT_FLAG} {sha}"
    )


def offline_message(url: str, entry: OfficialCheckpoint, dest: Path, reason) -> str:
    by_hand = f" (or {entry.by_hand} in a browser)" if entry.by_hand else ""
    return (
        f"cannot download {url} ({reason}); without network access, fetch that URL{by_hand} "
        f"elsewhere and put the file {entry.filename} at {dest}, then run again"
    )


def _transfer(url: str, part: Path, fetch) -> Optional[str]:
    """Fill `part` from `url`; the reason when the server refuses or cannot be reached."""
    try:
        fetch_resuming(url, part, fetch=fetch)
        return None
    except urllib.error.HTTPError as e:  # the server answered
        return f"HTTP {e.code} {e.reason}"
    except urllib.error.URLError as e:  # unreachable: no network, DNS, refused
        return str(getattr(e, "reason", e))
    except OSError as e:
        return str(e)


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


def _try_url(url, entry, directory, part, fetch, accept_sha256):
    """(Verdict, None) with `part` checked, or (None, why this URL gave no file)."""
    if entry.archive_member:
        archive = directory / (Path(url.split("?")[0]).name + ".part")
        reason = _transfer(url, archive, fetch)
        if reason is None:
            _extract_member(archive, entry.archive_member, part)
            archive.unlink()
    else:
        reason = _transfer(url, part, fetch)
    if reason is not None:
        return None, reason
    try:
        return verify(part, entry, directory, accept_sha256), None
    except DownloadError as err:
        return None, f"refused: {err}"


def _download(entry, directory, urls, fetch, accept_sha256):
    """(Verdict, URL) of the first URL whose bytes pass; DownloadError naming every failure."""
    dest = directory / entry.filename
    part = dest.with_name(dest.name + ".part")
    failures = []
    for url in urls:
        verdict, reason = _try_url(url, entry, directory, part, fetch, accept_sha256)
        if verdict is not None:
            part.replace(dest)
            return verdict, url
        if reason.startswith("refused: "):
            part.unlink(missing_ok=True)  # wrong bytes: never resume them from another URL
        failures.append((url, reason))
        if len(failures) < len(urls):  # the last failure is in the error itself
            log.warning("%s: %s; trying the next URL", url, reason)
    if not any(r.startswith("refused: ") for _, r in failures):
        url, reason = failures[-1]  # nothing answered with bytes: most likely offline
        raise DownloadError(offline_message(url, entry, dest, reason))
    tried = "; ".join(f"[{i}] {u}: {r}" for i, (u, r) in enumerate(failures, 1))
    by_hand = f"; by hand (browser): {entry.by_hand}" if entry.by_hand else ""
    raise DownloadError(
        f"{entry.filename}: no URL gave the official file, nothing was put in place: "
        f"{tried}{by_hand}"
    )


def fetch_checkpoint(
    entry: OfficialCheckpoint,
    directory: Path,
    urls: Sequence[str],
    fetch: Optional[Callable] = None,
    say: Callable[[str], None] = print,
    accept_sha256: Optional[str] = None,
) -> Path:
    """`directory/<official file>`, downloaded (or found) and verified; see the module docstring."""
    directory = Path(directory)
    dest = directory / entry.filename
    if dest.is_file():
        verdict = verify(dest, entry, directory, accept_sha256)
        say(f"{dest}: present, {verdict.note}")
    else:
        directory.mkdir(parents=True, exist_ok=True)
        verdict, url = _download(entry, directory, tuple(urls), fetch, accept_sha256)
        say(f"{dest}: downloaded from {url}, {verdict.note}")
    record_sum(directory, entry.filename, verdict.sha256, verdict.accepted)
    return dest
