"""Paper-style results tables (Markdown) from scored experiment directories.

Reads, for each `exp/NAME/`: `config.yaml` (its `encoder:` block and `downsample`),
`env.yaml`, and every `decode_<tag>/<set>/scores.json` (+ `rtf.json` when decoding timed
itself). Table 1: encoder, pre-training tasks, BLEU-4, ROUGE-L, METEOR, CIDEr-D, SPICE,
SPIDEr, SPIDEr-FL. Table 2: encoder, downsample (the frame stride the model was trained
with: config.yaml `downsample` times the cache's extraction stride), the frame rate the
decoder attends to, the paper's RTF (audio in, one clip at a time, beam 4) mean / median /
p10, the batched throughput stage 6 decoded with, quality.
A figure that was not computed shows `n/a` with a footnote giving the reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from aac.config import ConfigError, load_yaml
from aac.encoders import pretraining_of
from aac.errors import AacError
from aac.feature_info import extract_stride

TABLE1 = [
    ("bleu_4", "BLEU-4"),
    ("rouge_l", "ROUGE-L"),
    ("meteor", "METEOR"),
    ("cider_d", "CIDEr-D"),
    ("spice", "SPICE"),
    ("spider", "SPIDEr"),
    ("spider_fl", "SPIDEr-FL"),
]
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
    config: dict = field(default_factory=dict)

    @property
    def downsample(self) -> int:
        """Total frame stride behind the decoder's input (see `decoder_frames`)."""
        return decoder_frames(self.encoder, self.config.get("downsample"))[0]

    @property
    def frame_rate(self) -> Optional[float]:
        """Frames per second the decoder attends to (see `decoder_frames`)."""
        return decoder_frames(self.encoder, self.config.get("downsample"))[1]


def decoder_frames(encoder: dict, downsample: Optional[int]) -> Tuple[int, Optional[float]]:
    """(total frame stride, frame rate in Hz) of what the decoder attends to: the rule of
    every results table. The cache already dropped frames at extraction (`extract_stride`;
    its `frame_rate` is recorded after that), then training strides by config.yaml
    `downsample`: total stride = downsample x extract_stride, rate = frame_rate / downsample.
    """
    train_stride = int(downsample or 1)
    rate = encoder.get("frame_rate")
    return (
        train_stride * extract_stride(encoder),
        None if rate is None else float(rate) / train_stride,
    )


def pretraining_tasks(encoder: dict) -> str:
    """Pre-training tasks of an encoder block, as its encoder class states them."""
    if encoder.get("random_init"):
        return "none (random init)"
    return pretraining_of(str(encoder.get("name", "")), str(encoder.get("checkpoint") or ""))


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
        if not isinstance(encoder, dict):
            raise ResultsError(f"{exp / 'config.yaml'}: encoder must be a mapping (aac-train's)")
        found = sorted(exp.glob("decode_*/*/scores.json"))
        for scores_path in found:
            set_dir = scores_path.parent
            if set_name and set_dir.name != set_name:
                continue
            rtf_path = set_dir / "rtf.json"
            rtf = _read_json(rtf_path) if rtf_path.exists() else None
            if rtf is not None and not isinstance(rtf.get("batched"), dict):
                raise ResultsError(f"{rtf_path}: no 'batched' block (written by aac-decode?)")
            rows.append(
                Row(
                    experiment=f"{exp.name}/{set_dir.parent.name}",
                    set_name=set_dir.name,
                    encoder=encoder,
                    scores=_read_json(scores_path),
                    rtf=rtf,
                    env=env,
                    config=config,
                )
            )
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
        return [
            f"[^{self.tag}-{n}]: {', '.join(self.metrics[r])}: {r}" for r, n in self.reasons.items()
        ]


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


RTF_LEGEND = [
    "Paper RTF: the paper's Table 2 setting, audio in, one clip at a time, beam 4, encoder + "
    "decoder, warm-up excluded; mean / median / 10th percentile of per-clip RTF over the "
    "sample stage 6 names in rtf.json (`aac-decode --rtf-clips`).",
    "Batched RTF: the throughput stage 6 decoded with (all audio seconds / all wall seconds of "
    "its length-sorted batches, first batch excluded); mode features = caption model only, "
    "audio = encoder + caption model.",
]


def _speed_cells(row: Row, notes: _Footnotes) -> List[str]:
    """Paper RTF mean/median/p10 and the batched throughput (with its mode) of one row."""
    rtf = row.rtf or {}
    if not rtf:
        return [notes.na("rtf", "no rtf.json: decoding was not timed")] * 4
    paper, batched = rtf.get("paper") or {}, rtf["batched"]
    if paper.get("mean") is None:
        reason = paper.get("unavailable") or "paper RTF not measured (--rtf-clips 0)"
        cells = [notes.na("paper rtf", reason)] * 3
    else:
        cells = [_fmt(paper.get(k), ".1f") for k in ("mean", "median", "p10")]
    through = batched.get("throughput")
    cells.append("n/a" if through is None else f"{through:.1f} ({batched.get('mode', '?')})")
    return cells


def render_set(rows: List[Row], set_name: str) -> List[str]:
    """Table 1 and Table 2 of one evaluation set, with their footnotes."""
    notes = _Footnotes(set_name)
    body1 = [
        [str(r.encoder.get("name", "?")), pretraining_tasks(r.encoder)]
        + [_metric(r, k, notes) for k, _ in TABLE1]
        + [r.experiment]
        for r in rows
    ]
    body2 = [
        [
            str(r.encoder.get("name", "?")),
            str(r.downsample),
            _fmt(r.frame_rate, ".4g"),
            *_speed_cells(r, notes),
        ]
        + [_metric(r, k, notes) for k, _ in TABLE2_QUALITY]
        + [r.experiment]
        for r in rows
    ]
    out = [f"## {set_name}", "", "Table 1: caption quality", ""]
    out += _table(
        ["Encoder", "Pre-training tasks"] + [t for _, t in TABLE1] + ["Experiment"], body1
    )
    baselines = [
        (r.experiment, r.scores["constant_baseline"])
        for r in rows
        if isinstance(r.scores.get("constant_baseline"), dict)
        and "cider_d" in r.scores["constant_baseline"]
    ]
    for exp, b in baselines:
        searched = f" (best of {b['num_candidates']} candidates)" if b.get("num_candidates") else ""
        out += [
            "",
            f"Best constant caption for {exp}: {b['caption']!r}, "
            f"CIDEr-D {b['cider_d']:.3f}{searched}",
        ]
    for r in rows:
        a = r.scores.get("reference_agreement") or {}
        if "min" in a:
            out += [
                "",
                f"One reference against the other {a['against']} for {r.experiment}: CIDEr-D "
                f"{a['min']:.3f}-{a['max']:.3f} (mean {a['mean']:.3f})",
            ]
    out += [
        "",
        "Table 2: speed (RTF = seconds of audio per second of wall time, higher is faster)",
        "",
    ]
    out += _table(
        [
            "Encoder",
            "Downsample",
            "Frame rate (Hz)",
            "Paper RTF mean",
            "Paper RTF median",
            "Paper RTF p10",
            "Batched RTF",
        ]
        + [t for _, t in TABLE2_QUALITY]
        + ["Experiment"],
        body2,
    )
    return out + [line for note in RTF_LEGEND for line in ("", note)] + [""] + notes.lines() + [""]


def render_environment(rows: List[Row]) -> List[str]:
    out = ["## Environment", "", "```"]
    seen = set()
    for r in rows:
        name = r.experiment.split("/")[0]
        if name in seen:
            continue
        seen.add(name)
        versions = r.env.get("versions") or {}
        picked = ", ".join(
            f"{k} {versions[k]}"
            for k in ("python", "torch", "transformers", "aac-metrics", "aac")
            if versions.get(k)
        )
        out.append(
            f"{name}: date {r.env.get('date', '?')}, git {r.env.get('git_hash', '?')}, {picked}"
        )
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
