"""Multi-label tagging mAP of an MLAC experiment on a tagging data set.

Usage: aac-eval-tagging exp/mlac_cnn_small --data-dir data/audiocaps_test_tags [--device cpu]

Reads EXP_DIR (selected run: config.yaml with the class list, best.pt) and DIR/wav.scp +
DIR/labels. mAP = macro average precision over the classes with a positive clip. Writes
EXP_DIR/eval/<set>/scores.json and EXP_DIR/RESULTS.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from aac.cli import add_device, run_main
from aac.pretrain.data import WaveCrops, multi_hot, read_labels
from aac.pretrain.evaluate import tagging_eval, tagging_table
from aac.pretrain.expdir import load_task_run
from aac.pretrain.results import write_eval
from aac.pretrain.tasks import paired_clips


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="aac-eval-tagging",
        description="Reads EXP_DIR/{config.yaml,best.pt}, DIR/wav.scp and DIR/labels; writes "
        "EXP_DIR/eval/<set>/scores.json and EXP_DIR/RESULTS.md.",
    )
    p.add_argument("exp_dir", help="aac-pretrain-encoder --task mlac --output-dir")
    p.add_argument("--data-dir", required=True, help="data dir with wav.scp and labels")
    add_device(p)
    p.add_argument("--batch-size", type=int, default=32)
    return p


def _main(argv) -> int:
    args = get_parser().parse_args(argv)
    run, conf, model = load_task_run(args.exp_dir, "mlac", "aac-eval-retrieval")
    labels = read_labels(args.data_dir)
    clips = paired_clips(args.data_dir, labels, "labels")
    index = {name: k for k, name in enumerate(conf.classes)}
    targets = multi_hot(
        [[index[x] for x in labels[c] if x in index] for c, _ in clips], len(conf.classes)
    )
    crops = WaveCrops(clips, model.encoder.sample_rate, conf.crop_seconds, train=False)
    metrics, _ = tagging_eval(model.to(args.device), crops, targets, args.device, args.batch_size)
    write_eval(args.exp_dir, args.data_dir, run, "mlac", metrics, num_clips=len(clips))
    print(tagging_table(metrics, f"MLAC on {Path(args.data_dir).name}", len(clips)))
    return 0


def main(argv=None) -> int:
    return run_main("aac-eval-tagging", _main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
