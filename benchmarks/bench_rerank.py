"""Speed of re-ranked decoding beside beam 4, on a mini-recipe-size model.

Usage: tools/venv/bin/python benchmarks/bench_rerank.py [--num-clips 8] [--clip-seconds 5]

Builds an experiment directory the way `aac-train` leaves one, with the mini recipe's
decoder (egs2/mini_clotho/aac1/conf/finetune.yaml: d_model 128, 2 layers, 4 heads, FFN
512; random weights, so captions run to --max-length tokens) over the logmel encoder, and
runs `aac-benchmark` (a fresh process per candidate setting) with candidates re-ranked
by log-probability: all beam-4 hypotheses, then N nucleus samples (T 0.5, p 0.95). Each
run prints the paper (one clip at a time, beam 4), fastest (batched, beam 4) and their
+rerank rows. The head scorer adds one sentence embedding per distinct candidate:
that cost is timed last with the bundled all-MiniLM-L6-v2 on N candidates per clip.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from aac.model import ModelConf
from aac.speed import cpu_name
from aac.testing import make_random_exp_dir

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/ scripts share helpers
from bench_caption import write_clips  # noqa: E402

MINI_DECODER = ModelConf(
    d_model=128, decoder_layers=2, decoder_attention_heads=4, decoder_ffn_dim=512,
    max_target_length=48,
)  # fmt: skip


def time_text_embedding(num_clips: int, per_clip: int) -> float:
    """Seconds per clip to embed `per_clip` distinct candidate captions with MiniLM."""
    from aac.pretrain.text_encoder import TextEncoder

    encoder = TextEncoder()
    words = "a dog barks while rain falls on a metal roof and a car passes by".split()
    texts = [" ".join(words[(i % 7) : (i % 7) + 6 + i % 5]) + f" {i}" for i in range(per_clip)]
    encoder.embed(texts[:4])  # warm-up
    start = time.perf_counter()
    for _ in range(num_clips):
        encoder.embed(texts)
    return (time.perf_counter() - start) / num_clips


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--num-clips", type=int, default=8)
    p.add_argument("--clip-seconds", type=float, default=5.0)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--max-length", type=int, default=20)
    p.add_argument("--samples", type=int, default=50, help="N nucleus samples per clip")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--workdir", help="keep the model, clips and JSON here")
    args = p.parse_args(argv)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench_rerank_"))
    write_clips(work / "data", args.num_clips, args.clip_seconds, rate=16000)
    exp = work / "exp"
    if not (exp / "best.pt").is_file():
        make_random_exp_dir(exp, encoder="logmel", model_conf=MINI_DECODER, vocab_size=150)
    config = work / "logprob_only.yaml"
    config.write_text("rerank: {logprob_weight: 1.0, similarity_weight: 0.0}\n")
    print(f"CPU: {cpu_name()}; {args.threads} threads; {args.num_clips} x {args.clip_seconds:g} s")
    runs = {
        "beam4_candidates": ["--candidates", "beam"],
        f"sampling{args.samples}": [
            "--candidates",
            "sampling",
            "--num-candidates",
            str(args.samples),
        ],
    }
    for name, flags in runs.items():
        print(f"\n## {name}: mini-size decoder, max {args.max_length} tokens", flush=True)
        subprocess.run(
            [sys.executable, "-m", "aac.bin.benchmark", str(exp), "--data-dir", str(work / "data")]
            + ["--num-clips", str(args.num_clips), "--batch-size", str(args.batch_size)]
            + ["--max-length", str(args.max_length), "--threads", str(args.threads)]
            + ["--profile-clips", "0", "--decode-config", str(config), *flags]
            + ["--json", str(work / f"bench_{name}.json")],
            check=True,
        )
    per_clip = time_text_embedding(args.num_clips, args.samples)
    print(f"\nhead scorer text side: {per_clip:.3f} s per clip for {args.samples} candidates")
    print(f"files in {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
