"""Train the caption model (stages 4 and 5); resumes from checkpoints/last.pt after a kill.

Usage: aac-train --config conf/train.yaml --train-data data/audiocaps_train --train-feats dump/pann/audiocaps_train/feats.h5 --valid-data data/audiocaps_val --valid-feats dump/pann/audiocaps_val/feats.h5 --tokenizer exp/tokenizer/tokenizer.model --output-dir exp/pretrain [--init-from exp/OTHER] [--ngpu N | --nproc N] [--num-nodes M] [--override optim.lr=1e-4 ...]
       aac-train --config conf/train.yaml [--override ...] --print-config

Everything is checked (config keys, types and values, data dirs, feature caches, the
tokenizer) before OUTPUT_DIR is created; a run that fails before training starts leaves
no new OUTPUT_DIR behind. Expected failures print one line `aac-train: error: ...`.
"""

from __future__ import annotations

import argparse
import dataclasses
import filecmp
import logging
import shutil
import sys
from pathlib import Path

import torch
import yaml

from aac.cli import run_main
from aac.config import ConfigError, load_config
from aac.errors import AacError
from aac.dataset import (CaptionDataset, GlobalBatchSampler, feature_attrs, keep_available,
                         read_caption_pairs)
from aac.datadir import read_references
from aac.expdir import record_experiment
from aac.inference import encoder_info_from_attrs
from aac.model import CaptionModel
from aac.tokenizer import CaptionTokenizer
from aac.train import distributed as D
from aac.checkpoint_io import load_checkpoint
from aac.train.conf import TrainConf, check_conf
from aac.train.logs import setup_logging
from aac.train.trainer import Trainer, check_previous_run

logger = logging.getLogger("aac.train")


class TrainInputError(AacError):
    """A missing or mismatching input of aac-train (tokenizer, feature cache, --init-from)."""


REQUIRED = ("train_data", "train_feats", "valid_data", "valid_feats", "tokenizer", "output_dir")


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="aac-train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Reads data dirs (text or text_spk1..5), HDF5 feature caches, tokenizer.model, "
        "YAML config. Writes OUTPUT_DIR/{config.yaml,cmd.txt,env.yaml,tokenizer.model,train.log,"
        "metrics.jsonl,best.pt,checkpoints/,images/}.")
    p.add_argument("--config", help="training YAML (keys of aac.train.conf.TrainConf)")
    p.add_argument("--train-data", help="data dir with text (clip#k caption)")
    p.add_argument("--train-feats", help="HDF5 feature cache of the train set")
    p.add_argument("--valid-data", help="data dir with text_spk1..5")
    p.add_argument("--valid-feats", help="HDF5 feature cache of the valid set")
    p.add_argument("--tokenizer", help="tokenizer.model (aac-train-tokenizer)")
    p.add_argument("--output-dir", help="experiment directory exp/NAME")
    p.add_argument("--init-from", help="exp dir whose best.pt initialises the model weights")
    p.add_argument("--trust-checkpoint", action="store_true",
                   help="allow full unpickling of --init-from's best.pt (only if you trust it)")
    p.add_argument("--ngpu", type=int, default=0, help="GPUs per node (>1: DDP via torchrun)")
    p.add_argument("--nproc", type=int, default=1, help="CPU processes (gloo DDP) when ngpu=0")
    p.add_argument("--num-nodes", type=int, default=1, help="nodes, launched through srun")
    p.add_argument("--override", nargs="*", default=[], help="key.sub=value config overrides")
    p.add_argument("--print-config", action="store_true",
                   help="print the resolved config (defaults < YAML < --override) and exit; "
                   "writes nothing")
    return p


def parse_args(argv) -> argparse.Namespace:
    parser = get_parser()
    args = parser.parse_args(argv)
    missing = [name for name in REQUIRED if getattr(args, name) is None]
    if missing and not args.print_config:
        parser.error("the following arguments are required: "
                     + ", ".join("--" + m.replace("_", "-") for m in missing))
    return args


def config_source(args) -> str:
    return (args.config or "defaults") + (" + command-line overrides" if args.override else "")


def check_inputs(args) -> None:
    """Files the run needs, named with the stage that makes them (before anything is written)."""
    for path, what in ((args.tokenizer, "tokenizer model (stage 2, aac-train-tokenizer)"),
                       (args.train_feats, "feature cache (stage 3, aac-extract-feats)"),
                       (args.valid_feats, "feature cache (stage 3, aac-extract-feats)")):
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
            raise TrainInputError(f"--init-from {init}: its tokenizer.model differs from "
                                  f"{args.tokenizer}")
    stored = Path(args.output_dir) / "tokenizer.model"
    if stored.is_file() and not filecmp.cmp(stored, args.tokenizer, shallow=False):
        raise TrainInputError(f"{args.tokenizer} differs from the tokenizer already in "
                              f"{args.output_dir}; use a new --output-dir")


def resolve_config(args) -> TrainConf:
    """YAML + overrides, plus the encoder block and dims taken from the feature caches."""
    conf = load_config(TrainConf, args.config, args.override)
    check_conf(conf, config_source(args))
    if args.print_config and not (args.train_feats and args.valid_feats and args.tokenizer):
        return conf  # nothing to fill in from
    attrs, valid_attrs = feature_attrs(args.train_feats), feature_attrs(args.valid_feats)
    for key in ("encoder", "dim", "downsample"):
        if attrs.get(key) != valid_attrs.get(key):
            raise TrainInputError(f"{args.valid_feats}: {key}={valid_attrs.get(key)!r} differs "
                                  f"from {args.train_feats}: {key}={attrs.get(key)!r}")
    dim = int(attrs["dim"])
    if conf.enc_dim and conf.enc_dim != dim:
        raise ConfigError(f"{config_source(args)}: enc_dim={conf.enc_dim} but "
                          f"{args.train_feats} has dim {dim}")
    conf.enc_dim, conf.encoder = dim, encoder_info_from_attrs(attrs)
    conf.tokenizer = str(Path(args.tokenizer).resolve())
    return conf


def previous_run_done(args, conf) -> bool:
    try:
        return check_previous_run(args.output_dir, conf)
    except ValueError as e:  # another configuration in this directory: the user's to resolve
        if isinstance(e, AacError):
            raise
        raise ConfigError(str(e)) from None


def prepare_expdir(args, argv, conf, dist) -> None:
    """Rank 0 records the experiment and stores the tokenizer beside the checkpoints."""
    out = Path(args.output_dir)
    if dist.is_main:
        record_experiment(out, conf, ["aac-train", *argv])
        shutil.copyfile(args.tokenizer, out / ".tokenizer.model.tmp")
        (out / ".tokenizer.model.tmp").replace(out / "tokenizer.model")
    D.barrier(dist)


def available(pairs, feats, data_dir) -> list:
    """keep_available, its 'no clip has features' ValueError as a one-line user error."""
    try:
        return keep_available(pairs, feats, data_dir)
    except ValueError as e:
        raise TrainInputError(str(e)) from None


def build_datasets(args, conf, tokenizer):
    max_len, k = conf.model.max_target_length, conf.downsample
    train_pairs = available(read_caption_pairs(args.train_data), args.train_feats,
                            args.train_data)
    refs = read_references(args.valid_data)
    valid_pairs = available([(c, r) for c, rs in refs.items() for r in rs],
                            args.valid_feats, args.valid_data)
    kept = {c for c, _ in valid_pairs}
    refs = {c: rs for c, rs in refs.items() if c in kept}
    train_set = CaptionDataset(train_pairs, args.train_feats, tokenizer, max_len, k)
    valid_set = CaptionDataset(valid_pairs, args.valid_feats, tokenizer, max_len, k)
    return train_set, valid_set, refs


def build_trainer(args, conf, dist, tokenizer, datasets) -> Trainer:
    """Model, sampler and Trainer; restores last.pt or the --init-from weights."""
    train_set, valid_set, refs = datasets
    torch.manual_seed(conf.seed)  # identical initial weights on every rank and rerun
    model = CaptionModel(conf.enc_dim, tokenizer.vocab_size, conf.model,
                         tokenizer.pad_id, tokenizer.bos_id, tokenizer.eos_id)
    sampler = GlobalBatchSampler(len(train_set), conf.optim.batch_size, conf.seed,
                                 dist.rank, dist.world_size)
    trainer = Trainer(conf, model, train_set, valid_set, refs, args.valid_feats, tokenizer,
                      args.output_dir, dist, sampler)
    if not trainer.resume() and args.init_from:
        best = Path(args.init_from) / "best.pt"
        trainer.init_from(load_checkpoint(best, trust=args.trust_checkpoint)["model"])
        logger.info("initialised model weights from %s", best)
    return trainer


def print_config(conf) -> int:
    print(yaml.safe_dump(dataclasses.asdict(conf), sort_keys=False, allow_unicode=True), end="")
    return 0


def _main(argv) -> int:
    args = parse_args(argv)
    if args.print_config:
        return print_config(resolve_config(args))
    launch = D.launch_command(argv, max(args.ngpu, args.nproc), args.num_nodes)
    if launch:
        return D.relaunch(launch)
    dist = D.init_distributed(args.ngpu)
    # 1. check everything before OUTPUT_DIR exists: config, inputs, data dirs, caches
    check_inputs(args)
    conf = resolve_config(args)
    tokenizer = CaptionTokenizer(args.tokenizer)
    datasets = build_datasets(args, conf, tokenizer)
    if previous_run_done(args, conf):
        print(f"{args.output_dir}: all {conf.optim.epochs} epochs done; nothing to do")
        return 0
    # 2. the experiment directory; removed again if it is new and setting up fails
    out, existed = Path(args.output_dir), Path(args.output_dir).exists()
    try:
        setup_logging(out / "train.log", dist.is_main)
        logger.info("train: %d captions, valid: %d clips", len(datasets[0]), len(datasets[2]))
        prepare_expdir(args, argv, conf, dist)
        trainer = build_trainer(args, conf, dist, tokenizer, datasets)
    except BaseException:
        if not existed and dist.is_main:
            for handler in list(logging.getLogger("aac").handlers):  # release train.log
                logging.getLogger("aac").removeHandler(handler)
                handler.close()
            shutil.rmtree(out, ignore_errors=True)
        raise
    # 3. train (resumable from checkpoints/last.pt), then clean up the process group
    trainer.fit()
    D.shutdown(dist)
    return 0


def main(argv=None) -> int:
    return run_main("aac-train", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
