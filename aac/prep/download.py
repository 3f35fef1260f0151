"""Downloads: Clotho v2.1 from Zenodo (MD5-checked, 7z-extracted), AudioCaps through
aac-datasets (YouTube, needs yt-dlp and ffmpeg), and the one resumable fetch that the
encoder checkpoints use too (`aac.bin.download_encoder`).

Downloads go to `<name>.part` and are renamed only after the hash matches, so a killed
download never looks finished. `fetch_url(..., resume=True)` continues an existing
`.part` with an HTTP Range request. Without network access every entry point stops with a
message saying where to place the data by hand.
"""

from __future__ import annotations

import http.client
import logging
import shutil
import socket
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Optional

from tqdm import tqdm

from aac import zenodo
from aac.hashing import CHUNK, file_digests
from aac.prep import audiocaps, clotho
from aac.prep.common import PrepError

log = logging.getLogger("aac.prep")


class DownloadError(PrepError):
    """A download failed or its file does not match its hash; the message says what to do."""


# A transfer that broke off: the `.part` keeps what arrived and a retry resumes it.
TRANSFER_ERRORS = (
    http.client.IncompleteRead,
    ConnectionResetError,
    ConnectionAbortedError,
    BrokenPipeError,
    socket.timeout,
    TimeoutError,
)


def md5_file(path: Path) -> str:
    return file_digests(path, ("md5",))["md5"]


def check_md5(path: Path, expected: str) -> None:
    actual = md5_file(path)
    if actual != expected:
        raise PrepError(
            f"{path}: MD5 mismatch (expected {expected}, got {actual}); "
            "the file is corrupt or truncated: delete it and run again"
        )


def fetch_url(url: str, dest: Path, resume: bool = False, timeout: float = 60) -> None:
    """Stream `url` into `dest` with a progress bar (no hash check here).

    With `resume`, bytes already in `dest` are kept and only the rest is asked for
    (`Range: bytes=N-`); a server that ignores the range (200) restarts the file, and
    416 (nothing left to send) leaves it as it is, for the hash check to judge.
    """
    start = dest.stat().st_size if resume and dest.exists() else 0
    headers = {"Range": f"bytes={start}-"} if start else {}
    try:
        response = urllib.request.urlopen(
            urllib.request.Request(url, headers=headers), timeout=timeout
        )
    except urllib.error.HTTPError as e:
        if e.code == 416 and start:
            return
        raise
    with response:
        if start and response.status != 206:
            start = 0
        length = int(response.headers.get("Content-Length") or 0)
        with (
            open(dest, "ab" if start else "wb") as out,
            tqdm(
                total=(start + length) or None,
                initial=start,
                unit="B",
                unit_scale=True,
                desc=dest.name,
                disable=None,
            ) as bar,
        ):
            received = 0
            for block in iter(lambda: response.read(CHUNK), b""):
                out.write(block)
                received += len(block)
                bar.update(len(block))
    # http.client's read(n) returns b"" on a connection closed early instead of raising.
    if length and received < length:
        raise http.client.IncompleteRead(b"", length - received)


def fetch_resuming(
    url: str, part: Path, attempts: int = 3, fetch: Optional[Callable] = None
) -> None:
    """`fetch_url(url, part, resume=True)`, retried when the transfer breaks off midway."""
    fetch = fetch or fetch_url
    for attempt in range(1, attempts + 1):
        try:
            fetch(url, part, resume=True)
            return
        except TRANSFER_ERRORS as e:
            have = part.stat().st_size if part.exists() else 0
            if attempt == attempts:
                raise DownloadError(
                    f"{url}: the transfer broke off {attempts} times ({type(e).__name__}); "
                    f"{have} bytes are kept in {part}: run again to resume"
                ) from None
            log.warning("%s: transfer broke off after %d bytes (%s); resuming", url, have, e)


def download_checked(url: str, dest: Path, md5: str, fetch: Optional[Callable] = None) -> Path:
    """Download to `dest` unless a file with the right MD5 is already there."""
    fetch = fetch or fetch_url
    if dest.is_file():
        check_md5(dest, md5)
        log.info("%s: already downloaded, MD5 ok", dest)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    log.info("downloading %s -> %s", url, dest)
    try:
        fetch(url, part)
    except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
        part.unlink(missing_ok=True)
        raise PrepError(f"cannot download {url} ({e}). {offline_hint('clotho', dest)}") from None
    try:
        check_md5(part, md5)
    except PrepError:
        part.unlink(missing_ok=True)
        raise
    part.replace(dest)
    return dest


def offline_hint(corpus: str, where: Path) -> str:
    if corpus == "clotho":
        return (
            f"Without network access, download Clotho v2.1 ({zenodo.record_page(clotho.ZENODO_RECORD)}) elsewhere and place it as CLOTHO_v2.1/clotho_audio_files/"
            "<split>/*.wav and CLOTHO_v2.1/clotho_csv_files/clotho_captions_<split>.csv under "
            f"the Clotho root (here: {where}), then run without --download."
        )
    return (
        "Without network access, prepare AudioCaps elsewhere (e.g. with aac-datasets) and "
        "place it as AUDIOCAPS/audio_32000Hz/<split>/<youtube_id>_<start_time>.flac and "
        f"AUDIOCAPS/csv_files_v1/<split>.csv under the AudioCaps root (here: {where}), then "
        "run without --download."
    )


def extract_7z(archive: Path, dest: Path) -> None:
    """Extract with py7zr when installed, else the `7z` / `7za` binary."""
    dest.mkdir(parents=True, exist_ok=True)
    try:
        import py7zr
    except ImportError:
        py7zr = None
    if py7zr is not None:
        with py7zr.SevenZipFile(archive, mode="r") as z:
            z.extractall(path=dest)
        return
    binary = shutil.which("7z") or shutil.which("7za")
    if binary is None:
        raise PrepError(
            f"{archive}: cannot extract: install py7zr (pip install py7zr) or the 7z "
            "program (apt-get install p7zip-full), then run again"
        )
    result = subprocess.run(
        [binary, "x", "-y", f"-o{dest}", str(archive)], capture_output=True, text=True
    )
    if result.returncode != 0:
        raise PrepError(f"{archive}: 7z failed ({result.returncode}): {result.stderr[-500:]}")


def download_clotho(root: Path, split: str, fetch: Optional[Callable] = None) -> None:
    """Fetch captions CSV and audio archive of one Clotho v2.1 split into `root`."""
    base = Path(root) / clotho.VERSION_DIR
    csv_name = f"clotho_captions_{split}.csv"
    archive_name = f"clotho_audio_{split}.7z"
    url = zenodo.file_url(clotho.ZENODO_RECORD, csv_name)
    download_checked(url, clotho.captions_csv(root, split), clotho.ZENODO_MD5[csv_name], fetch)
    folder = clotho.audio_dir(root, split)
    if folder.is_dir() and any(folder.iterdir()):
        return
    archive = base / "archives" / archive_name
    url = zenodo.file_url(clotho.ZENODO_RECORD, archive_name)
    download_checked(url, archive, clotho.ZENODO_MD5[archive_name], fetch)
    # The archives hold a top-level `<split>/` folder.
    log.info("extracting %s -> %s", archive, folder.parent)
    extract_7z(archive, folder.parent)
    if not folder.is_dir():
        raise PrepError(f"{archive}: extraction did not create {folder}")


def download_audiocaps(root: Path, split: str) -> None:
    """Fetch one AudioCaps split with aac-datasets (it downloads from YouTube)."""
    try:
        from aac_datasets import AudioCaps
    except ImportError:
        raise PrepError(
            "AudioCaps download needs aac-datasets (pip install aac-datasets, plus yt-dlp "
            f"and ffmpeg). {offline_hint('audiocaps', Path(root))}"
        ) from None
    Path(root).mkdir(parents=True, exist_ok=True)
    try:
        AudioCaps(root=str(root), subset=split, download=True, verbose=1)
    except Exception as e:  # aac-datasets raises many kinds; the hint matters more
        raise PrepError(
            f"aac-datasets could not download AudioCaps {split} ({type(e).__name__}: {e}). "
            f"{offline_hint('audiocaps', Path(root))}"
        ) from None
    if not audiocaps.is_present(root, split):
        raise PrepError(
            f"aac-datasets finished but {audiocaps.captions_csv(root, split)} or "
            f"{audiocaps.audio_dir(root, split)} is missing: this aac-datasets version "
            f"uses another layout. {offline_hint('audiocaps', Path(root))}"
        )
