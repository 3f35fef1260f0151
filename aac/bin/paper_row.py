"""Turn a paper row preset into recipe options (so run.sh stays a router), or list the plan.

Usage: aac-paper-row conf/paper/pann_mlac.yaml --as-options

Reads conf/paper/<row>.yaml (one row, or every row of --conf-dir). Writes to stdout only:
  ROW.yaml --as-options               the aac.sh options of that row
  --conf-dir D --as-options -- ARGS   ARGS with `--paper_row NAME` replaced by that row's
                                      options (shell-quoted, for `eval set --`); no
                                      --paper_row and no --default-row: ARGS unchanged
  --conf-dir D --plan                 `row:downsample` experiments, Table 1 then Table 2
  --conf-dir D --as-options -- ARGS --system NAME
                                      the same for a whole-system preset
                                      (--system-dir, default D/../system: NAME.yaml,
                                      aac.systems): also --finetune_config, --decode_config,
                                      --skip_pretrain or --pretrain_config, --tag NAME
Options of a row: --encoder, --encoder_download (its official checkpoint, fetched by
aac.sh stage 0 unless --encoder_checkpoint is given), --encoder_random_init, --dumpdir
dump/<row> (one feature cache per row, or per `feature_cache:` name, shared by its
downsampling sweep), --downsample,
--tag <row>_ds<k> (k: the last --downsample in ARGS, else the row's).
Also `python -m aac.bin.paper_row`.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import List

from aac.cli import run_main
from aac.config import ConfigError
from aac.paper import PaperRow, experiment_tag, find_row, load_row, load_rows, plan
from aac.systems import find_system, system_options


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="aac-paper-row",
        description="Reads conf/paper/<row>.yaml presets. Writes recipe options or the "
        "experiment plan to stdout. Arguments after `--` are the recipe's own.",
    )
    p.add_argument("row", nargs="?", type=Path, help="one row preset ROW.yaml")
    p.add_argument("--conf-dir", type=Path, help="directory of row presets (conf/paper)")
    p.add_argument("--as-options", action="store_true", help="print the row's aac.sh options")
    p.add_argument("--default-row", help="row used when ARGS hold no --paper_row")
    p.add_argument("--plan", action="store_true", help="print row:downsample experiments")
    p.add_argument(
        "--system-dir",
        type=Path,
        help="directory of whole-system presets (conf/system/NAME.yaml, for `--system NAME` "
        "in ARGS; default: the --conf-dir's sibling `system`)",
    )
    return p


def _last(args: List[str], option: str):
    values = [args[i + 1] for i, a in enumerate(args[:-1]) if a == option]
    return values[-1] if values else None


def row_options(row: PaperRow, user_args: List[str]) -> List[str]:
    downsample = _last(user_args, "--downsample") or str(row.downsample)
    opts = ["--encoder", row.encoder]
    if row.official:
        opts += ["--encoder_download", row.official]
    if row.random_init:
        opts += ["--encoder_random_init", "true"]
    opts += [
        "--dumpdir",
        f"dump/{row.feature_cache or row.name}",
        "--downsample",
        str(row.downsample),
    ]
    if _last(user_args, "--tag") is None:
        opts += ["--tag", experiment_tag(row.name, int(downsample))]
    return opts


def _take(args: List[str], option: str):
    """(the last value of `option`, ARGS without it)."""
    value, rest, i = None, [], 0
    while i < len(args):
        if args[i] == option:
            if i + 1 >= len(args):
                raise ConfigError(f"{option} needs a name")
            value, i = args[i + 1], i + 2
        else:
            rest.append(args[i])
            i += 1
    return value, rest


def route(conf_dir: Path, default_row, args: List[str], system_dir=None) -> List[str]:
    """ARGS with `--paper_row NAME` (or the default row) or `--system NAME` expanded before
    the user's options."""
    name, rest = _take(args, "--paper_row")
    system, rest = _take(rest, "--system")
    if system is not None:
        if name is not None:
            raise ConfigError("give --paper_row or --system, not both")
        preset = find_system(system_dir or Path(conf_dir).parent / "system", system)
        return system_options(preset, rest) + rest
    name = name or default_row
    if name is None:
        return rest
    return row_options(find_row(load_rows(conf_dir), name), rest) + rest


def _main(argv) -> int:
    # Steps: 1 split off the recipe's ARGS; 2 parse; 3 print plan, row options or routed ARGS.
    argv = list(argv)
    user_args = argv[argv.index("--") + 1 :] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    args = get_parser().parse_args(argv)
    if args.plan:
        if not args.conf_dir:
            raise ConfigError("--plan needs --conf-dir")
        print(" ".join(f"{name}:{ds}" for name, ds in plan(load_rows(args.conf_dir))))
    elif args.as_options and args.row:
        print(shlex.join(row_options(load_row(args.row), user_args) + user_args))
    elif args.as_options and args.conf_dir:
        print(shlex.join(route(args.conf_dir, args.default_row, user_args, args.system_dir)))
    else:
        raise ConfigError(
            "give ROW.yaml --as-options, --conf-dir DIR --as-options, or --conf-dir DIR --plan"
        )
    return 0


def main(argv=None) -> int:
    return run_main("aac-paper-row", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
