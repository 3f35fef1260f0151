"""RESULTS.md of a pre-training experiment: the tau grid and every evaluation run on it.

Evaluations are stored as EXP_DIR/eval/<set>/scores.json ({"task", "metrics", ...});
the table is rebuilt from all of them each time, so reruns never duplicate rows.
"""

from __future__ import annotations

import json
from pathlib import Path

from aac.atomic import write_text_atomic
from aac.pretrain.evaluate import retrieval_table, tagging_table


def results_markdown(exp_dir) -> str:
    exp_dir = Path(exp_dir)
    parts = [f"# Encoder pre-training results: {exp_dir.name}", ""]
    selected = exp_dir / "selected.json"
    if selected.is_file():
        info = json.loads(selected.read_text(encoding="utf-8"))
        parts += [
            "## Model selection (validation)",
            "",
            "| run | tau | valid score |",
            "|---|---|---|",
        ]
        for r in info["runs"]:
            mark = " (selected)" if r["run"] == info["run"] else ""
            parts.append(f"| {Path(r['run']).name}{mark} | {r['tau']} | {r['valid_score']:.4f} |")
        parts.append("")
    for path in sorted(exp_dir.glob("eval/*/scores.json")):
        s = json.loads(path.read_text(encoding="utf-8"))
        title = f"{s['task'].upper()} on {path.parent.name}"
        if s["task"] == "atcl":
            parts.append(retrieval_table(s["metrics"], title))
        else:
            parts.append(tagging_table(s["metrics"], title, s["num_clips"]))
    return "\n".join(parts).rstrip() + "\n"


def write_results(exp_dir) -> Path:
    path = Path(exp_dir) / "RESULTS.md"
    write_text_atomic(path, results_markdown(exp_dir))
    return path


def write_eval(exp_dir, data_dir, run: Path, task: str, metrics: dict, **facts) -> Path:
    """EXP_DIR/eval/<set>/scores.json of one evaluation, then EXP_DIR/RESULTS.md again."""
    from aac.atomic import write_json_atomic

    path = Path(exp_dir) / "eval" / Path(data_dir).name / "scores.json"
    record = {"task": task, "data_dir": str(Path(data_dir).resolve()), "run": str(run.resolve())}
    write_json_atomic(path, {**record, **facts, "metrics": metrics})
    write_results(exp_dir)
    return path
