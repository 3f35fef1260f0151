"""Reading a finished pre-training experiment back: its config and its best weights.

An experiment dir is what `aac-pretrain-encoder --output-dir` wrote: either one run
(config.yaml + best.pt) or a tau grid whose `selected.json` names the best run.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from aac.checkpoint_io import CheckpointError, load_checkpoint
from aac.config import load_config
from aac.encoders import AudioEncoder, build_encoder
from aac.pretrain.conf import PretrainConf
from aac.pretrain.model import PretrainModel


def selected_run(exp_dir) -> Path:
    """The run dir holding the best weights: selected.json's choice, else exp_dir itself."""
    exp_dir = Path(exp_dir)
    info = exp_dir / "selected.json"
    run = Path(json.loads(info.read_text(encoding="utf-8"))["run"]) if info.is_file() else exp_dir
    if not (run / "best.pt").is_file() or not (run / "config.yaml").is_file():
        raise CheckpointError(
            f"{run}: no best.pt/config.yaml: not a finished aac-pretrain-encoder run"
        )
    return run


def load_run(run: Path):
    """(PretrainConf, PretrainModel with best.pt weights, in eval mode, frozen)."""
    conf = load_config(PretrainConf, run / "config.yaml")
    best = load_checkpoint(run / "best.pt")["model"]
    e = conf.encoder
    # the trained weights replace the initial ones: build without reading them, and without
    # the random-init warning, which would be false here
    quiet = logging.getLogger("aac.encoders.base")
    quiet.disabled = True
    try:
        encoder = build_encoder(e.name, None, True, e.trust_checkpoint, e.conf)
    finally:
        quiet.disabled = False
    encoder.random_init = False
    text_dim = best["text_proj.weight"].shape[1] if "text_proj.weight" in best else 0
    model = PretrainModel(encoder, conf, conf.num_classes, text_dim)
    model.load_state_dict(best, strict=True)
    return conf, model.eval()


def encoder_state(model: PretrainModel) -> dict:
    """The encoder's own state dict (what `build_encoder(name, checkpoint=...)` loads)."""
    return {k: v.detach().cpu().clone() for k, v in model.encoder.state_dict().items()}


def check_loadable(name: str, path, conf: dict) -> AudioEncoder:
    """Load an exported file the way aac-extract-feats does (strict, weights-only)."""
    return build_encoder(name, str(path), False, False, conf)


def load_task_run(exp_dir, task: str, other_tool: str):
    """(run dir, conf, model) of EXP_DIR's selected run, which must be a `task` run."""
    from aac.config import ConfigError

    run = selected_run(exp_dir)
    conf, model = load_run(run)
    if conf.task != task:
        raise ConfigError(
            f"{run}: an {conf.task.upper()} run; this needs an {task.upper()} one ({other_tool}?)"
        )
    return run, conf, model
