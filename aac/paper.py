"""The paper's rows (Wu et al., 2023) as recipe presets (data, loading, the experiment plan).

A row preset is `conf/paper/<row>.yaml` in a recipe (strict keys, `PaperRow` below): the
encoder, the official checkpoint (a name of `aac.official_encoders`), the downsampling of
its Table 1 entry, the paper's published figures (null where we do not have them: shown
as n/a, never guessed) and its Table 2 sweep. Each (row, downsample) is one experiment
`exp/finetune_<row>_ds<k>/`; `aac.paper_tables.render_results` writes both tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Tuple

from aac.config import ConfigError, build, load_yaml
from aac.official_encoders import OFFICIAL

PAPER = "Wu et al. (2023), On the Use of Pretrained Deep Audio Encoders for Automated Audio Captioning Tasks"


# Metric keys of the paper's tables, as scores.json names them (aac-metrics; the paper's
# "CIDEr" is CIDEr-D). Table 2 gives no SPIDEr column.
TABLE1_METRICS = ("bleu_4", "rouge_l", "meteor", "cider_d", "spice", "spider", "spider_fl")
TABLE2_METRICS = ("bleu_4", "rouge_l", "meteor", "cider_d", "spice", "spider_fl")


@dataclass
class PaperFigures:  # one row's published caption quality (null: the paper gives none)
    bleu_4: Optional[float] = None
    rouge_l: Optional[float] = None
    meteor: Optional[float] = None
    cider_d: Optional[float] = None
    spice: Optional[float] = None
    spider: Optional[float] = None
    spider_fl: Optional[float] = None


@dataclass
class SweepPoint:  # one Table 2 entry
    downsample: int = 1
    frame_rate: Optional[float] = None  # the paper's "Frame rate" column (frames/s)
    rtf_mean: Optional[float] = None
    rtf_median: Optional[float] = None
    rtf_p10: Optional[float] = None
    paper: PaperFigures = field(default_factory=PaperFigures)
    # false: the paper's figures are shown but no experiment is planned (a short sweep)
    run: bool = True


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
        (r.name, p.downsample)
        for r in rows
        for p in r.sweep
        if p.run and (r.name, p.downsample) not in out
    ]
    return out
