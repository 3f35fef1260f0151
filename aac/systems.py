"""Whole-system presets beyond the paper's rows: `conf/system/<name>.yaml` of a recipe.

    preset = load_system(Path("conf/system/dcase2023.yaml"))
    system_options(preset, ["--stage", "5"])   # aac.sh options, before the user's own

A system preset names what a paper row names (the encoder and its official checkpoint, or a
labelled stand-in) plus the training and decoding configs that switch its levers on
(`finetune_config`, `decode_config`, `pretrain_config` or `skip_pretrain`). It is routed by
`aac-paper-row ... --as-options -- --system NAME`, as `--paper_row NAME` is, so run.sh stays
a router. System presets are not paper rows: they are not in the paper tables nor in the
plan of local/paper.sh. `needs` says what the preset needs that is not offline.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

from aac.config import ConfigError, build, load_yaml
from aac.official_encoders import OFFICIAL


@dataclass
class SystemPreset:
    name: str = ""
    title: str = ""
    source: str = ""  # the system's publication
    encoder: str = ""  # aac.encoders registry name
    official: Optional[str] = None  # aac-download-encoder NAME; null: no weights to fetch
    random_init: bool = False
    stand_in: str = ""  # non-empty: what the encoder stands in for (mini recipe)
    downsample: int = 1
    skip_pretrain: bool = False
    pretrain_config: Optional[str] = None  # null: the recipe's own
    finetune_config: str = ""
    decode_config: str = ""
    needs: str = ""  # what is not offline: documentation only, no aac.sh option


def load_system(path: Path) -> SystemPreset:
    preset = build(SystemPreset, load_yaml(path), source=str(path))
    if preset.name != Path(path).stem:
        raise ConfigError(f"{path}: name {preset.name!r} differs from the file name")
    if preset.official is not None and preset.official not in OFFICIAL:
        raise ConfigError(
            f"{path}: official: unknown {preset.official!r} (known: {', '.join(OFFICIAL)})"
        )
    if preset.official is not None and OFFICIAL[preset.official].encoder != preset.encoder:
        raise ConfigError(
            f"{path}: official {preset.official} is not a {preset.encoder} checkpoint"
        )
    if preset.downsample not in (1, 2, 4, 8):
        raise ConfigError(f"{path}: downsample {preset.downsample} is not 1, 2, 4 or 8")
    for key in ("encoder", "finetune_config", "decode_config"):
        if not getattr(preset, key):
            raise ConfigError(f"{path}: {key} is required")
    return preset


def find_system(system_dir: Path, name: str) -> SystemPreset:
    path = Path(system_dir) / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in Path(system_dir).glob("*.yaml"))
        raise ConfigError(
            f"unknown system {name!r} (known in {system_dir}: {', '.join(known) or 'none'})"
        )
    return load_system(path)


def system_options(preset: SystemPreset, user_args: List[str]) -> List[str]:
    """The aac.sh options of a preset; --tag <name> unless the user gave one."""
    opts = ["--encoder", preset.encoder]
    if preset.official:
        opts += ["--encoder_download", preset.official]
    if preset.random_init:
        opts += ["--encoder_random_init", "true"]
    opts += ["--dumpdir", f"dump/{preset.name}", "--downsample", str(preset.downsample)]
    if preset.skip_pretrain:
        opts += ["--skip_pretrain", "true"]
    if preset.pretrain_config:
        opts += ["--pretrain_config", preset.pretrain_config]
    opts += ["--finetune_config", preset.finetune_config]
    opts += ["--decode_config", preset.decode_config]
    if "--tag" not in user_args[:-1]:
        opts += ["--tag", preset.name]
    return opts
