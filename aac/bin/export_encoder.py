"""Export the encoder of a pre-training experiment as a checkpoint aac-extract-feats loads.

Usage: aac-export-encoder exp/atcl_cnn_small exp/atcl_cnn_small/cnn_small_atcl.pt

Reads EXP_DIR/selected.json (the best run of a tau grid) or EXP_DIR itself: its
config.yaml and best.pt. Writes OUTPUT (the registered encoder's state dict, plain tensors,
loadable weights-only and strictly by `aac-extract-feats --encoder NAME --encoder-checkpoint
OUTPUT`) and OUTPUT.json (encoder name and options, source run, validation figures).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from aac.atomic import write_json_atomic
from aac.checkpoint_io import file_sha256, load_checkpoint, save_atomic
from aac.cli import run_main
from aac.pretrain.expdir import check_loadable, encoder_state, load_run, selected_run


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="aac-export-encoder",
        description="Reads EXP_DIR/{selected.json,config.yaml,best.pt}; writes OUTPUT (encoder "
        "state dict) and OUTPUT.json (how to use it).",
    )
    p.add_argument("exp_dir", help="aac-pretrain-encoder --output-dir")
    p.add_argument("output", help="encoder checkpoint file to write (.pt)")
    return p


def _main(argv) -> int:
    args = get_parser().parse_args(argv)
    run = selected_run(args.exp_dir)
    conf, model = load_run(run)
    out = Path(args.output)
    save_atomic(encoder_state(model), out)
    check_loadable(conf.encoder.name, out, conf.encoder.conf)  # exactly what extraction does
    best = load_checkpoint(run / "best.pt")
    info = {
        "encoder": conf.encoder.name,
        "encoder_conf": conf.encoder.conf,
        "checkpoint_sha256": file_sha256(out),
        "task": conf.task,
        "run": str(run.resolve()),
        "epoch": best.get("epoch"),
        "valid_metrics": best.get("metrics"),
        "usage": f"aac-extract-feats --encoder {conf.encoder.name} --encoder-checkpoint {out}"
        + (
            " --encoder-conf " + " ".join(f"{k}={v}" for k, v in conf.encoder.conf.items())
            if conf.encoder.conf
            else ""
        ),
    }
    write_json_atomic(out.with_name(out.name + ".json"), info)
    print(f"{out}: {conf.encoder.name} encoder from {run} (epoch {info['epoch']}); {info['usage']}")
    return 0


def main(argv=None) -> int:
    return run_main("aac-export-encoder", _main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
