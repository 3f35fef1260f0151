"""Write a suite's results: results.json, summary.md and recall_vs_snr.png (all atomic)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import List

from aac.atomic import write_json_atomic, write_text_atomic


def _fmt(value, unit: str = "") -> str:
    return "-" if value is None else f"{value:.2f}{unit}"


def decoding_lines(decoding) -> List[str]:
    """How each window's caption was chosen, when candidates were re-ranked."""
    if not decoding:
        return []
    c, r = decoding["candidates"], decoding["rerank"]
    how = f"{c['mode']} candidates (num {c['num'] or 'default'})"
    return [
        f"Captions re-ranked among {how}: {r['logprob_weight']:g} x log-probability + "
        f"{r['similarity_weight']:g} x similarity ({r['scorer']} scorer)."
    ]


def summary_markdown(results: List[dict], header: dict) -> str:
    snrs = sorted({float(s) for r in results for s in r["recall_by_snr"]}, reverse=True)
    lines = [
        f"# Scenario tests: {header['suite']}",
        "",
        f"Model `{header['model']}`; window {header['window']} s, hop {header['hop']} s, "
        + (
            f"audio fed at {header['pace']}x real time"
            if header["pace"]
            else "audio fed as fast as it is captioned, no window skipped (pace 0)"
        )
        + f"; {header['trials']} trial(s) per SNR.",
        "Detection latency = event onset -> caption naming it printed.",
        *decoding_lines(header.get("decoding")),
        "",
        "| scenario | "
        + " | ".join(f"recall {s:g} dB" for s in snrs)
        + " | false alarms | latency p50 / p99 (budget) | compute p99 | skipped | result |",
        "|---|" + "---|" * (len(snrs) + 5),
    ]
    for r in results:
        recall = [_fmt(r["recall_by_snr"].get(f"{s:g}")) for s in snrs]
        lat, comp = r["detection_latency_s"], r["compute_latency_s"]
        lines.append(
            f"| {r['name']} | "
            + " | ".join(recall)
            + f" | {r['false_alarm_rate']:.2f} | {_fmt(lat['p50'], ' s')} / "
            f"{_fmt(lat['p99'], ' s')} ({lat['budget']} s) | {_fmt(comp['p99'], ' s')}"
            f" | {r['skipped_windows']} | {'PASS' if r['passed'] else 'FAIL'} |"
        )
    failed = [r for r in results if not r["passed"]]
    lines += ["", f"{len(results) - len(failed)} of {len(results)} scenario(s) passed."]
    lines += [f"- {r['name']}: {'; '.join(r['reasons'])}" for r in failed]
    return "\n".join(lines) + "\n"


def plot_recall(results: List[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    styles = [("o", "-"), ("s", "--"), ("^", ":"), ("D", "-.")]  # equal curves stay visible
    for i, r in enumerate(results):
        points = sorted((float(s), v) for s, v in r["recall_by_snr"].items())
        marker, line = styles[i % len(styles)]
        ax.plot(
            [p[0] for p in points],
            [p[1] for p in points],
            marker=marker,
            linestyle=line,
            markersize=9 - 2 * (i % len(styles)),
            label=r["name"],
        )
    ax.set_xlabel("SNR (dB)")
    ax.set_ylabel("detection recall")
    ax.set_ylim(-0.05, 1.05)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)


def write_report(out_dir, results: List[dict], header: dict) -> None:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plot_recall(results, out_dir / "recall_vs_snr.png")
    write_text_atomic(out_dir / "summary.md", summary_markdown(results, header))
    # results.json last: its presence means the whole report is there
    write_json_atomic(out_dir / "results.json", {**header, "scenarios": results})
