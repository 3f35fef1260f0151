"""Corpus downloads: Clotho v2.1 from Zenodo (MD5-checked, 7z-extracted), AudioCaps
through aac-datasets (YouTube, needs yt-dlp and ffmpeg).

Downloads go to `<name>.part` and are renamed only after the MD5 matches, so a killed
download never looks finished. Without network access every entry point stops with a
message saying where to place the data by hand.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Optional

from tqdm import tqdm

from aac.prep import audiocaps, clotho
from aac.prep.common import PrepError

log = logging.getLogger("aac.prep")

ZENODO_URL = "https://zenodo.org/record/{record}/files/{name}?download=1"
CHUNK = 1 << 20


def md5_file(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def check_md5(path: Path, expected: str) -> None:
    actual = md5_file(path)
    if actual != expected:
        raise PrepError(
            f"{path}: MD5 mismatch (expected {expected}, got {actual}); "
            "the file is corrupt or truncated: delete it and run again"
        )


def fetch_url(url: str, dest: Path) -> None:
    """Stream `url` into `dest` with a progress bar (no MD5 check here)."""
    with urllib.request.urlopen(url, timeout=60) as response, open(dest, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name) as bar:
            for block in iter(lambda: response.read(CHUNK), b""):
                out.write(block)
                bar.update(len(block))


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
    except (urllib.error.URLError, OSError) as e:
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
            "Without network access, download Clotho v2.1 (https://zenodo.org/record/"
            f"{clotho.ZENODO_RECORD}) elsewhere and place it as CLOTHO_v2.1/clotho_audio_files/"
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
    result = subprocess.run([binary, "x", "-y", f"-o{dest}", str(archive)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise PrepError(f"{archive}: 7z failed ({result.returncode}): {result.stderr[-500:]}")


def download_clotho(root: Path, split: str, fetch: Optional[Callable] = None) -> None:
    """Fetch captions CSV and audio archive of one Clotho v2.1 split into `root`."""
    base = Path(root) / clotho.VERSION_DIR
    csv_name = f"clotho_captions_{split}.csv"
    archive_name = f"clotho_audio_{split}.7z"
    url = ZENODO_URL.format(record=clotho.ZENODO_RECORD, name=csv_name)
    download_checked(url, clotho.captions_csv(root, split), clotho.ZENODO_MD5[csv_name], fetch)
    folder = clotho.audio_dir(root, split)
    if folder.is_dir() and any(folder.iterdir()):
        return
    archive = base / "archives" / archive_name
    url = ZENODO_URL.format(record=clotho.ZENODO_RECORD, name=archive_name)
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
