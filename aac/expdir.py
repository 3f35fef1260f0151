"""Experiment-directory bookkeeping: resolved config, command line, versions, git hash.

Every `exp/<name>/` written by a stage holds `config.yaml` (resolved), `cmd.txt` (the
command line, appended once per invocation) and `env.yaml` (package versions, git hash,
host, date), so a result can always be traced to exactly what produced it.
"""

from __future__ import annotations

import datetime
import os
import platform
import shlex
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from aac.config import dump_yaml

TRACKED_PACKAGES = (
    "torch", "torchaudio", "transformers", "sentencepiece", "kaldiio", "h5py",
    "numpy", "soundfile", "aac-metrics",
)


def git_hash() -> str:
    """Commit of the aac source tree (with `-dirty` when modified), or `unknown`."""
    src = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(
            ["git", "-C", str(src), "describe", "--always", "--dirty", "--abbrev=12"],
            capture_output=True, text=True, timeout=10,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def package_versions() -> dict:
    out = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    try:
        out["aac"] = metadata.version("aac")
    except metadata.PackageNotFoundError:
        from aac import __version__

        out["aac"] = __version__
    return out


def environment() -> dict:
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "git_hash": git_hash(),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "versions": package_versions(),
    }


def record_experiment(exp_dir: str | os.PathLike, config: Any, argv=None) -> Path:
    """Write config.yaml and env.yaml, append the command line to cmd.txt."""
    exp_dir = Path(exp_dir)
    exp_dir.mkdir(parents=True, exist_ok=True)
    dump_yaml(config, exp_dir / "config.yaml")
    dump_yaml(environment(), exp_dir / "env.yaml")
    argv = sys.argv if argv is None else argv
    with open(exp_dir / "cmd.txt", "a", encoding="utf-8") as f:
        f.write(" ".join(shlex.quote(a) for a in argv) + "\n")
    return exp_dir
