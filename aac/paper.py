"""The paper's rows (Wu et al., 2023) as recipe presets, and our results beside its figures.

A row preset is `conf/paper/<row>.yaml` in a recipe (strict keys, `PaperRow` below): the
encoder, the official checkpoint (a name of `aac.official_encoders`), the downsampling of
its Table 1 entry, the paper's published figures (null where we do not have them: shown
as n/a, never guessed) and its Table 2 sweep. Each (row, downsample) is one experiment
`exp/finetune_<row>_ds<k>/`; `render_results` reads their `decode_*/<set>/{scores.json,
rtf.json}` through `aac.metrics.results.collect` and writes both tables in the paper's
row order with the difference ours - paper.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Tuple

from aac.config import ConfigError, build, load_yaml
from aac.metrics.results import Footnotes, collect, metric_cell
from aac.official_encoders import OFFICIAL

PAPER = "Wu et al. (2023), On the Use of Pretrained Deep Audio Encoders for Automated Audio Captioning Tasks"


@dataclass
class PaperFigures:
    spider_fl: Optional[float] = None
    cider_d: Optional[float] = None


@dataclass
class SweepPoint:  # one Table 2 entry
    downsample: int = 1
    rtf_mean: Optional[float] = None
    rtf_median: Optional[float] = None
    rtf_p10: Optional[float] = None


@dataclass
class PaperRow:
    name: str = ""
    title: str = ""  # the paper's label, e.g. "PANN MLAC"
    order: int = 0  # position in the paper's Table 1
    encoder: str = ""  # aac.encoders registry name
    official: Optional[str] = None  # aac-download-encoder NAME; null: no weights to fetch
    checkpoint_file: Optional[str] = None
    sample_rate: int = 16000
    downsample: int = 1  # of the Table 1 entry
    random_init: bool = False
    stand_in: str = ""  # non-empty: what this row stands in for (mini recipe), said in the tables
    feature_cache: str = (
        ""  # dump/<this>/ (default: the row name); rows with equal features share one
    )
    paper: PaperFigures = field(default_factory=PaperFigures)
    paper_source: str = ""
    sweep: List[SweepPoint] = field(default_factory=list)


def load_row(path: Path) -> PaperRow:
    row = build(PaperRow, load_yaml(path), source=str(path))
    if row.name != Path(path).stem:
        raise ConfigError(f"{path}: name {row.name!r} differs from the file name")
    if row.official is not None:
        entry = OFFICIAL.get(row.official)
        if entry is None:
            raise ConfigError(
                f"{path}: official: unknown {row.official!r} (known: {', '.join(OFFICIAL)})"
            )
        if (entry.encoder, entry.filename) != (row.encoder, row.checkpoint_file):
            raise ConfigError(
                f"{path}: encoder/checkpoint_file must be {entry.encoder} / "
                f"{entry.filename} for official {row.official}"
            )
    for point in [row.downsample] + [p.downsample for p in row.sweep]:
        if point not in (1, 2, 4, 8):
            raise ConfigError(f"{path}: downsample {point} is not 1, 2, 4 or 8")
    return row


def load_rows(conf_dir: Path) -> List[PaperRow]:
    """Every conf_dir/*.yaml row, in the paper's Table 1 order."""
    paths = sorted(Path(conf_dir).glob("*.yaml"))
    if not paths:
        raise ConfigError(f"{conf_dir}: no paper row presets (*.yaml)")
    return sorted((load_row(p) for p in paths), key=lambda r: (r.order, r.name))


def find_row(rows: List[PaperRow], name: str) -> PaperRow:
    for row in rows:
        if row.name == name:
            return row
    raise ConfigError(f"unknown paper row {name!r} (known: {', '.join(r.name for r in rows)})")


def experiment_tag(row_name: str, downsample: int) -> str:
    return f"{row_name}_ds{downsample}"


def plan(rows: List[PaperRow]) -> List[Tuple[str, int]]:
    """(row, downsample) experiments: Table 1 rows first, then Table 2 points not run yet."""
    out = [(r.name, r.downsample) for r in rows]
    out += [
        (r.name, p.downsample) for r in rows for p in r.sweep if (r.name, p.downsample) not in out
    ]
    return out


def _num(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _diff(ours, paper) -> str:
    return f"{ours - paper:+.3f}" if isinstance(ours, (int, float)) and paper is not None else "n/a"


def _encoder_cell(row: PaperRow) -> str:
    what = row.encoder + (" (random init)" if row.random_init else "")
    return f"{what}, stand-in for {row.stand_in}" if row.stand_in else what


def _scored(exp_root: Path, row: PaperRow, ds: int, set_name: str):
    """Scored decodes of one experiment, or [None] when there is none yet."""
    exp = Path(exp_root) / f"finetune_{experiment_tag(row.name, ds)}"
    return (collect([str(exp)], set_name) if exp.is_dir() else []) or [None]


def _table1(rows, exp_root, set_name, notes) -> List[str]:
    out = [
        "| # | Row | Encoder | Checkpoint | Downsample | SPIDEr-FL | Paper SPIDEr-FL | Diff "
        "| CIDEr-D | SPIDEr | Experiment |",
        "|" + "---|" * 11,
    ]
    for row in rows:
        for s in _scored(exp_root, row, row.downsample, set_name):
            if s is None:
                na = notes.na("all", f"not run yet: no decode_*/{set_name}/scores.json")
                cells = [
                    na,
                    _num(row.paper.spider_fl),
                    "n/a",
                    na,
                    na,
                    f"finetune_{experiment_tag(row.name, row.downsample)} (not run)",
                ]
            else:
                cells = [
                    metric_cell(s, "spider_fl", notes),
                    _num(row.paper.spider_fl),
                    _diff(s.scores.get("spider_fl"), row.paper.spider_fl),
                    metric_cell(s, "cider_d", notes),
                    metric_cell(s, "spider", notes),
                    s.experiment,
                ]
            out.append(
                f"| {row.order} | {row.title} | {_encoder_cell(row)} | "
                f"{row.checkpoint_file or 'none'} | {row.downsample} | " + " | ".join(cells) + " |"
            )
    return out


def _table2(rows, exp_root, set_name, notes) -> List[str]:
    out = [
        "| Row | Downsample | Frame rate (Hz) | RTF mean | Paper | Diff | RTF median | Paper "
        "| Diff | RTF p10 | Paper | Diff | RTF mode | SPIDEr-FL | CIDEr-D | Experiment |",
        "|" + "---|" * 16,
    ]
    for row in rows:
        for point in row.sweep:
            for s in _scored(exp_root, row, point.downsample, set_name):
                # the paper's setting (audio in, one clip at a time, beam 4): rtf.json "paper"
                rtf = ((s.rtf or {}).get("paper") or {}) if s else {}
                cells = [_num(s.frame_rate) if s and s.frame_rate else "n/a"]
                for key in ("mean", "median", "p10"):
                    paper = getattr(point, f"rtf_{key}")
                    paper_cell = (
                        _num(paper)
                        if paper is not None
                        else notes.na(
                            "paper RTF",
                            "the paper's Table 2 figure was not available to us; left "
                            "out rather than guessed",
                        )
                    )
                    cells += [_num(rtf.get(key)), paper_cell, _diff(rtf.get(key), paper)]
                cells.append(rtf.get("mode", "n/a"))
                if s is None:
                    na = notes.na("all", f"not run yet: no decode_*/{set_name}/scores.json")
                    cells += [
                        na,
                        na,
                        f"finetune_{experiment_tag(row.name, point.downsample)} (not run)",
                    ]
                else:
                    cells += [
                        metric_cell(s, "spider_fl", notes),
                        metric_cell(s, "cider_d", notes),
                        s.experiment,
                    ]
                out.append(f"| {row.title} | {point.downsample} | " + " | ".join(cells) + " |")
    return out


def render_results(rows: List[PaperRow], exp_root: Path, set_name: str) -> str:
    """RESULTS.md text: Table 1 and Table 2, ours beside the paper's figures."""
    notes = Footnotes("paper")
    out = [
        f"# Reproducing {PAPER}",
        "",
        f"Set: {set_name}. Experiments: {exp_root}/finetune_<row>_ds<k>/. Diff = ours - paper. "
        "RTF = seconds of audio per second of wall time (higher is faster).",
        "",
    ]
    stand_ins = [r for r in rows if r.stand_in]
    if stand_ins:
        out += [
            "**Stand-ins, not the paper's encoders:** "
            + "; ".join(f"{r.title} = {_encoder_cell(r)}" for r in stand_ins)
            + ". On this corpus our figures are not comparable with the paper's.",
            "",
        ]
    out += ["## Table 1: caption quality", ""] + _table1(rows, exp_root, set_name, notes)
    out += ["", "## Table 2: speed against frame downsampling", ""]
    out += _table2(rows, exp_root, set_name, notes)
    sources = sorted({r.paper_source for r in rows if r.paper_source})
    out += ["", "Paper figures: " + ("; ".join(sources) or "none given"), ""]
    return "\n".join(out + notes.lines() + [""])
