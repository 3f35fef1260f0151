"""The lever ablation on the mini corpus: each lever alone, then all, over several seeds.

Usage: tools/venv/bin/python benchmarks/ablation.py [--seeds 0 1 2] [--rows plain mixup ...]
           [--output exp/ablation/RESULTS.md] [--override KEY=VALUE ...] [--table-only]
           [--dry-run] [-- run.sh options]

Runs, in egs2/mini_clotho/aac1, `./run.sh` stages 1-7 once per (row, seed) with the paper
driver's short fine-tuning (conf/paper_finetune.yaml, no pre-training, log-mel features,
the whole mini corpus), experiment `exp/finetune_ablation_<row>_seed<S>/`, then writes a
markdown table of CIDEr-D on clotho_evaluation, mean ± sample standard deviation over the
seeds, each seed's value, and the constant-caption baseline (aac-score
--constant-baseline) beside it. Finished runs are skipped by aac.sh's .done markers, so an
interrupted ablation resumes. --table-only rewrites the table from the runs there are.
--override adds aac-train overrides to every run (a quick check: optim.epochs=1); the
table then measures that setting, not the ablation's.

Rows (training levers as aac-train --override keys, docs/training_levers.md):
  plain         the paper's setting: NLL, beam 4
  rerank        50 nucleus samples (T 0.5, p 0.95) re-ranked by log-probability alone: a
                plain model has no text-embedding head, so no similarity to add
  text_embedding, mixup, masking, conformer, averaging: that lever alone, beam 4
  all           every training lever + the DCASE 2023 decoding (conf/decode_rerank.yaml:
                50 samples, 0.3 x log-probability + 0.7 x head similarity)
On 2 shared CPU cores a run takes minutes to tens of minutes: the whole table takes hours.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional

ROOT = Path(__file__).resolve().parent.parent
RECIPE = ROOT / "egs2" / "mini_clotho" / "aac1"
TEST_SET = "clotho_evaluation"
MIXUP = "${CLOTHO:-downloads/mini}/mixup/clotho_development.txt"
LEVERS = {
    "text_embedding": ["text_embedding.weight=1.0"],
    "mixup": [f"mixup.captions={MIXUP}"],
    "masking": [
        "spec_augment.time_masks=2",
        "spec_augment.time_width=8",
        "spec_augment.channel_masks=2",
        "spec_augment.channel_width=8",
    ],
    "conformer": ["model.conformer_layers=1", "model.conformer_ffn_dim=256"],
    "averaging": ["average_best=2"],  # conf/paper_finetune.yaml keeps the 2 best epochs
}
LOGPROB_RERANK = """candidates: {mode: sampling, num: 50, temperature: 0.5, top_p: 0.95, seed: 0}
rerank: {logprob_weight: 1.0, similarity_weight: 0.0}
"""
ROWS = ["plain", "rerank", *LEVERS, "all"]
LABELS = {"plain": "plain", "all": "all"} | {r: f"+ {r.replace('_', '-')}" for r in ROWS[1:-1]}


def row_settings(row: str) -> tuple:
    """(aac-train overrides, decode config: None, 'logprob' or a recipe path) of a row."""
    if row == "plain":
        return [], None
    if row == "rerank":
        return [], "logprob"
    if row == "all":
        return [o for opts in LEVERS.values() for o in opts], "conf/decode_rerank.yaml"
    return list(LEVERS[row]), None


def tag(row: str, seed: int) -> str:
    return f"ablation_{row}_seed{seed}"


def run_command(row: str, seed: int, logprob_conf: Path, extra: List[str], more=()) -> str:
    """The ./run.sh command line of one (row, seed), for bash (MIXUP expands there)."""
    overrides, decode = row_settings(row)
    train_args = " ".join(["--override", f"seed={seed}", *overrides, *more])
    argv = ["./run.sh", "--skip_pretrain", "true", "--finetune_config", "conf/paper_finetune.yaml"]
    argv += ["--tag", tag(row, seed), "--stop_stage", "7", "--score_metrics", "cider_d"]
    argv += ["--rtf_clips", "0"]
    if decode:
        argv += ["--decode_config", str(logprob_conf) if decode == "logprob" else decode]
    quoted = " ".join(shlex.quote(a) for a in argv + extra)
    return f'{quoted} --train_args "{train_args}"'


def read_scores(exp_root: Path, row: str, seed: int) -> Optional[dict]:
    """scores.json of one run's decoding of TEST_SET, or None while it has none."""
    found = sorted(
        (exp_root / f"finetune_{tag(row, seed)}").glob(f"decode_*/{TEST_SET}/scores.json")
    )
    return json.loads(found[-1].read_text()) if found else None


def mean_std(values: List[float]) -> tuple:
    """Mean and sample standard deviation (n - 1; 0 for one value)."""
    mean = sum(values) / len(values)
    var = sum((v - mean) ** 2 for v in values) / (len(values) - 1) if len(values) > 1 else 0.0
    return mean, math.sqrt(var)


def table(exp_root: Path, rows: List[str], seeds: List[int]) -> str:
    """The markdown ablation table of the runs under exp_root ('n/a' where none finished)."""
    lines = [
        f"CIDEr-D on {TEST_SET} of the mini corpus, mean ± sample std over seeds "
        f"{', '.join(map(str, seeds))} (benchmarks/ablation.py).",
        "",
        "| row | seeds done | CIDEr-D mean ± std | per seed | constant-caption baseline |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        found: Dict[int, dict] = {}
        for s in seeds:
            scores = read_scores(exp_root, row, s)
            if scores is not None and isinstance(scores.get("cider_d"), (int, float)):
                found[s] = scores
        if not found:
            lines.append(f"| {LABELS[row]} | 0 of {len(seeds)} | n/a | - | n/a |")
            continue
        mean, std = mean_std([found[s]["cider_d"] for s in found])
        per_seed = ", ".join(f"{s}: {found[s]['cider_d']:.3f}" for s in found)
        base = [f["constant_baseline"]["cider_d"] for f in found.values()
                if "cider_d" in (f.get("constant_baseline") or {})]  # fmt: skip
        base_cell = f"{sum(base) / len(base):.3f}" if base else "n/a"
        lines.append(
            f"| {LABELS[row]} | {len(found)} of {len(seeds)} | {mean:.3f} ± {std:.3f} "
            f"| {per_seed} | {base_cell} |"
        )
    return "\n".join(lines) + "\n"


def write_table(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--rows", nargs="+", choices=ROWS, default=ROWS)
    p.add_argument("--recipe", type=Path, default=RECIPE, help="the mini recipe directory")
    p.add_argument("--output", type=Path, help="table (default RECIPE/exp/ablation/RESULTS.md)")
    p.add_argument("--override", nargs="+", default=[], metavar="KEY=VALUE",
                   help="aac-train overrides added to every run")  # fmt: skip
    p.add_argument("--table-only", action="store_true", help="write the table, run nothing")
    p.add_argument("--dry-run", action="store_true", help="print the run.sh commands only")
    return p


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    args = get_parser().parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    output = args.output or args.recipe / "exp" / "ablation" / "RESULTS.md"
    logprob_conf = args.recipe / "exp" / "ablation" / "decode_rerank_logprob.yaml"
    if not args.table_only:
        if not args.dry_run:
            write_table(logprob_conf, LOGPROB_RERANK)
        for row in args.rows:
            for seed in args.seeds:
                command = run_command(row, seed, logprob_conf.resolve(), extra, args.override)
                print(f"[ablation] {row} seed {seed}: {command}", flush=True)
                if not args.dry_run:
                    subprocess.run(["bash", "-c", command], cwd=args.recipe, check=True)
    if args.dry_run:
        return 0
    text = table(args.recipe / "exp", args.rows, args.seeds)
    write_table(output, text)
    print(text + f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
