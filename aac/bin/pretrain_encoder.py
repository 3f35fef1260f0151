"""Pre-train an audio encoder: audio-text contrastive learning (ATCL) or tagging (MLAC).

Usage: aac-pretrain-encoder --task atcl --config conf/atcl.yaml --train-data data/clotho_development --valid-data data/clotho_validation --output-dir exp/atcl_cnn_small [--text-encoder MODEL_DIR] [--text-cache dump/text_emb/minilm.pt] [--ngpu N | --nproc N] [--override optim.lr=1e-3 ...]

ATCL reads DIR/wav.scp + DIR/text (or text_spk1..5); MLAC reads DIR/wav.scp + DIR/labels
(+ DIR/classes). With `atcl.tau_grid: [a, b, ...]` one run per temperature goes to
OUTPUT_DIR/tau<value>/ and the best by validation t2a mAP@10 is named in
OUTPUT_DIR/selected.json; otherwise OUTPUT_DIR is the run and selected.json names it.
Each run holds config.yaml, cmd.txt, env.yaml, train.log, metrics.jsonl, images/,
checkpoints/last.pt (resumed after a kill), best.pt. `aac-export-encoder OUTPUT_DIR`
then writes the encoder checkpoint.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from pathlib import Path

import torch

from aac.atomic import write_json_atomic
from aac.checkpoint_io import load_checkpoint
from aac.cli import add_encoder_checkpoint, add_launch_options, add_trust_checkpoint, run_main
from aac.config import load_config
from aac.encoders import build_encoder, set_trainable
from aac.expdir import record_experiment
from aac.pretrain.conf import TASKS, PretrainConf, check_conf
from aac.pretrain.model import PretrainModel
from aac.pretrain.tasks import atcl_task, mlac_task
from aac.train import distributed as D
from aac.train.logs import setup_logging
from aac.train.loop import TrainingLoop, check_previous_run

logger = logging.getLogger("aac.pretrain")


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="aac-pretrain-encoder",
        description="Train an audio encoder (aac.encoders registry) with ATCL or MLAC. Reads "
        "data dirs (wav.scp + text/text_spk1..5 or labels [+ classes]) and a YAML config "
        "(aac.pretrain.conf.PretrainConf); writes OUTPUT_DIR/{config.yaml,cmd.txt,env.yaml,"
        "train.log,metrics.jsonl,images/,checkpoints/,best.pt,selected.json}.",
    )
    p.add_argument("--task", choices=TASKS, help="overrides the config's task")
    p.add_argument("--config", help="YAML config (keys of aac.pretrain.conf.PretrainConf)")
    p.add_argument("--train-data", required=True, help="training data dir")
    p.add_argument("--valid-data", required=True, help="validation data dir (model selection)")
    p.add_argument("--output-dir", required=True, help="experiment dir exp/NAME")
    add_encoder_checkpoint(
        p, "initial encoder weights (sets encoder.checkpoint; none: random init)"
    )
    add_trust_checkpoint(p)
    p.add_argument(
        "--text-encoder",
        help="HF sentence-embedding model dir (ATCL; default: the bundled all-MiniLM-L6-v2)",
    )
    p.add_argument(
        "--text-cache",
        help="file caching the frozen caption embeddings (default OUTPUT_DIR/text_embeddings.pt)",
    )
    add_launch_options(p)
    p.add_argument("--override", nargs="*", default=[], help="key.sub=value config overrides")
    return p


def resolve_config(args) -> PretrainConf:
    overrides = list(args.override)
    if args.task:
        overrides.append(f"task={args.task}")
    if args.encoder_checkpoint:
        overrides.append(f"encoder.checkpoint={Path(args.encoder_checkpoint).resolve()}")
    if args.trust_checkpoint:
        overrides.append("encoder.trust_checkpoint=true")
    if args.text_encoder:
        overrides.append(f"atcl.text_encoder={Path(args.text_encoder).resolve()}")
    conf = load_config(PretrainConf, args.config, overrides)
    source = (args.config or "defaults") + (" + command-line overrides" if overrides else "")
    check_conf(conf, source)
    return conf


def build_task(args, conf, rate, dist):
    if conf.task == "mlac":
        return mlac_task(conf, args.train_data, args.valid_data, rate, dist)
    cache = Path(args.text_cache or Path(args.output_dir) / "text_embeddings.pt")
    device = dist.device
    if not dist.is_main:  # rank 0 embeds and writes the cache first; the others read it
        D.barrier(dist)
    task = atcl_task(conf, args.train_data, args.valid_data, rate, dist, cache, device)
    if dist.is_main:
        D.barrier(dist)
    return task


def run_one(args, argv, conf: PretrainConf, run_dir: Path, dist) -> None:
    setup_logging(run_dir / "train.log", dist.is_main)
    torch.manual_seed(conf.seed)  # identical initial weights on every rank and rerun
    e = conf.encoder
    encoder = set_trainable(
        build_encoder(e.name, e.checkpoint, e.checkpoint is None, e.trust_checkpoint, e.conf)
    )
    task = build_task(args, conf, encoder.sample_rate, dist)
    if check_previous_run(run_dir, conf):
        logger.info("%s: all %d epochs done; nothing to do", run_dir, conf.optim.epochs)
        return
    if dist.is_main:
        record_experiment(run_dir, conf, ["aac-pretrain-encoder", *argv])
    text_dim = task.text_table.shape[1] if conf.task == "atcl" else 0
    model = PretrainModel(encoder, conf, conf.num_classes, text_dim)
    loop = TrainingLoop(conf, model, task, run_dir, dist, conf.keep_nbest)
    loop.resume()
    loop.fit()


def select_best(out: Path, runs) -> dict:
    """Pick the run whose best.pt has the highest validation score; write selected.json."""
    scored = [(float(load_checkpoint(d / "best.pt")["score"]), tau, d) for tau, d in runs]
    score, tau, best = max(scored, key=lambda x: x[0])
    info = {
        "run": str(best.resolve()),
        "tau": tau,
        "valid_score": score,
        "runs": [{"run": str(d.resolve()), "tau": t, "valid_score": s} for s, t, d in scored],
    }
    write_json_atomic(out / "selected.json", info)
    logger.info("selected %s (tau %s, valid %.4f)", best, tau, score)
    return info


def _main(argv) -> int:
    args = get_parser().parse_args(argv)
    launch = D.launch_command(
        argv, max(args.ngpu, args.nproc), args.num_nodes, module="aac.bin.pretrain_encoder"
    )
    if launch:
        return D.relaunch(launch)
    dist = D.init_distributed(args.ngpu)
    conf, out = resolve_config(args), Path(args.output_dir)
    grid = conf.atcl.tau_grid if conf.task == "atcl" else []
    runs = []
    for tau in grid or [conf.atcl.tau]:
        run_conf = dataclasses.replace(conf, atcl=dataclasses.replace(conf.atcl, tau=tau))
        run_dir = out / f"tau{tau:g}" if grid else out
        run_one(args, argv, run_conf, run_dir, dist)
        runs.append((tau if conf.task == "atcl" else None, run_dir))
        D.barrier(dist)
    if dist.is_main:
        select_best(out, runs)
    D.shutdown(dist)
    return 0


def main(argv=None) -> int:
    return run_main("aac-pretrain-encoder", _main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
