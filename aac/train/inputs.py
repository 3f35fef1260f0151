"""aac-train's inputs, checked before the experiment directory is created.

`check_inputs`, `resolve_config` and `build_datasets` take the parsed aac-train arguments
and raise one-line user errors (`TrainInputError`, `ConfigError`, `DataDirError`) that
name the file and, where there is one, the key, so a failing run writes nothing.
"""

from __future__ import annotations

import filecmp
from pathlib import Path

from aac.config import ConfigError, load_config
from aac.datadir import read_references
from aac.dataset import CaptionDataset, keep_available, read_caption_pairs
from aac.errors import AacError
from aac.expconf import TrainConf, check_conf
from aac.feature_info import encoder_info_from_attrs, extract_stride, feature_attrs
from aac.train.trainer import check_previous_run


class TrainInputError(AacError):
    """A missing or mismatching input of aac-train (tokenizer, feature cache, --init-from)."""


def config_source(args) -> str:
    """Where the config values came from, for error messages."""
    return (args.config or "defaults") + (" + command-line overrides" if args.override else "")


def check_inputs(args) -> None:
    """Files the run needs, named with the stage that makes them (before anything is written)."""
    for path, what in (
        (args.tokenizer, "tokenizer model (stage 2, aac-train-tokenizer)"),
        (args.train_feats, "feature cache (stage 3, aac-extract-feats)"),
        (args.valid_feats, "feature cache (stage 3, aac-extract-feats)"),
    ):
        if not Path(path).is_file():
            raise TrainInputError(f"{path}: {what} not found")
    for path in (args.train_data, args.valid_data):
        if not Path(path).is_dir():
            raise TrainInputError(f"{path}: data directory not found")
    if args.init_from:
        init = Path(args.init_from)
        for name in ("best.pt", "tokenizer.model"):
            if not (init / name).is_file():
                raise TrainInputError(f"--init-from {init}: {init / name} not found")
        if not filecmp.cmp(init / "tokenizer.model", args.tokenizer, shallow=False):
            raise TrainInputError(
                f"--init-from {init}: its tokenizer.model differs from {args.tokenizer}"
            )
    stored = Path(args.output_dir) / "tokenizer.model"
    if stored.is_file() and not filecmp.cmp(stored, args.tokenizer, shallow=False):
        raise TrainInputError(
            f"{args.tokenizer} differs from the tokenizer already in "
            f"{args.output_dir}; use a new --output-dir"
        )


def resolve_config(args) -> TrainConf:
    """YAML + overrides, plus the encoder block and dims taken from the feature caches."""
    conf = load_config(TrainConf, args.config, args.override)
    check_conf(conf, config_source(args))
    if args.print_config and not (args.train_feats and args.valid_feats and args.tokenizer):
        return conf  # nothing to fill in from
    attrs, valid_attrs = feature_attrs(args.train_feats), feature_attrs(args.valid_feats)
    facts = [
        {"encoder": a.get("encoder"), "dim": a.get("dim"), "extract_stride": extract_stride(a)}
        for a in (attrs, valid_attrs)
    ]
    for key in facts[0]:
        if facts[0][key] != facts[1][key]:
            raise TrainInputError(
                f"{args.valid_feats}: {key}={facts[1][key]!r} differs "
                f"from {args.train_feats}: {key}={facts[0][key]!r}"
            )
    dim = int(attrs["dim"])
    if conf.enc_dim and conf.enc_dim != dim:
        raise ConfigError(
            f"{config_source(args)}: enc_dim={conf.enc_dim} but {args.train_feats} has dim {dim}"
        )
    conf.enc_dim, conf.encoder = dim, encoder_info_from_attrs(attrs)
    conf.tokenizer = str(Path(args.tokenizer).resolve())
    return conf


def previous_run_done(args, conf) -> bool:
    """True when OUTPUT_DIR already finished this config; another config is a ConfigError."""
    try:
        return check_previous_run(args.output_dir, conf)
    except ValueError as e:  # another configuration in this directory: the user's to resolve
        if isinstance(e, AacError):
            raise
        raise ConfigError(str(e)) from None


def available(pairs, feats, data_dir) -> list:
    """keep_available, its 'no clip has features' ValueError as a one-line user error."""
    try:
        return keep_available(pairs, feats, data_dir)
    except ValueError as e:
        raise TrainInputError(str(e)) from None


def build_datasets(args, conf, tokenizer):
    """(train set, valid set, valid references) of the clips that have cached features."""
    max_len, k = conf.model.max_target_length, conf.downsample
    train_pairs = available(read_caption_pairs(args.train_data), args.train_feats, args.train_data)
    refs = read_references(args.valid_data)
    valid_pairs = available(
        [(c, r) for c, rs in refs.items() for r in rs], args.valid_feats, args.valid_data
    )
    kept = {c for c, _ in valid_pairs}
    refs = {c: rs for c, rs in refs.items() if c in kept}
    train_set = CaptionDataset(train_pairs, args.train_feats, tokenizer, max_len, k)
    valid_set = CaptionDataset(valid_pairs, args.valid_feats, tokenizer, max_len, k)
    return train_set, valid_set, refs
