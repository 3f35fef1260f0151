"""Peak memory (RSS) of encoding one long clip whole vs in chunks (aac.encoders.chunking).

Usage: python benchmarks/bench_chunking.py [--encoder pann_cnn14] [--minutes 1 3] [--chunk-seconds 60] [--threads 1]

Each measurement runs in a fresh process (peak RSS = VmHWM of that process). Prints, per
clip length: the RSS before encoding (model + waveform), the peak while encoding and
the wall time, whole-clip vs chunked, and the largest difference between the two
feature sets. Random weights: memory and time do not depend on the weight values.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time


def rss_mb(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def measure(encoder: str, minutes: float, chunk_seconds: float, threads: int, out: str) -> None:
    """One measurement (the child process); writes features to `out` for the comparison."""
    import torch

    from aac.encoders import build_encoder
    from aac.encoders.chunking import encode_chunked

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    enc = build_encoder(encoder, random_init=encoder != "logmel")
    wave = 0.1 * torch.randn(1, int(minutes * 60 * enc.sample_rate))  # (1, T)
    before = rss_mb("VmRSS")
    start = time.perf_counter()
    feats, _ = encode_chunked(enc, wave, None, chunk_seconds or None)  # (1, T', D)
    seconds = time.perf_counter() - start
    torch.save(feats, out)
    print(json.dumps({"before_mb": before, "peak_mb": rss_mb("VmHWM"), "seconds": seconds}))


def run_child(args, minutes: float, chunk: float, out: str) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        "--encoder",
        args.encoder,
        "--minutes",
        str(minutes),
        "--chunk-seconds",
        str(chunk),
        "--threads",
        str(args.threads),
        "--out",
        out,
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--encoder", default="pann_cnn14")
    p.add_argument("--minutes", type=float, nargs="+", default=[1.0, 3.0])
    p.add_argument("--chunk-seconds", type=float, default=60.0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return measure(args.encoder, args.minutes[0], args.chunk_seconds, args.threads, args.out)
    import tempfile

    import torch

    print(f"{args.encoder}, {args.threads} thread(s), chunks of {args.chunk_seconds:g} s")
    print(f"{'minutes':>7} {'mode':>8} {'rss_before_MB':>13} {'peak_MB':>8} {'seconds':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for minutes in args.minutes:
            outs = {}
            for mode, chunk in (("whole", 0.0), ("chunked", args.chunk_seconds)):
                outs[mode] = f"{tmp}/{mode}.pt"
                r = run_child(args, minutes, chunk, outs[mode])
                print(
                    f"{minutes:7g} {mode:>8} {r['before_mb']:13.0f} {r['peak_mb']:8.0f} "
                    f"{r['seconds']:8.1f}"
                )
            a, b = torch.load(outs["whole"]), torch.load(outs["chunked"])
            rel = float((a - b).abs().max() / a.abs().max().clamp(min=1e-30))
            print(f"{minutes:7g} max |whole - chunked| / max |whole| = {rel:.2e}")


if __name__ == "__main__":
    main()
