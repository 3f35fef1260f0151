"""Identities of what made a result, for the recipe's stage script.

Usage: aac-provenance feats-tag --encoder beats --encoder-checkpoint BEATs_iter3_plus_AS2M.pt [--storage-dtype float32]
       aac-provenance check-feats dump/feats/beats_1a2b3c4d/clotho_evaluation/feats.h5 --encoder beats --encoder-checkpoint BEATs_iter3_plus_AS2M.pt
       aac-provenance record --checkpoint exp/finetune_beats_ds1 best --data data/clotho_evaluation --option beam=4
       aac-provenance check exp/finetune_beats_ds1/decode_beam4_best_ds1/clotho_evaluation/.done --checkpoint ...

feats-tag prints `<encoder>[_random]_<hash8>`, the cache directory name of features made
with these options (aac.feature_info.feats_tag; reads the checkpoint to hash it).
check-feats reads FILE.h5's attributes: exit 0 when they are what the options ask for,
else exit 1 and one line naming the first attribute that differs and both values.
record prints a stage's inputs with their identities (aac.provenance; reads every file
named), check compares them with MARKER: exit 0 when unchanged, else exit 1 and one line
saying what changed. Exit 2 with one line for a user error. Also `python -m
aac.bin.provenance`.
"""

from __future__ import annotations

import argparse
import sys

from aac.cli import add_storage_dtype, run_main
from aac.config import ConfigError
from aac.feature_info import (
    describe_mismatch,
    feats_tag,
    feature_attrs,
    mismatches,
    parse_encoder_conf,
    requested_encoder_info,
)
from aac.features.cache import DEFAULT_CHUNK_SECONDS, FeatureCacheError
from aac.provenance import changes, format_record, read_record, stage_record

EXIT_DIFFERS = 1  # not an error: the stage script redoes the stage


def add_feats_options(p: argparse.ArgumentParser) -> None:
    """The aac-extract-feats options that change the features (same names and defaults)."""
    p.add_argument("--encoder", required=True)
    p.add_argument("--encoder-checkpoint", help="encoder weights file (hashed)")
    p.add_argument("--random-init", action="store_true")
    p.add_argument("--extract-stride", type=int, default=1)
    p.add_argument("--chunk-seconds", type=float, default=DEFAULT_CHUNK_SECONDS)
    add_storage_dtype(p, "stored dtype (as aac-extract-feats)")
    p.add_argument("--encoder-conf", nargs="*", default=[], metavar="YAML_OR_KEY=VAL")


def add_record_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--file", action="append", default=[], help="an input file (hashed)")
    p.add_argument("--data", action="append", default=[], help="a Kaldi data dir (hashed)")
    p.add_argument(
        "--checkpoint",
        nargs=2,
        action="append",
        default=[],
        metavar=("EXP_DIR", "NAME"),
        help="a model checkpoint: best, last, epochN or a path (hashed)",
    )
    p.add_argument("--option", action="append", default=[], metavar="NAME=VALUE")


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="aac-provenance",
        description="Prints or checks the identity of a stage's inputs: the feature cache "
        "tag of extraction options, a cache's attributes against them, a stage marker's "
        "record. Reads the files named; writes nothing.",
    )
    sub = p.add_subparsers(dest="command", required=True)
    add_feats_options(sub.add_parser("feats-tag", help="cache directory name of features"))
    check_feats = sub.add_parser("check-feats", help="does FILE.h5 hold these features?")
    check_feats.add_argument("feats", metavar="FILE.h5")
    add_feats_options(check_feats)
    add_record_options(sub.add_parser("record", help="print the inputs' record"))
    check = sub.add_parser("check", help="did the inputs change since MARKER?")
    check.add_argument("marker", metavar="MARKER")
    add_record_options(check)
    return p


def requested(args) -> dict:
    return requested_encoder_info(
        args.encoder,
        args.encoder_checkpoint,
        args.random_init,
        parse_encoder_conf(args.encoder_conf),
        args.extract_stride,
        args.chunk_seconds,
        args.storage_dtype,
    )


def record_of(args) -> dict:
    options = {}
    for item in args.option:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ConfigError(f"--option {item!r}: expected NAME=VALUE")
        options[name] = value
    return stage_record(args.file, args.data, args.checkpoint, options)


def check_feats(args) -> int:
    try:
        attrs = feature_attrs(args.feats)
    except (FeatureCacheError, FileNotFoundError) as e:
        print(e)
        return EXIT_DIFFERS
    found = mismatches(requested(args), attrs)
    if found:
        print(describe_mismatch(found, args.feats, "this run"))
        return EXIT_DIFFERS
    return 0


def _main(argv) -> int:
    args = get_parser().parse_args(argv)
    if args.command == "feats-tag":
        print(feats_tag(requested(args)))
    elif args.command == "check-feats":
        return check_feats(args)
    elif args.command == "record":
        print(format_record(record_of(args)), end="")
    else:
        why = changes(read_record(args.marker), record_of(args))
        if why:
            print(f"inputs changed since {args.marker}: {'; '.join(why)}")
            return EXIT_DIFFERS
    return 0


def main(argv=None) -> int:
    return run_main("aac-provenance", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
