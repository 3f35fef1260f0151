"""Seconds per 1,000 clips and peak RSS of each recipe stage against corpus size.

    OMP_NUM_THREADS=1 tools/venv/bin/python benchmarks/bench_stages.py --sizes 500 5000 [50000]

(on cores other jobs share, 2 threads per process spin against them: use 1)

For each size N a Clotho-layout corpus is generated: N development clips of `--seconds`
(default 1 s) of 16 kHz noise and tones, each with 5 captions of a small random grammar
(benchmarks/bench_score.py), and 50 validation and 50 evaluation clips. Then every stage runs as its own
`python -m aac.bin.<verb>` process, one at a time, and its wall seconds and peak RSS
(that process's own, `os.wait4`) are recorded:
  prep       aac-prep-data --corpus clotho (the three splits)
  extract    aac-extract-feats --encoder logmel, the development set in 2 parts (summed)
  merge      aac-merge-feats of the 2 parts
  tokenizer  aac-train-tokenizer (vocabulary 200) on the 5 N training captions
  train      aac-train, 1 epoch of a small decoder (d_model 64, 2 layers, batch 64,
             validation loss only); its step count is printed
  decode     aac-decode --feats, greedy, batch 64, of the N development clips
  score      aac-score --metrics cider_d (one Java PTB tokenizer run) of those captions
Seconds per 1,000 clips divide by N (prep: by N + 100); every figure includes the
process's start (Python, torch and transformers imports, Java for score: seconds that do
not grow with N), so compare sizes, not one small size's per-clip figure. Prints the CPU, one row per
(size, stage) and a table; `--json FILE` keeps the rows. Needs Java for `score` (skipped,
and said so, when `java` is missing).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_score import sentence

from aac.speed import cpu_name

RATE, SMALL, BATCH = 16000, 50, 64  # SMALL: clips of the validation and evaluation splits
TRAIN_YAML = """model:
  d_model: 64
  decoder_layers: 2
  decoder_attention_heads: 4
  decoder_ffn_dim: 256
  max_target_length: 24
optim:
  lr: 1.0e-3
  epochs: 1
  batch_size: {batch}
valid:
  metric: loss
  keep_nbest: 1
num_workers: 0
log_interval: 1000
"""


def make_corpus(root: Path, clips: int, seconds: float, seed: int = 0) -> None:
    """ROOT/CLOTHO_v2.1/{clotho_audio_files/<split>/*.wav, clotho_csv_files/*.csv}."""
    import soundfile as sf

    rng, text_rng = np.random.default_rng(seed), random.Random(seed)
    base = root / "CLOTHO_v2.1"
    (base / "clotho_csv_files").mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * RATE)) / RATE
    for split, n in (("development", clips), ("validation", SMALL), ("evaluation", SMALL)):
        audio = base / "clotho_audio_files" / split
        audio.mkdir(parents=True, exist_ok=True)
        rows = ["file_name,caption_1,caption_2,caption_3,caption_4,caption_5"]
        for i in range(n):
            name = f"{split}_{i:06d}.wav"
            wave = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 4000) * t)
            wave += rng.normal(0, 0.05, t.size)
            sf.write(audio / name, wave.astype(np.float32), RATE, subtype="PCM_16")
            rows.append(",".join([name] + [sentence(text_rng) for _ in range(5)]))
        (base / "clotho_csv_files" / f"clotho_captions_{split}.csv").write_text(
            "\n".join(rows) + "\n"
        )


def report(row: dict, clips: int) -> dict:
    """Print a finished stage's row (as it finishes: a long run shows its progress)."""
    row["clips"] = clips
    per = clips + 2 * SMALL if row["stage"] == "prep" else clips
    row["s_per_1000"] = 1000 * row["s"] / per
    steps = f", {row['steps']} steps" if "steps" in row else ""
    print(
        f"clips {clips} {row['stage']}: {row['s']:.1f} s ({row['s_per_1000']:.2f} "
        f"s per 1000 clips{steps}), peak RSS {row['rss_mib']:.0f} MiB",
        flush=True,
    )
    return row


def stage(name: str, verb: str, args: list, cwd: Path) -> dict:
    """Run `python -m aac.bin.<verb> ARGS` in its own process: wall s, peak RSS MiB."""
    argv = [sys.executable, "-m", f"aac.bin.{verb}", *map(str, args)]
    log = cwd / f"{name}.log"
    start = time.monotonic()
    with open(log, "w") as out:
        proc = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{name}: {' '.join(argv)} failed:\n{log.read_text()[-3000:]}")
    return {"stage": name, "s": wall, "rss_mib": usage.ru_maxrss / 1024}


def split_scp(scp: Path, out_dir: Path) -> list:
    lines = scp.read_text().splitlines(keepends=True)
    half = (len(lines) + 1) // 2
    parts = []
    for j, chunk in enumerate((lines[:half], lines[half:]), start=1):
        parts.append(out_dir / f"wav.{j}.scp")
        parts[-1].write_text("".join(chunk))
    return parts


def extract(work: Path, data: Path, parts: list, out: Path) -> dict:
    rows = []
    for j, scp in enumerate(parts, start=1):
        args = ["--encoder", "logmel", "--data-dir", data, "--wav-scp", scp]
        rows.append(stage(f"extract.{j}", "extract_feats", args + ["--output", f"{out}.{j}"], work))
    return {
        "stage": "extract",
        "s": sum(r["s"] for r in rows),
        "rss_mib": max(r["rss_mib"] for r in rows),
    }


def run_size(work: Path, clips: int, seconds: float, java: bool) -> list:
    start = time.monotonic()
    make_corpus(work / "corpus", clips, seconds)
    print(f"  corpus of {clips} clips generated in {time.monotonic() - start:.0f} s", flush=True)
    dev, val = work / "data" / "clotho_development", work / "data" / "clotho_validation"
    rows: list = []

    def add(row: dict, **extra) -> None:
        rows.append(report({**row, **extra}, clips))

    add(
        stage(
            "prep",
            "prep_data",
            ["--corpus", "clotho", "--root", work / "corpus", "--output-dir", work / "data"],
            work,
        )
    )
    feats = work / "feats"
    feats.mkdir()
    add(extract(work, dev, split_scp(dev / "wav.scp", feats), feats / "dev.h5"))
    parts = [f"{feats / 'dev.h5'}.1", f"{feats / 'dev.h5'}.2"]
    add(stage("merge", "merge_feats", ["--output", feats / "dev.h5", *parts], work))
    args = ["--encoder", "logmel", "--data-dir", val, "--output", feats / "val.h5"]
    stage("extract.valid", "extract_feats", args, work)  # not a row: 50 clips at every size
    add(
        stage(
            "tokenizer",
            "train_tokenizer",
            ["--text", dev / "text", "--output-dir", work / "tok", "--vocab-size", 200],
            work,
        )
    )
    (work / "train.yaml").write_text(TRAIN_YAML.format(batch=BATCH))
    train = [
        "--config",
        work / "train.yaml",
        "--train-data",
        dev,
        "--train-feats",
        feats / "dev.h5",
        "--valid-data",
        val,
        "--valid-feats",
        feats / "val.h5",
        "--tokenizer",
        work / "tok" / "tokenizer.model",
        "--output-dir",
        work / "exp",
    ]
    add(stage("train", "train", train, work), steps=-(-5 * clips // BATCH))
    decode = [
        "--exp-dir",
        work / "exp",
        "--data-dir",
        dev,
        "--feats",
        feats / "dev.h5",
        "--beam",
        1,
        "--batch-size",
        BATCH,
        "--rtf-clips",
        0,
        "--output-dir",
        work / "dec",
    ]
    add(stage("decode", "decode", decode, work))
    if java:
        score = [
            "--hyp",
            work / "dec" / "text",
            "--ref-dir",
            dev,
            "--metrics",
            "cider_d",
            "--output-dir",
            work / "dec",
        ]
        add(stage("score", "score", score, work))
    return rows


def table(rows: list, sizes: list) -> str:
    stages = list(dict.fromkeys(r["stage"] for r in rows))
    get = {(r["stage"], r["clips"]): r for r in rows}
    head = "| stage | " + " | ".join(f"{n} clips: s (s/1000), peak RSS" for n in sizes) + " |"
    lines = [head, "|---" * (len(sizes) + 1) + "|"]
    for name in stages:
        cells = []
        for n in sizes:
            r = get.get((name, n))
            cells.append(
                f"{r['s']:.1f} ({r['s_per_1000']:.1f}), {r['rss_mib']:.0f} MiB" if r else ""
            )
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[500, 5000, 50000])
    p.add_argument("--seconds", type=float, default=1.0, help="length of each clip")
    p.add_argument("--workdir", type=Path, help="keep the corpora here (default: a temp dir)")
    p.add_argument("--json", type=Path, help="also write the rows as JSON")
    args = p.parse_args(argv)
    java = shutil.which(os.environ.get("AAC_METRICS_JAVA_PATH", "java")) is not None
    print(
        f"cpu: {cpu_name()} ({os.cpu_count()} cores, OMP_NUM_THREADS="
        f"{os.environ.get('OMP_NUM_THREADS', 'unset')})" + ("" if java else "; no java: no score")
    )
    rows = []
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        for clips in args.sizes:
            work = Path(tmp) / f"n{clips}"
            work.mkdir()
            rows += run_size(work, clips, args.seconds, java)
            shutil.rmtree(work)
    print(table(rows, args.sizes))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
