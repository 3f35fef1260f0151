"""Experiment directories: claiming one for a run, its record, reading its model back.

A run that writes `exp/<name>/` first claims it (`claim_experiment_dir`): an exclusive
lock on `exp/<name>/.lock`, so a second run on the same directory stops, naming the
holder; only the run that created the directory may remove it after a failure.
Every `exp/<name>/` written by a stage holds `config.yaml` (resolved), `cmd.txt` (the
command line, appended once per invocation) and `env.yaml` (package versions, git hash,
host, date), so a result can always be traced to exactly what produced it.

Reading: `resolve_checkpoint(exp, "best"|"last"|"epochN"|path)` and
`load_model_from_expdir(exp, checkpoint)`, which rebuilds model + tokenizer from the
directory alone. Training writes, decoding reads: both sit above this module.
"""

from __future__ import annotations

import datetime
import os
import platform
import shlex
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from aac.config import dump_yaml

TRACKED_PACKAGES = (
    "torch",
    "torchaudio",
    "transformers",
    "sentencepiece",
    "kaldiio",
    "h5py",
    "numpy",
    "soundfile",
    "aac-metrics",
)


def git_hash() -> str:
    """Commit of the aac source tree (with `-dirty` when modified), or `unknown`."""
    src = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(
            ["git", "-C", str(src), "describe", "--always", "--dirty", "--abbrev=12"],
            capture_output=True,
            text=True,
            timeout=10,
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


@dataclass
class ClaimedDir:
    """An experiment directory this run holds the lock of (see `claim_experiment_dir`)."""

    path: Path
    created: bool  # made by this run: the only case in which a failure may remove it
    lock: Any  # aac.locking.OutputLock on <path>.lock

    def remove_if_created(self) -> None:
        if self.created:
            shutil.rmtree(self.path, ignore_errors=True)

    def release(self) -> None:
        self.lock.release()


def claim_experiment_dir(exp_dir: str | os.PathLike) -> ClaimedDir:
    """Create exp_dir unless it exists, then lock `exp_dir/.lock` for this run.

    A second run on the same directory stops with OutputLockedError naming the holder's
    pid. `created` is true only for the run whose mkdir made the directory; a run that
    made it but lost the lock to another stops here, before it could remove anything.
    """
    from aac.locking import OutputLock

    exp_dir = Path(exp_dir)
    exp_dir.parent.mkdir(parents=True, exist_ok=True)
    try:
        exp_dir.mkdir()
        created = True
    except FileExistsError:
        created = False
    lock = OutputLock(exp_dir, hint="use another --output-dir", lock_file=exp_dir / ".lock")
    return ClaimedDir(exp_dir, created, lock)


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


# ---- reading an experiment back: checkpoint names and the trained model -------------


def resolve_checkpoint(exp_dir: str | os.PathLike, checkpoint: str = "best") -> Path:
    """'best' -> exp/best.pt; 'last', 'epoch3' -> exp/checkpoints/<name>.pt; else a path.

    The one resolver behind every `--checkpoint` of a captioning model (decode, pack,
    caption, benchmark). Raises CheckpointNotFoundError naming what it looked for.
    """
    exp_dir, checkpoint = Path(exp_dir), str(checkpoint)
    candidates = [Path(checkpoint)] if checkpoint.endswith(".pt") else []
    candidates += [exp_dir / f"{checkpoint}.pt", exp_dir / "checkpoints" / f"{checkpoint}.pt"]
    for cand in candidates:
        if cand.is_file():
            return cand
    from aac.checkpoint_io import CheckpointNotFoundError  # only now: it imports torch

    raise CheckpointNotFoundError(
        f"{exp_dir}: no checkpoint {checkpoint!r} "
        f"(looked for {', '.join(str(c) for c in candidates)})"
    )


@dataclass
class LoadedModel:
    model: Any  # aac.model.CaptionModel, in eval mode
    tokenizer: Any  # aac.tokenizer.CaptionTokenizer
    config: dict  # the experiment's resolved config.yaml
    encoder_info: dict  # config.yaml `encoder:` (name, checkpoint, rates, extract_stride)
    device: str = "cpu"
    checkpoint: str = ""  # the file the weights came from

    @property
    def downsample(self) -> int:
        """Frame stride before cross-attention (config.yaml `downsample`)."""
        return int(self.config.get("downsample", 1))


def load_model_from_expdir(
    exp_dir: str | os.PathLike, checkpoint: str = "best", device: str = "cpu", trust: bool = False
) -> LoadedModel:
    """Model + tokenizer + config from exp_dir/{config.yaml,tokenizer.model,<checkpoint>}.

    `checkpoint`: best, last, epochN or a path (see `resolve_checkpoint`). `trust` allows
    full unpickling of a checkpoint that weights-only loading refuses.
    """
    from aac.checkpoint_io import CheckpointError, load_checkpoint
    from aac.config import ConfigError, build, load_yaml
    from aac.expconf import TrainConf
    from aac.model import CaptionModel
    from aac.tokenizer import CaptionTokenizer

    exp_dir = Path(exp_dir)
    conf_path = exp_dir / "config.yaml"
    raw = load_yaml(conf_path)
    conf = build(TrainConf, raw, str(conf_path))
    if conf.enc_dim <= 0:
        raise ConfigError(f"{conf_path}: enc_dim missing; was this written by aac-train?")
    tokenizer = CaptionTokenizer(exp_dir / "tokenizer.model")
    model = CaptionModel.for_tokenizer(conf.enc_dim, conf.model, tokenizer)
    ckpt_path = resolve_checkpoint(exp_dir, checkpoint)
    state = load_checkpoint(ckpt_path, trust=trust)
    if "model" not in state:
        raise CheckpointError(f"{ckpt_path}: no 'model' weights in this checkpoint")
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as e:
        raise CheckpointError(f"{ckpt_path}: weights do not fit {conf_path}: {e}") from None
    model.to(device).eval()
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        config=raw,
        encoder_info=dict(conf.encoder),
        device=device,
        checkpoint=str(ckpt_path),
    )
