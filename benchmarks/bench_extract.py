"""Feature-extraction speed per encoder on this machine (random weights are fine for speed).

Usage: python benchmarks/bench_extract.py [--encoders logmel pann_cnn14 ...] [--clips 4] [--seconds 10] [--threads 1] [--device cpu]

Prints clips/s and real-time factor (seconds of audio per second of wall time) for
batches of equal-length clips, as aac-extract-feats runs them (audio loading excluded).
"""

from __future__ import annotations

import argparse
import time

import torch

from aac.encoders import ENCODERS, build_encoder


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--encoders", nargs="+", default=list(ENCODERS))
    p.add_argument("--clips", type=int, default=4)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(
        f"{'encoder':16} {'clips/s':>8} {'RTF':>8}  ({args.clips} x {args.seconds:g} s, "
        f"{args.threads} thread(s), {args.device})"
    )
    for name in args.encoders:
        enc = build_encoder(name, random_init=ENCODERS[name].has_weights).to(args.device)
        wave = (
            torch.randn(args.clips, int(enc.sample_rate * args.seconds), device=args.device) * 0.1
        )
        with torch.no_grad():
            enc(wave[:1, : enc.sample_rate])  # warm-up
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            start = time.perf_counter()
            enc(wave)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            elapsed = time.perf_counter() - start
        rate = args.clips / elapsed
        print(f"{name:16} {rate:8.2f} {rate * args.seconds:8.1f}")


if __name__ == "__main__":
    main()
