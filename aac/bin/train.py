"""Train the caption model (stages 4 and 5); resumes from checkpoints/last.pt after a kill.

Usage: aac-train --config conf/train.yaml --train-data data/audiocaps_train --train-feats dump/pann/audiocaps_train/feats.h5 --valid-data data/audiocaps_val --valid-feats dump/pann/audiocaps_val/feats.h5 --tokenizer exp/tokenizer/tokenizer.model --output-dir exp/pretrain [--init-from exp/OTHER] [--ngpu N | --nproc N] [--num-nodes M] [--override optim.lr=1e-4 ...]
"""

from __future__ import annotations

import argparse
import filecmp
import logging
import shutil
import sys
from pathlib import Path

import torch

from aac.config import load_config
from aac.dataset import CaptionDataset, GlobalBatchSampler, keep_available, read_caption_pairs
from aac.datadir import read_references
from aac.expdir import record_experiment
from aac.expconf import TrainConf, check_conf
from aac.feature_info import encoder_info_from_attrs, extract_stride, feature_attrs
from aac.model import CaptionModel
from aac.tokenizer import CaptionTokenizer
from aac.train import distributed as D
from aac.checkpoint_io import load_checkpoint
from aac.train.logs import setup_logging
from aac.train.trainer import Trainer, check_previous_run

logger = logging.getLogger("aac.train")


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Train Linear+BART captioner. Reads data dirs (text or text_spk1..5), HDF5 "
        "feature caches, tokenizer.model, YAML config. Writes OUTPUT_DIR/{config.yaml,cmd.txt,"
        "env.yaml,tokenizer.model,train.log,metrics.jsonl,best.pt,checkpoints/,images/}.")
    p.add_argument("--config", help="training YAML (keys of aac.expconf.TrainConf)")
    p.add_argument("--train-data", required=True, help="data dir with text (clip#k caption)")
    p.add_argument("--train-feats", required=True, help="HDF5 feature cache of the train set")
    p.add_argument("--valid-data", required=True, help="data dir with text_spk1..5")
    p.add_argument("--valid-feats", required=True, help="HDF5 feature cache of the valid set")
    p.add_argument("--tokenizer", required=True, help="tokenizer.model (aac-train-tokenizer)")
    p.add_argument("--output-dir", required=True, help="experiment directory exp/NAME")
    p.add_argument("--init-from", help="exp dir whose best.pt initialises the model weights")
    p.add_argument("--ngpu", type=int, default=0, help="GPUs per node (>1: DDP via torchrun)")
    p.add_argument("--nproc", type=int, default=1, help="CPU processes (gloo DDP) when ngpu=0")
    p.add_argument("--num-nodes", type=int, default=1, help="nodes, launched through srun")
    p.add_argument("--override", nargs="*", default=[], help="key.sub=value config overrides")
    return p


def resolve_config(args) -> TrainConf:
    """YAML + overrides, plus the encoder block and dims taken from the feature caches."""
    conf = load_config(TrainConf, args.config, args.override)
    check_conf(conf, args.config or "defaults")
    attrs, valid_attrs = feature_attrs(args.train_feats), feature_attrs(args.valid_feats)
    facts = [{"encoder": a.get("encoder"), "dim": a.get("dim"), "extract_stride": extract_stride(a)}
             for a in (attrs, valid_attrs)]
    for key in facts[0]:
        if facts[0][key] != facts[1][key]:
            raise ValueError(f"{args.valid_feats}: {key}={facts[1][key]!r} differs from "
                             f"{args.train_feats}: {key}={facts[0][key]!r}")
    dim = int(attrs["dim"])
    if conf.enc_dim and conf.enc_dim != dim:
        raise ValueError(f"config enc_dim={conf.enc_dim} but {args.train_feats} has dim {dim}")
    conf.enc_dim, conf.encoder = dim, encoder_info_from_attrs(attrs)
    conf.tokenizer = str(Path(args.tokenizer).resolve())
    return conf


def prepare_expdir(args, argv, conf, dist) -> None:
    """Rank 0 records the experiment and stores the tokenizer beside the checkpoints."""
    out = Path(args.output_dir)
    stored = out / "tokenizer.model"
    if stored.is_file() and not filecmp.cmp(stored, args.tokenizer, shallow=False):
        raise ValueError(f"{args.tokenizer} differs from the tokenizer already in {out}; "
                         "use a new --output-dir")
    if dist.is_main:
        record_experiment(out, conf, ["aac-train", *argv])
        shutil.copyfile(args.tokenizer, out / ".tokenizer.model.tmp")
        (out / ".tokenizer.model.tmp").replace(stored)
    D.barrier(dist)


def build_datasets(args, conf, tokenizer):
    max_len, k = conf.model.max_target_length, conf.downsample
    train_pairs = keep_available(read_caption_pairs(args.train_data), args.train_feats,
                                 args.train_data)
    refs = read_references(args.valid_data)
    valid_pairs = keep_available([(c, r) for c, rs in refs.items() for r in rs],
                                 args.valid_feats, args.valid_data)
    kept = {c for c, _ in valid_pairs}
    refs = {c: rs for c, rs in refs.items() if c in kept}
    train_set = CaptionDataset(train_pairs, args.train_feats, tokenizer, max_len, k)
    valid_set = CaptionDataset(valid_pairs, args.valid_feats, tokenizer, max_len, k)
    logger.info("train: %d captions, valid: %d clips", len(train_set), len(refs))
    return train_set, valid_set, refs


def init_weights(trainer, init_dir: Path, tokenizer_path: str) -> None:
    """Stage 5 from stage 4: the model weights of init_dir/best.pt, same tokenizer required."""
    if not filecmp.cmp(init_dir / "tokenizer.model", tokenizer_path, shallow=False):
        raise ValueError(f"--init-from {init_dir}: its tokenizer.model differs from {tokenizer_path}")
    trainer.init_from(load_checkpoint(init_dir / "best.pt")["model"])
    logger.info("initialised model weights from %s", init_dir / "best.pt")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = get_parser().parse_args(argv)
    launch = D.launch_command(argv, max(args.ngpu, args.nproc), args.num_nodes)
    if launch:
        return D.relaunch(launch)
    dist = D.init_distributed(args.ngpu)
    conf = resolve_config(args)
    if check_previous_run(args.output_dir, conf):
        print(f"{args.output_dir}: all {conf.optim.epochs} epochs done; nothing to do")
        return 0
    setup_logging(Path(args.output_dir) / "train.log", dist.is_main)
    prepare_expdir(args, argv, conf, dist)
    tokenizer = CaptionTokenizer(args.tokenizer)
    train_set, valid_set, refs = build_datasets(args, conf, tokenizer)
    torch.manual_seed(conf.seed)  # identical initial weights on every rank and rerun
    model = CaptionModel(conf.enc_dim, tokenizer.vocab_size, conf.model,
                         tokenizer.pad_id, tokenizer.bos_id, tokenizer.eos_id)
    sampler = GlobalBatchSampler(len(train_set), conf.optim.batch_size, conf.seed,
                                 dist.rank, dist.world_size)
    trainer = Trainer(conf, model, train_set, valid_set, refs, args.valid_feats, tokenizer,
                      args.output_dir, dist, sampler)
    if not trainer.resume() and args.init_from:
        init_weights(trainer, Path(args.init_from), args.tokenizer)
    trainer.fit()
    D.shutdown(dist)
    return 0


if __name__ == "__main__":
    sys.exit(main())
