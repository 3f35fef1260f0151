"""aac-train's inputs, checked before the experiment directory is created.

`check_inputs`, `open_caches`, `resolve_config` and `build_datasets` take the parsed
aac-train arguments and raise one-line user errors (`TrainInputError`, `ConfigError`, `DataDirError`) that
name the file and, where there is one, the key, so a failing run writes nothing.
Each feature cache is opened once (`open_caches`: attributes and clip index); its reader
is passed to the config, the datasets and the validation.

Two facts have one source each: the stride is `--downsample` when it is given (a YAML or
--override `downsample` that says otherwise is an error), and a fine-tuning run
(`--init-from EXP`) takes `model:` from EXP/config.yaml (a model key set to another value
is an error: the weights would not fit, or would mean something else), except the
regularisation keys (dropout, label smoothing), which the fine-tuning config may set.
"""

from __future__ import annotations

import filecmp
from pathlib import Path
from typing import List, NamedTuple

from aac.config import ConfigError, apply_overrides, build, load_config, load_yaml
from aac.datadir import read_mixture_captions, read_references
from aac.dataset import CaptionDataset, keep_available, keep_mixtures, read_caption_pairs
from aac.errors import AacError
from aac.expconf import REGULARISATION_KEYS, TrainConf, check_conf
from aac.feature_info import encoder_info_from_attrs, extract_stride, open_features


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


def open_caches(args) -> dict:
    """{"train": reader, "valid": reader}: each feature cache opened once."""
    return {"train": open_features(args.train_feats), "valid": open_features(args.valid_feats)}


def given_settings(args) -> dict:
    """What the YAML file and --override set, before defaults (nested dict)."""
    return apply_overrides(load_yaml(args.config) if args.config else {}, args.override)


def model_of(init_from, given: dict, source: str):
    """The `model:` of the experiment `init_from`, with the REGULARISATION_KEYS the config
    sets; any other given model key with another value is an error."""
    path = Path(init_from) / "config.yaml"
    if not path.is_file():
        raise TrainInputError(f"--init-from {init_from}: {path} not found")
    model = build(TrainConf, load_yaml(path), str(path)).model
    wanted = build(TrainConf, {"model": given}, source).model
    for key in sorted(given):
        if key in REGULARISATION_KEYS:
            setattr(model, key, getattr(wanted, key))
        elif getattr(wanted, key) != getattr(model, key):
            raise ConfigError(
                f"{source}: model.{key}={getattr(wanted, key)!r}, but --init-from {init_from} "
                f"was trained with model.{key}={getattr(model, key)!r} ({path}); fine-tuning "
                f"takes model: from the run it starts from (only {', '.join(REGULARISATION_KEYS)} "
                "may change): drop the key"
            )
    return model


def resolve_config(args, caches=None) -> TrainConf:
    """YAML + overrides (+ --downsample, --init-from's model), plus the encoder block and
    dims taken from the feature caches (`open_caches`; opened here when not given)."""
    conf = load_config(TrainConf, args.config, args.override)
    source, given = config_source(args), given_settings(args)
    if args.downsample is not None:
        if given.get("downsample", args.downsample) != args.downsample:
            raise ConfigError(
                f"{source}: downsample: {given['downsample']} but --downsample "
                f"{args.downsample}: give the stride in one place"
            )
        conf.downsample = args.downsample
    if args.init_from:
        conf.model = model_of(args.init_from, given.get("model") or {}, source)
    check_conf(conf, source)
    fill_text_embedding_dim(conf, source)
    if args.print_config and not (args.train_feats and args.valid_feats and args.tokenizer):
        return conf  # nothing to fill in from
    caches = caches or open_caches(args)
    attrs, valid_attrs = caches["train"].attrs, caches["valid"].attrs
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


def fill_text_embedding_dim(conf, source: str) -> None:
    """With text_embedding.weight > 0 the head's size is the text encoder's: filled in
    when model.text_embedding_dim is 0, an error when it is another size."""
    if conf.text_embedding.weight <= 0:
        return
    from aac.train.augment import text_model_dim

    dim = text_model_dim(conf.text_embedding.model_dir)
    if conf.model.text_embedding_dim == 0:
        conf.model.text_embedding_dim = dim
    elif conf.model.text_embedding_dim != dim:
        raise ConfigError(
            f"{source}: model.text_embedding_dim={conf.model.text_embedding_dim} but the "
            f"text encoder ({conf.text_embedding.model_dir or 'bundled all-MiniLM-L6-v2'}) "
            f"embeds in {dim} dimensions: set it to {dim} or 0"
        )


def available(pairs, feats, data_dir) -> list:
    """keep_available, its 'no clip has features' ValueError as a one-line user error."""
    try:
        return keep_available(pairs, feats, data_dir)
    except ValueError as e:
        raise TrainInputError(str(e)) from None


class TrainData(NamedTuple):
    train_set: CaptionDataset
    valid_set: CaptionDataset
    refs: dict  # valid clip -> references
    train_captions: List[str]  # the caption of each training item (mixtures included)


def mixture_pairs(conf, train_feats) -> list:
    """(mixture id, caption) of mixup.captions whose clips have features ([] when off)."""
    path = conf.mixup.captions
    if not path:
        return []
    if not Path(path).is_file():
        raise TrainInputError(f"mixup.captions {path}: mix-up caption file not found")
    return keep_mixtures(read_mixture_captions(path), train_feats, path)


def build_datasets(args, conf, tokenizer, caches=None) -> TrainData:
    """Train set (with mix-up items), valid set and references, of the clips that have
    cached features; the datasets read through the readers of `caches` (`open_caches`)."""
    max_len, k = conf.model.max_target_length, conf.downsample
    caches = caches or open_caches(args)
    train, valid = caches["train"], caches["valid"]
    train_pairs = available(read_caption_pairs(args.train_data), train, args.train_data)
    train_pairs += mixture_pairs(conf, train)
    refs = read_references(args.valid_data)
    valid_pairs = available([(c, r) for c, rs in refs.items() for r in rs], valid, args.valid_data)
    kept = {c for c, _ in valid_pairs}
    refs = {c: rs for c, rs in refs.items() if c in kept}
    train_set = CaptionDataset(train_pairs, train, tokenizer, max_len, k, conf.mixup.mode)
    valid_set = CaptionDataset(valid_pairs, valid, tokenizer, max_len, k)
    return TrainData(train_set, valid_set, refs, [c for _, c in train_pairs])
