"""Live captioning: memory over a long stream, and latency of paper-size models.

Usage: tools/venv/bin/python benchmarks/bench_stream.py soak --minutes 30 --speed 20
       tools/venv/bin/python benchmarks/bench_stream.py latency --encoders pann_cnn14 beats
       tools/venv/bin/python benchmarks/bench_stream.py latency --models EXP [EXP ...]
           [--compute-dtype bfloat16] [--quantize int8]

soak     feeds `--minutes` of synthetic audio (made chunk by chunk, never held whole) to
         `aac.streaming.stream_captions` at `--speed` x real time, so captioning falls
         behind and skips; prints RSS at start / middle / end, windows captioned and
         skipped, latency p50/p99. RSS must stay flat: the ring buffer is bounded and
         nothing queues. Model: `--model` (exp dir or zip) or a small random logmel one.
latency  for each trained `--models` experiment, or else for each `--encoders` name a
         random-init encoder + paper-size random decoder (as
         benchmarks/bench_caption.py builds them; captions run to `--max-length` tokens)
         captions `--seconds` of audio streamed at real time, `--window` s every `--hop` s,
         on `--threads` CPU threads; prints one window's compute time, then latency
         p50/p99 and the windows skipped. On a machine whose cores are already busy, use
         --threads 1: OpenMP threads that wait for each other at every operator make a
         2-thread run many times slower than a 1-thread one there.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from aac.captioner import Captioner
from aac.model import ModelConf
from aac.streaming import stream_captions
from aac.testing import make_random_exp_dir

PAPER_DECODER = ModelConf(
    d_model=768,
    decoder_layers=6,
    decoder_attention_heads=12,
    decoder_ffn_dim=3072,
    max_target_length=64,
)
SMALL_DECODER = ModelConf(
    d_model=128,
    decoder_layers=2,
    decoder_attention_heads=4,
    decoder_ffn_dim=512,
    max_target_length=48,
)  # the mini recipe's


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def synthetic_chunks(
    seconds: float, rate: int, speed: float, chunk_s: float = 0.1, on_progress=None
):
    """Tones, noise and bursts that change every few seconds, paced at `speed` x real time."""
    rng = np.random.default_rng(0)
    n, t0 = int(chunk_s * rate), time.monotonic()
    total = int(seconds / chunk_s)
    freq, level = 440.0, 0.1
    for k in range(total):
        if k % 30 == 0:  # a new "scene" every 3 s
            freq, level = rng.uniform(100, 4000), rng.uniform(0.01, 0.5)
        t = (k * n + np.arange(n)) / rate
        chunk = level * np.sin(2 * np.pi * freq * t) + rng.normal(0, 0.05, n)
        due = t0 + (k + 1) * chunk_s / speed
        time.sleep(max(0.0, due - time.monotonic()))
        if on_progress:
            on_progress(k, total)
        yield chunk.astype(np.float32)


def percentiles(values):
    if not values:
        return "none captioned"
    p50, p99 = np.percentile(values, [50, 99])
    return f"p50 {p50:.3f} s, p99 {p99:.3f} s, max {max(values):.3f} s"


def soak(args, work: Path) -> None:
    model = args.model
    if model is None:
        model = work / "exp_small"
        make_random_exp_dir(model, encoder="logmel", model_conf=SMALL_DECODER, seed=0)
    captioner = Captioner.from_pretrained(model, beam=args.beam, batch_size=1)
    rate = captioner.sample_rate
    marks = {}

    def progress(k, total):
        for name, at in (("start", 0), ("middle", total // 2), ("end", total - 1)):
            if k == at:
                marks[name] = rss_mb()

    seconds = args.minutes * 60
    latencies, skipped, t0 = [], 0, time.monotonic()
    chunks = synthetic_chunks(seconds, rate, args.speed, on_progress=progress)
    for r in stream_captions(captioner, chunks, args.window, args.hop, rate):
        latencies.append(r.latency_s)
        skipped += r.skipped
    wall = time.monotonic() - t0
    print(
        f"soak: {args.minutes:g} min of audio at {args.speed:g}x real time in {wall:.0f} s; "
        f"window {args.window:g} s, hop {args.hop:g} s"
    )
    print(
        "RSS MB: "
        + ", ".join(f"{k} {marks.get(k, float('nan')):.1f}" for k in ("start", "middle", "end"))
    )
    print(
        f"windows: {len(latencies)} captioned, {skipped} skipped; latency {percentiles(latencies)}"
    )


def latency_models(args, work: Path):
    """Exp dirs: the trained --models, else paper-size random ones per --encoders."""
    if args.models:
        return [Path(m) for m in args.models]
    exps = []
    for encoder in args.encoders:
        exp = work / f"exp_{encoder}"
        if not (exp / "best.pt").is_file():
            make_random_exp_dir(exp, encoder=encoder, model_conf=PAPER_DECODER, vocab_size=5000)
        exps.append(exp)
    return exps


def latency(args, work: Path) -> None:
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", message=".*RANDOMLY INITIALISED.*")
    for exp in latency_models(args, work):
        captioner = Captioner.from_pretrained(
            exp, beam=args.beam, batch_size=1, max_length=args.max_length
        )
        if args.compute_dtype != "float32" or args.quantize:
            captioner = captioner.variant(dtype=args.compute_dtype, quantize=args.quantize)
        encoder = captioner.enc_info["name"]
        encoder = f"{encoder} ({args.compute_dtype}{', ' + args.quantize if args.quantize else ''})"
        rate = captioner.sample_rate
        wave = np.concatenate(list(synthetic_chunks(args.window, rate, 1e9)))
        times = []
        for _ in range(3):  # one window alone: the latency floor when nothing is behind
            t0 = time.perf_counter()
            captioner.caption_waves([wave])
            times.append(time.perf_counter() - t0)
        print(
            f"{encoder}: one {args.window:g} s window captioned in "
            f"{', '.join(f'{t:.2f}' for t in times)} s (first includes warm-up)",
            flush=True,
        )
        latencies, skipped = [], 0
        for r in stream_captions(
            captioner, synthetic_chunks(args.seconds, rate, 1.0), args.window, args.hop, rate
        ):
            latencies.append(r.latency_s)
            skipped += r.skipped
        print(
            f"{encoder}: {args.seconds:g} s streamed at real time, window {args.window:g} s, "
            f"hop {args.hop:g} s, beam {args.beam}, {args.threads} thread(s): "
            f"{len(latencies)} captioned, {skipped} skipped; latency {percentiles(latencies)}",
            flush=True,
        )


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("mode", choices=("soak", "latency"))
    p.add_argument("--model", help="soak: exp dir or packed zip (default: small random model)")
    p.add_argument("--minutes", type=float, default=30.0, help="soak: audio length")
    p.add_argument("--speed", type=float, default=20.0, help="soak: x real time")
    p.add_argument("--encoders", nargs="+", default=["pann_cnn14", "beats"])
    p.add_argument("--seconds", type=float, default=60.0, help="latency: audio length")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--window", type=float)
    p.add_argument("--hop", type=float)
    p.add_argument("--beam", type=int, default=4)
    p.add_argument("--max-length", type=int, default=20)
    p.add_argument("--workdir", help="keep the random models here")
    p.add_argument("--models", nargs="+", help="latency: trained exp dirs (not --encoders)")
    p.add_argument(
        "--compute-dtype",
        choices=("float32", "bfloat16"),
        default="float32",
        help="latency: bfloat16 weights + autocast (Captioner.variant)",
    )
    p.add_argument("--quantize", choices=("int8",), help="latency: dynamic int8 Linear layers")
    args = p.parse_args(argv)
    if args.window is None:
        args.window = 2.0 if args.mode == "soak" else 10.0
    if args.hop is None:
        args.hop = 0.5 if args.mode == "soak" else 1.0
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench_stream_"))
    work.mkdir(parents=True, exist_ok=True)
    (soak if args.mode == "soak" else latency)(args, work)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())
