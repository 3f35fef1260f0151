"""Long recordings: peak RSS and RTF of windowed captioning against recording length.

Usage: tools/venv/bin/python benchmarks/bench_long.py --minutes 1 30 120 \
           --encoders logmel pann_cnn14 beats --modes cli api stream

For each encoder a random experiment directory is made (aac.speed.make_random_exp_dir:
random-init encoder, a small random decoder: captions are meaningless, the work is real).
For each length a 44.1 kHz stereo 16-bit WAV of synthetic audio is written block by
block (never held whole). Each (encoder, length, mode) runs in a fresh interpreter, one
at a time, and its peak RSS is that process's own (`os.wait4`):
  cli     aac-caption MODEL rec.wav --window W --hop H --format json -o FILE
  api     Captioner.from_pretrained(MODEL).caption([rec.wav], window=W, hop=H)
  stream  aac-caption MODEL --stream rec.wav --window W --hop H --no-skip (the file is
          followed as a growing one; it is complete before the run starts)
RTF = seconds of audio / wall seconds of the whole command (model loading included:
a few seconds against minutes of audio). Prints one row per run and the ratio of each
length's peak RSS to the shortest length's, with the CPU named; `--json FILE` keeps them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

RATE, CHANNELS = 44100, 2


def write_recording(path: Path, minutes: float, seed: int = 0) -> Path:
    """Tones and noise changing every half second, written one minute at a time."""
    import soundfile as sf

    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    seg = RATE // 2
    tmp = path.with_suffix(".partial.wav")
    with sf.SoundFile(tmp, "w", RATE, CHANNELS, subtype="PCM_16") as f:
        for _ in range(int(round(minutes * 120))):
            t = np.arange(seg) / RATE
            x = np.sin(2 * np.pi * rng.uniform(100, 4000) * t) * rng.uniform(0.05, 0.6)
            x = x + rng.normal(0, rng.uniform(0.0, 0.2), seg)
            f.write(np.stack([x, 0.5 * x], axis=1).astype(np.float32))
    os.replace(tmp, path)
    return path


def make_model(root: Path, encoder: str) -> Path:
    """In a child interpreter: a parent that imported torch would count in every child's
    peak RSS (a forked child's RSS includes the parent's pages until it execs)."""
    exp = root / f"exp_{encoder}"
    if not (exp / "best.pt").exists():
        subprocess.run([sys.executable, __file__, "--make-model", str(exp), encoder], check=True)
    return exp


def make_model_here(exp: Path, encoder: str) -> None:
    from aac.model import ModelConf
    from aac.testing import make_random_exp_dir

    conf = ModelConf(
        d_model=256,
        decoder_layers=2,
        decoder_attention_heads=4,
        decoder_ffn_dim=1024,
        max_target_length=20,
    )
    make_random_exp_dir(exp, encoder=encoder, model_conf=conf)


def child(mode: str, exp: str, wav: str, window: float, hop: float, out: str) -> None:
    """Runs in the measured interpreter."""
    if mode == "api":
        from aac.captioner import Captioner

        results = Captioner.from_pretrained(exp).caption([wav], window=window, hop=hop)
        Path(out).write_text("".join(json.dumps(r.to_dict()) + "\n" for r in results))
        return
    from aac.bin.caption import main

    args = [exp, "--window", str(window), "--hop", str(hop), "--quiet"]
    if mode == "stream":
        args += ["--stream", wav, "--no-skip", "--stream-timeout", "0.5"]
        with open(out, "w") as f:
            sys.stdout = f
            main(args)
        return
    main([exp, wav] + args[1:] + ["--format", "json", "--output", out])


def measure(mode, exp: Path, wav: Path, window: float, hop: float, threads: int, label="") -> dict:
    out = wav.with_name(f"{wav.stem}.{exp.name}.{mode}{label}.jsonl")
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    argv = [sys.executable, __file__, "--child", mode, str(exp), str(wav), str(window), str(hop)]
    t0 = time.monotonic()
    proc = subprocess.Popen(argv + [str(out)], env=env, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - t0
    err = proc.stderr.read().decode(errors="replace")
    proc.returncode = os.waitstatus_to_exitcode(status)
    lines = out.read_text().splitlines() if out.exists() else []
    return {
        "rc": proc.returncode,
        "wall_s": round(wall, 1),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # KiB on Linux
        "windows": len(lines),
        "errors": sum(1 for line in lines if json.loads(line).get("error")),
        "stderr_tail": err[-300:] if proc.returncode else "",
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        mode, exp, wav, window, hop, out = sys.argv[2:8]
        child(mode, exp, wav, float(window), float(hop), out)
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--make-model":
        make_model_here(Path(sys.argv[2]), sys.argv[3])
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--minutes", type=float, nargs="+", default=[1, 30, 120])
    p.add_argument("--encoders", nargs="+", default=["logmel", "pann_cnn14", "beats"])
    p.add_argument("--modes", nargs="+", choices=("cli", "api", "stream"), default=["cli"])
    p.add_argument("--window", type=float, default=10.0)
    p.add_argument("--hop", type=float, default=10.0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--workdir", type=Path, default=Path("/tmp/aac_bench_long"))
    p.add_argument("--json", type=Path, help="also write the rows here")
    p.add_argument("--label", default="", help="suffix of the result files (runs side by side)")
    args = p.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    from aac.speed import cpu_name  # the parent only reports; the children are measured

    print(f"CPU: {cpu_name()}; {args.threads} thread(s); 44.1 kHz stereo 16-bit WAV")
    print(
        f"{'encoder':12s} {'mode':6s} {'min':>5s} {'peak RSS MB':>11s} {'x 1st':>6s} "
        f"{'wall s':>7s} {'RTF':>6s} {'windows':>7s} {'errors':>6s}"
    )
    rows = []
    for enc in args.encoders:
        exp = make_model(args.workdir, enc)
        for mode in args.modes:
            first = None
            for minutes in args.minutes:
                wav = write_recording(args.workdir / f"rec_{minutes:g}min.wav", minutes)
                r = measure(mode, exp, wav, args.window, args.hop, args.threads, args.label)
                first = first or r["peak_rss_mb"]
                row = {"encoder": enc, "mode": mode, "minutes": minutes, **r}
                row["rss_ratio"] = round(r["peak_rss_mb"] / first, 2)
                row["rtf"] = round(minutes * 60 / max(r["wall_s"], 1e-9), 1)
                rows.append(row)
                print(
                    f"{enc:12s} {mode:6s} {minutes:5g} {r['peak_rss_mb']:11.0f} "
                    f"{row['rss_ratio']:6.2f} {r['wall_s']:7.1f} {row['rtf']:6.1f} "
                    f"{r['windows']:7d} {r['errors']:6d} {r['stderr_tail']}",
                    flush=True,
                )
    if args.json:
        args.json.write_text(json.dumps({"cpu": cpu_name(), "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
