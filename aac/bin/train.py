"""Train the caption model (stages 4 and 5); resumes from checkpoints/last.pt after a kill.

Usage: aac-train --config conf/train.yaml --train-data data/audiocaps_train --train-feats dump/pann/audiocaps_train/feats.h5 --valid-data data/audiocaps_val --valid-feats dump/pann/audiocaps_val/feats.h5 --tokenizer exp/tokenizer/tokenizer.model --output-dir exp/pretrain [--downsample K] [--init-from exp/OTHER] [--ngpu N | --nproc N] [--num-nodes M] [--override optim.lr=1e-4 ...]
       aac-train --config conf/train.yaml [--override ...] --print-config

Everything is checked (config keys, types and values, data dirs, feature caches, the
tokenizer) before OUTPUT_DIR is created; a run that fails before training starts leaves
no new OUTPUT_DIR behind, and never removes one it did not create. OUTPUT_DIR/.lock keeps
a second run off the same directory (exit 2, naming the running one's pid). Expected
failures print one line `aac-train: error: ...`.
With --init-from the model block comes from that experiment's config.yaml.

Training levers beyond the paper (config keys, all off by default; docs/training_levers.md):
  text_embedding.{weight,temperature,model_dir}  aux InfoNCE to frozen sentence embeddings
                                                 (model.text_embedding_dim: its head)
  mixup.{captions,mode}        extra items <clipA>+<clipB> from a Kaldi text (concat|sum)
  spec_augment.{time_masks,time_width,channel_masks,channel_width}  masks on cached frames
  model.conformer_{layers,heads,ffn_dim,kernel,dropout}  Conformer adapter before the decoder
  average_best N               best.pt = mean weights of the N best epochs
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import shutil
import sys
from pathlib import Path

import torch
import yaml

from aac.checkpoint_io import load_checkpoint
from aac.cli import add_downsample, add_launch_options, add_trust_checkpoint, run_main
from aac.dataset import GlobalBatchSampler
from aac.expdir import claim_experiment_dir, record_experiment
from aac.model import CaptionModel
from aac.tokenizer import CaptionTokenizer
from aac.train import distributed as D
from aac.train.augment import caption_embeddings
from aac.train.inputs import (
    TrainInputError,
    build_datasets,
    check_inputs,
    open_caches,
    resolve_config,
)
from aac.train.logs import setup_logging
from aac.train.loop import TrainingLoop, check_previous_run
from aac.train.trainer import CaptionTask

logger = logging.getLogger("aac.train")


REQUIRED = ("train_data", "train_feats", "valid_data", "valid_feats", "tokenizer", "output_dir")


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="aac-train",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Reads data dirs (text or text_spk1..5), HDF5 feature caches, tokenizer.model, "
        "YAML config. Writes OUTPUT_DIR/{config.yaml,cmd.txt,env.yaml,tokenizer.model,train.log,"
        "metrics.jsonl,best.pt,checkpoints/,images/}, and text_embeddings.pt with "
        "text_embedding.weight > 0 (reads mixup.captions when set).",
    )
    p.add_argument("--config", help="training YAML (keys of aac.expconf.TrainConf)")
    p.add_argument("--train-data", help="data dir with text (clip#k caption)")
    p.add_argument("--train-feats", help="HDF5 feature cache of the train set")
    p.add_argument("--valid-data", help="data dir with text_spk1..5")
    p.add_argument("--valid-feats", help="HDF5 feature cache of the valid set")
    p.add_argument("--tokenizer", help="tokenizer.model (aac-train-tokenizer)")
    p.add_argument("--output-dir", help="experiment directory exp/NAME")
    add_downsample(
        p,
        "frame stride before cross-attention (config downsample; a config or --override "
        "that sets another value is an error)",
    )
    p.add_argument(
        "--init-from", help="exp dir whose best.pt (and model: config) initialises the model"
    )
    add_trust_checkpoint(p, "allow full unpickling of --init-from's best.pt (only if you trust it)")
    add_launch_options(p)
    p.add_argument("--override", nargs="*", default=[], help="key.sub=value config overrides")
    p.add_argument(
        "--print-config",
        action="store_true",
        help="print the resolved config (defaults < YAML < --override) and exit; writes nothing",
    )
    return p


def parse_args(argv) -> argparse.Namespace:
    parser = get_parser()
    args = parser.parse_args(argv)
    missing = [name for name in REQUIRED if getattr(args, name) is None]
    if missing and not args.print_config:
        parser.error(
            "the following arguments are required: "
            + ", ".join("--" + m.replace("_", "-") for m in missing)
        )
    return args


def prepare_expdir(args, argv, conf, dist) -> None:
    """Rank 0 records the experiment and stores the tokenizer beside the checkpoints."""
    out = Path(args.output_dir)
    if dist.is_main:
        record_experiment(out, conf, ["aac-train", *argv])
        shutil.copyfile(args.tokenizer, out / ".tokenizer.model.tmp")
        (out / ".tokenizer.model.tmp").replace(out / "tokenizer.model")
    D.barrier(dist)


def text_table(args, conf, datasets, dist):
    """Frozen sentence embeddings of the training captions (text_embedding.weight > 0),
    cached in OUTPUT_DIR/text_embeddings.pt; None when that loss is off."""
    if conf.text_embedding.weight <= 0:
        return None
    cache = Path(args.output_dir) / "text_embeddings.pt"
    device = dist.device if str(dist.device).startswith("cuda") else "cpu"
    return caption_embeddings(datasets.train_captions, conf.text_embedding, cache, device)


def build_loop(args, conf, dist, tokenizer, datasets) -> TrainingLoop:
    """Model, sampler, the captioning task and the loop; restores last.pt or --init-from."""
    train_set, valid_set, refs, _ = datasets
    torch.manual_seed(conf.seed)  # identical initial weights on every rank and rerun
    model = CaptionModel.for_tokenizer(conf.enc_dim, conf.model, tokenizer)
    if model.text_head is not None and conf.text_embedding.weight <= 0:
        model.text_head.requires_grad_(False)  # no loss trains it (a fine-tuning run)
    sampler = GlobalBatchSampler(
        len(train_set), conf.optim.batch_size, conf.seed, dist.rank, dist.world_size
    )
    table = text_table(args, conf, datasets, dist)
    task = CaptionTask(conf, train_set, sampler, valid_set, refs, tokenizer, table)
    loop = TrainingLoop(
        conf, model, task, args.output_dir, dist, conf.valid.keep_nbest, conf.average_best
    )
    if not loop.resume() and args.init_from:
        best = Path(args.init_from) / "best.pt"
        try:
            loop.module.load_state_dict(load_checkpoint(best, trust=args.trust_checkpoint)["model"])
        except RuntimeError as e:
            first = str(e).strip().splitlines()[-1].strip()
            raise TrainInputError(f"--init-from {best}: weights do not fit: {first}") from None
        logger.info("initialised model weights from %s", best)
    return loop


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
    # (each cache opened once: attributes and clip index)
    check_inputs(args)
    caches = open_caches(args)
    conf = resolve_config(args, caches)
    tokenizer = CaptionTokenizer(args.tokenizer)
    datasets = build_datasets(args, conf, tokenizer, caches)
    # 2. the experiment directory, locked for this run (a second run on it stops); removed
    # again only if this run created it and setting up fails
    claim = claim_experiment_dir(args.output_dir) if dist.is_main else None
    if check_previous_run(args.output_dir, conf):
        print(f"{args.output_dir}: all {conf.optim.epochs} epochs done; nothing to do")
        return 0
    out = Path(args.output_dir)
    try:
        setup_logging(out / "train.log", dist.is_main)
        logger.info("train: %d captions, valid: %d clips", len(datasets[0]), len(datasets[2]))
        prepare_expdir(args, argv, conf, dist)
        loop = build_loop(args, conf, dist, tokenizer, datasets)
    except BaseException:
        if claim is not None and claim.created:
            for handler in list(logging.getLogger("aac").handlers):  # release train.log
                logging.getLogger("aac").removeHandler(handler)
                handler.close()
            claim.remove_if_created()
        raise
    # 3. train (resumable from checkpoints/last.pt), then clean up the process group
    loop.fit()
    D.shutdown(dist)
    if claim is not None:
        claim.release()
    return 0


def main(argv=None) -> int:
    return run_main("aac-train", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
