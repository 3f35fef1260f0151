"""Paper-style results tables (Markdown) from scored experiment directories.

Reads, for each `exp/NAME/`: `config.yaml` (its `encoder:` block), `env.yaml`, and every
`decode_<tag>/<set>/scores.json` (+ `rtf.json` when decoding timed itself).
Table 1: encoder, pre-training tasks, BLEU-4, ROUGE-L, METEOR, CIDEr-D, SPICE, SPIDEr,
SPIDEr-FL. Table 2: encoder, downsample, frame rate, RTF mean/median/p10, quality.
A metric that was not computed shows `n/a` with a footnote giving the reason.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

from aac.errors import AacError
from aac.config import ConfigError, load_yaml

PRETRAIN_TASKS = {
    "pann_cnn14": "AudioSet tagging",
    "pann_cnn14_16k": "AudioSet tagging",
    "dcase23_cnn14": "AudioSet tagging + audio-text contrastive",
    "beats": "masked audio-token prediction",
    "logmel": "none",
}
TABLE1 = [("bleu_4", "BLEU-4"), ("rouge_l", "ROUGE-L"), ("meteor", "METEOR"),
          ("cider_d", "CIDEr-D"), ("spice", "SPICE"), ("spider", "SPIDEr"),
          ("spider_fl", "SPIDEr-FL")]
TABLE2_QUALITY = [("meteor", "METEOR"), ("cider_d", "CIDEr-D"), ("spider", "SPIDEr")]


class ResultsError(AacError, ValueError):
    """A scored directory is unreadable; the message names the file."""


@dataclass
class Row:
    experiment: str  # NAME/decode_<tag>
    set_name: str
    encoder: dict
    scores: dict
    rtf: Optional[dict] = None
    env: dict = field(default_factory=dict)


def pretraining_tasks(encoder: dict) -> str:
    """Pre-training tasks of an encoder block; fine-tuned BEATs also did AudioSet tagging."""
    if encoder.get("random_init"):
        return "none (random init)"
    name = str(encoder.get("name", ""))
    tasks = PRETRAIN_TASKS.get(name, "unknown")
    checkpoint = os.path.basename(str(encoder.get("checkpoint") or "")).lower()
    if name == "beats" and ("finetuned" in checkpoint or "fine_tuned" in checkpoint):
        tasks += " + AudioSet tagging"
    return tasks


def _read_json(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError) as err:
        raise ResultsError(f"{path}: cannot read JSON: {err}") from None


def collect(exp_dirs: List[str], set_name: Optional[str] = None) -> List[Row]:
    """One Row per scored (experiment, decode tag, set); `set_name` keeps one set only."""
    rows = []
    for exp in map(Path, exp_dirs):
        if not exp.is_dir():
            raise ResultsError(f"{exp}: not a directory")
        try:
            config = load_yaml(exp / "config.yaml") if (exp / "config.yaml").exists() else {}
            env = load_yaml(exp / "env.yaml") if (exp / "env.yaml").exists() else {}
        except ConfigError as err:
            raise ResultsError(str(err)) from None
        encoder = config.get("encoder") or {}
        if not isinstance(encoder, dict):  # older configs held only the registry name
            encoder = {"name": encoder}
        found = sorted(exp.glob("decode_*/*/scores.json"))
        for scores_path in found:
            set_dir = scores_path.parent
            if set_name and set_dir.name != set_name:
                continue
            rtf_path = set_dir / "rtf.json"
            rows.append(Row(
                experiment=f"{exp.name}/{set_dir.parent.name}", set_name=set_dir.name,
                encoder=encoder, scores=_read_json(scores_path),
                rtf=_read_json(rtf_path) if rtf_path.exists() else None, env=env,
            ))
    return rows


class _Footnotes:
    """Numbers distinct n/a reasons so each appears once under its table."""

    def __init__(self, tag: str):
        self.tag = tag  # footnote labels must be unique in the whole document
        self.reasons: Dict[str, int] = {}
        self.metrics: Dict[str, List[str]] = {}

    def na(self, metric: str, reason: str) -> str:
        number = self.reasons.setdefault(reason, len(self.reasons) + 1)
        names = self.metrics.setdefault(reason, [])
        if metric not in names:
            names.append(metric)
        return f"n/a[^{self.tag}-{number}]"

    def lines(self) -> List[str]:
        return [f"[^{self.tag}-{n}]: {', '.join(self.metrics[r])}: {r}" for r, n in self.reasons.items()]


def _metric(row: Row, key: str, notes: _Footnotes) -> str:
    value = row.scores.get(key)
    if isinstance(value, (int, float)):
        return f"{value:.3f}"
    reason = row.scores.get("unavailable", {}).get(key, "not computed")
    return notes.na(key, reason)


def _fmt(value, spec: str = ".3g") -> str:
    return "n/a" if value is None else format(value, spec)


def _table(header: List[str], body: List[List[str]]) -> List[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(cells) + " |" for cells in body]


def render_set(rows: List[Row], set_name: str) -> List[str]:
    """Table 1 and Table 2 of one evaluation set, with their footnotes."""
    notes = _Footnotes(set_name)
    body1 = [[str(r.encoder.get("name", "?")), pretraining_tasks(r.encoder)]
             + [_metric(r, k, notes) for k, _ in TABLE1] + [r.experiment] for r in rows]
    body2 = []
    for r in rows:
        rtf = r.rtf or {}
        rtf_cells = [_fmt(rtf.get(k), ".1f") for k in ("mean", "median", "p10")]
        body2.append([str(r.encoder.get("name", "?")), _fmt(r.encoder.get("downsample"), ""),
                      _fmt(r.encoder.get("frame_rate"), ".4g"), *rtf_cells, rtf.get("mode", "n/a")]
                     + [_metric(r, k, notes) for k, _ in TABLE2_QUALITY] + [r.experiment])
    out = [f"## {set_name}", "", "Table 1: caption quality", ""]
    out += _table(["Encoder", "Pre-training tasks"] + [t for _, t in TABLE1] + ["Experiment"], body1)
    baselines = [(r.experiment, r.scores["constant_baseline"]) for r in rows
                 if isinstance(r.scores.get("constant_baseline"), dict)
                 and "cider_d" in r.scores["constant_baseline"]]
    for exp, b in baselines:
        out += ["", f"Best constant caption for {exp}: {b['caption']!r}, CIDEr-D {b['cider_d']:.3f}"]
    out += ["", "Table 2: speed (RTF = seconds of audio per second of wall time, higher is faster)", ""]
    out += _table(["Encoder", "Downsample", "Frame rate (Hz)", "RTF mean", "RTF median",
                   "RTF p10", "RTF mode"] + [t for _, t in TABLE2_QUALITY] + ["Experiment"], body2)
    return out + [""] + notes.lines() + [""]


def render_environment(rows: List[Row]) -> List[str]:
    out = ["## Environment", "", "```"]
    seen = set()
    for r in rows:
        name = r.experiment.split("/")[0]
        if name in seen:
            continue
        seen.add(name)
        versions = r.env.get("versions") or {}
        picked = ", ".join(f"{k} {versions[k]}" for k in
                           ("python", "torch", "transformers", "aac-metrics", "aac") if versions.get(k))
        out.append(f"{name}: date {r.env.get('date', '?')}, git {r.env.get('git_hash', '?')}, {picked}")
    javas = sorted({str(r.scores["java"]) for r in rows if r.scores.get("java")})
    out += [f"java (scoring): {j}" for j in javas] + ["```", ""]
    return out


def render_markdown(rows: List[Row]) -> str:
    """Whole RESULTS.md text: one table block per set, then the environment block."""
    if not rows:
        return "# Results\n\nNo scored experiments found.\n"
    out = ["# Results", ""]
    for set_name in sorted({r.set_name for r in rows}):
        out += render_set([r for r in rows if r.set_name == set_name], set_name)
    return "\n".join(out + render_environment(rows))


# ---- public helpers for other table makers (aac.paper's paper-vs-ours tables) ----------
Footnotes = _Footnotes


def metric_cell(row: Row, key: str, notes: _Footnotes) -> str:
    """`0.123`, or `n/a[^k]` with the reason (from scores.json `unavailable`) as footnote k."""
    return _metric(row, key, notes)
