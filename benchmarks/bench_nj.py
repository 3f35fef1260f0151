"""Speed-up of feature caching with nj parallel jobs against one job.

Usage: tools/venv/bin/python benchmarks/bench_nj.py --clips 36 --seconds 10 --encoders logmel pann_cnn14 --nj 1 2 --out /tmp/bench_nj

Makes a data dir of random-noise wav clips under OUT/data, then for each encoder and
each nj: splits wav.scp with utils/split_scp, runs aac-extract-feats through
`utils/run.pl JOB=1:nj` (or --backend utils/slurm.pl), merges the parts with
aac-merge-feats, and times split + extract + merge. Checks that every merged cache
equals the nj=1 cache. Prints a table and writes OUT/results.json. pann_cnn14 runs
with --random-init (no checkpoint needed: the speed is the same).
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]


def get_parser():
    p = argparse.ArgumentParser(
        description="Reads nothing; writes OUT/data (wav clips), "
        "OUT/<encoder>/nj<N>/ (feature caches, logs) and OUT/results.json."
    )
    p.add_argument("--clips", type=int, default=36)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--encoders", nargs="+", default=["logmel", "pann_cnn14"])
    p.add_argument("--nj", type=int, nargs="+", default=[1, 2])
    p.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS of each job")
    p.add_argument("--backend", default="utils/run.pl", help="utils/run.pl or utils/slurm.pl ...")
    p.add_argument("--out", type=Path, required=True)
    return p


def make_data(data, num_clips, seconds, rate=32000):
    if (data / "wav.scp").exists():
        return
    rng = np.random.default_rng(0)
    (data / "wav").mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(num_clips):
        wav = data / "wav" / f"clip{i:03d}.wav"
        sf.write(wav, 0.1 * rng.standard_normal(int(seconds * rate)).astype(np.float32), rate)
        lines.append(f"clip{i:03d} {wav}\n")
    (data / "wav.scp").write_text("".join(lines))


def run_extraction(args, encoder, nj, data):
    """Split, extract through the backend, merge; returns (seconds, merged file)."""
    work = args.out / encoder / f"nj{nj}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    extra = ["--random-init"] if encoder != "logmel" else []
    start = time.perf_counter()
    cpu_start = child_cpu_seconds()
    n = subprocess.run(
        [
            sys.executable,
            str(ROOT / "utils" / "split_scp"),
            "--nj",
            str(nj),
            str(data / "wav.scp"),
            str(work / "split" / "wav.JOB.scp"),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    backend = args.backend.split()
    backend[0] = str(ROOT / backend[0])
    subprocess.run(
        [
            *backend,
            f"JOB=1:{n}",
            str(work / "log" / "extract.JOB.log"),
            f"OMP_NUM_THREADS={args.threads}",
            sys.executable,
            "-m",
            "aac.bin.extract_feats",
            "--encoder",
            encoder,
            *extra,
            "--data-dir",
            str(data),
            "--wav-scp",
            str(work / "split" / "wav.JOB.scp"),
            "--output",
            str(work / "feats.JOB.h5"),
        ],
        check=True,
    )
    parts = [str(work / f"feats.{k}.h5") for k in range(1, int(n) + 1)]
    subprocess.run(
        [sys.executable, "-m", "aac.bin.merge_feats", "--output", str(work / "feats.h5"), *parts],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start, child_cpu_seconds() - cpu_start, work / "feats.h5"


def child_cpu_seconds():
    """User + system CPU time of finished child processes (the jobs included)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def same_features(a, b):
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        return sorted(fa) == sorted(fb) and all(np.array_equal(fa[k][()], fb[k][()]) for k in fa)


def main(argv=None):
    args = get_parser().parse_args(argv)
    data = args.out / "data"
    make_data(data, args.clips, args.seconds)
    results = []
    for encoder in args.encoders:
        reference, first_seconds = None, None
        for nj in args.nj:
            load = os.getloadavg()[0]
            seconds, cpu, merged = run_extraction(args, encoder, nj, data)
            reference, first_seconds = reference or merged, first_seconds or seconds
            results.append(
                {
                    "encoder": encoder,
                    "nj": nj,
                    "seconds": round(seconds, 2),
                    "cpu_seconds": round(cpu, 2),
                    "load_before": round(load, 2),
                    "speed_up": round(first_seconds / seconds, 2),
                    "same_as_first": same_features(reference, merged),
                }
            )
            print(
                f"{encoder:12s} nj={nj}: {seconds:7.2f} s wall {cpu:7.2f} s CPU  speed-up "
                f"{first_seconds / seconds:.2f}x  identical={results[-1]['same_as_first']}  "
                f"(load average before: {load:.2f} on {os.cpu_count()} CPUs)",
                flush=True,
            )
    (args.out / "results.json").write_text(
        json.dumps(
            {
                "cpus": os.cpu_count(),
                "clips": args.clips,
                "seconds": args.seconds,
                "threads": args.threads,
                "backend": args.backend,
                "results": results,
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
