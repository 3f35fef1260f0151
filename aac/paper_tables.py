"""The paper's Table 1 and Table 2 with our figure beside every published one.

`render_results` reads each experiment `exp/finetune_<row>_ds<k>/` through
`aac.metrics.results.collect` (decode_*/<set>/{scores.json, rtf.json}) and writes, in the
paper's row order, for every figure of the paper (`aac.paper.PaperFigures`, `SweepPoint`):
ours | paper | ours - paper. A figure of ours that is missing (a metric whose offline
assets are absent, an experiment not run) is n/a with a footnote saying why; the paper's
figure is shown all the same. Table 2 adds the encoder / decoder split of the per-clip
time (why a stride of the decoder's input barely moves RTF) and the machine of each RTF.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional

from aac.metrics.results import Footnotes, collect
from aac.paper import PAPER, TABLE1_METRICS, TABLE2_METRICS, PaperRow, experiment_tag

LABELS = {
    "bleu_4": "BLEU-4",
    "rouge_l": "ROUGE-L",
    "meteor": "METEOR",
    "cider_d": "CIDEr-D",
    "spice": "SPICE",
    "spider": "SPIDEr",
    "spider_fl": "SPIDEr-FL",
}


def _num(value, spec: str = ".3f") -> str:
    return "n/a" if value is None else format(value, spec)


def _diff(ours, paper, spec: str = "+.3f") -> str:
    if isinstance(ours, (int, float)) and paper is not None:
        return format(ours - paper, spec)
    return "n/a"


def _encoder_cell(row: PaperRow) -> str:
    what = row.encoder + (" (random init)" if row.random_init else "")
    return f"{what}, stand-in for {row.stand_in}" if row.stand_in else what


def _scored(exp_root: Path, row: PaperRow, ds: int, set_name: str):
    """Scored decodes of one experiment, or [None] when there is none yet."""
    exp = Path(exp_root) / f"finetune_{experiment_tag(row.name, ds)}"
    return (collect([str(exp)], set_name) if exp.is_dir() else []) or [None]


def _ours(s, key: str, notes: Footnotes, missing: str) -> str:
    """Our value of metric `key`, or n/a with the reason (scores.json `unavailable`)."""
    if s is None:
        return notes.na("ours", missing)
    value = s.scores.get(key)
    if isinstance(value, (int, float)):
        return f"{value:.3f}"
    reason = (s.scores.get("unavailable") or {}).get(key)
    return notes.na(key, reason or "not scored in this run (not in aac-score --metrics)")


def _triples(s, figures, keys, notes: Footnotes, missing: str) -> List[str]:
    cells = []
    for key in keys:
        paper = getattr(figures, key)
        ours = s.scores.get(key) if s is not None else None
        cells += [_ours(s, key, notes, missing), _num(paper), _diff(ours, paper)]
    return cells


def _not_run(row: PaperRow, ds: int, set_name: str, planned: bool = True) -> str:
    if not planned:
        return "not run by this driver (`run: false` in its preset: kept short)"
    return (
        f"not run yet: no finetune_{experiment_tag(row.name, ds)}/decode_*/{set_name}/scores.json"
    )


def _table1(rows, exp_root, set_name, notes) -> List[str]:
    head = ["#", "Row", "Encoder", "Checkpoint", "Downsample"]
    for key in TABLE1_METRICS:
        head += [LABELS[key], "paper", "diff"]
    out = [_line(head + ["Experiment"]), "|" + "---|" * (len(head) + 1)]
    for row in rows:
        for s in _scored(exp_root, row, row.downsample, set_name):
            missing = _not_run(row, row.downsample, set_name)
            cells = [str(row.order), row.title, _encoder_cell(row), row.checkpoint_file or "none"]
            cells += [str(row.downsample)]
            cells += _triples(s, row.paper, TABLE1_METRICS, notes, missing)
            tag = f"finetune_{experiment_tag(row.name, row.downsample)}"
            cells.append(s.experiment if s else f"{tag} (not run)")
            out.append(_line(cells))
    return out


def _line(cells: List[str]) -> str:
    return "| " + " | ".join(cells) + " |"


class Machines:
    """Labels m1, m2, ... for the distinct machines (rtf.json paper `environment`)."""

    def __init__(self):
        self.seen: Dict[str, str] = {}

    def label(self, paper: dict) -> str:
        env = paper.get("environment")
        if not env:
            return "n/a"
        text = (
            f"CPU {env.get('cpu')}; GPU {env.get('gpu') or 'none'}; {env.get('threads')} torch "
            f"threads; torch {env.get('torch')}, transformers {env.get('transformers')}; "
            f"device {env.get('device')}, {env.get('dtype')}; timed "
            f"{paper.get('timed', 'within the decode job')} on {paper.get('sample', '?')} "
            f"({paper.get('num_clips', '?')} clips)"
        )
        return self.seen.setdefault(text, f"m{len(self.seen) + 1}")

    def lines(self) -> List[str]:
        return [f"- {label}: {text}" for text, label in self.seen.items()]


def _split_cells(paper: dict) -> List[str]:
    """Encoder and decoder seconds per clip, and the encoder's share of the time."""
    enc, dec, n = paper.get("encoder_s"), paper.get("decoder_s"), paper.get("num_clips")
    if enc is None or dec is None or not n:
        return ["n/a"] * 3
    return [f"{enc / n:.3f}", f"{dec / n:.3f}", f"{100 * enc / max(enc + dec, 1e-12):.0f}%"]


def _rtf_cells(s, point, paper: dict, notes: Footnotes, missing: str) -> List[str]:
    cells = []
    for key in ("mean", "median", "p10"):
        published = getattr(point, f"rtf_{key}")
        ours = paper.get(key)
        if s is None:
            mine = notes.na("ours", missing)
        elif ours is None:
            reason = paper.get("unavailable") or "paper RTF not measured (--rtf_clips 0)"
            mine = notes.na("RTF", reason)
        else:
            mine = f"{ours:.1f}"
        cells += [mine, _num(published, ".1f"), _diff(ours, published, "+.1f")]
    return cells


def _table2(rows, exp_root, set_name, notes, machines) -> List[str]:
    head = ["Row", "Downsample", "Frame rate (Hz)", "paper"]
    for key in ("mean", "median", "p10"):
        head += [f"RTF {key}", "paper", "diff"]
    head += ["Encoder s/clip", "Decoder s/clip", "Encoder share"]
    for key in TABLE2_METRICS:
        head += [LABELS[key], "paper", "diff"]
    head += ["Machine", "Experiment"]
    out = [_line(head), "|" + "---|" * len(head)]
    for row in rows:
        for point in row.sweep:
            found = _scored(exp_root, row, point.downsample, set_name) if point.run else [None]
            for s in found:
                missing = _not_run(row, point.downsample, set_name, point.run)
                paper = ((s.rtf or {}).get("paper") or {}) if s else {}
                cells = [row.title, str(point.downsample)]
                cells += [_num(s.frame_rate if s else None, ".3g"), _num(point.frame_rate, "g")]
                cells += _rtf_cells(s, point, paper, notes, missing)
                cells += _split_cells(paper)
                cells += _triples(s, point.paper, TABLE2_METRICS, notes, missing)
                cells.append(machines.label(paper))
                tag = f"finetune_{experiment_tag(row.name, point.downsample)}"
                cells.append(s.experiment if s else f"{tag} (not run)")
                out.append(_line(cells))
    return out


def _floors(rows, exp_root, set_name) -> List[str]:
    """The set's constant-caption floor and reference agreement, from scores.json."""
    seen: Dict[str, Optional[str]] = {}
    for row in rows:
        for ds in sorted({row.downsample, *(p.downsample for p in row.sweep if p.run)}):
            for s in _scored(exp_root, row, ds, set_name):
                if s is None:
                    continue
                b, a = s.scores.get("constant_baseline") or {}, s.scores.get("reference_agreement")
                if "cider_d" in b:
                    text = f"best constant caption {b['caption']!r}: CIDEr-D {b['cider_d']:.3f}"
                    if b.get("num_candidates"):
                        text += f" (best of {b['num_candidates']} training captions)"
                    seen.setdefault(text, s.experiment)
                if a and "min" in a:
                    text = (
                        f"one reference against the other {a['against']}: CIDEr-D "
                        f"{a['min']:.3f}-{a['max']:.3f} (mean {a['mean']:.3f})"
                    )
                    seen.setdefault(text, s.experiment)
    if not seen:
        return []
    out = ["", f"Scale on {set_name} (aac-score, scores.json):", ""]
    return out + [f"- {text} [{exp}]" for text, exp in seen.items()]


def render_results(rows: List[PaperRow], exp_root: Path, set_name: str) -> str:
    """RESULTS.md text: Table 1 and Table 2, ours beside every one of the paper's figures."""
    notes, machines = Footnotes("paper"), Machines()
    out = [
        f"# Reproducing {PAPER}",
        "",
        f"Set: {set_name}. Experiments: {exp_root}/finetune_<row>_ds<k>/. Each figure: ours, "
        "the paper's, diff = ours - paper. RTF = seconds of audio per second of wall time "
        "(higher is faster).",
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
    out += _floors(rows, exp_root, set_name)
    out += ["", "## Table 2: speed against frame downsampling", ""]
    out += _table2(rows, exp_root, set_name, notes, machines)
    out += [
        "",
        "Our RTF: the paper's setting (audio in, one clip at a time, beam 4, encoder + "
        "decoder, one untimed warm-up clip), timed by `aac.speed.paper_timings` (the timer "
        "of aac-benchmark). Encoder s/clip and decoder s/clip split that time: the encoder "
        "is the same at every downsampling, so striding the decoder's input moves RTF "
        "little where the encoder dominates. Absolute RTF depends on the machine:",
        "",
    ]
    out += machines.lines() or ["- no RTF measured yet"]
    out += ["- paper: the machine is not named in the paper"]
    sources = sorted({r.paper_source for r in rows if r.paper_source})
    out += ["", "Paper figures: " + ("; ".join(sources) or "none given"), ""]
    return "\n".join(out + notes.lines() + [""])
