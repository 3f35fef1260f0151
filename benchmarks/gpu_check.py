"""GPU check: paper-setting RTF beside the paper's Table 2, training throughput, peak memory.

Usage: tools/venv/bin/python benchmarks/gpu_check.py [--json gpu_report.json] [--device cuda:0]

Needs a CUDA device (without one it stops at once with one error line, exit 2). Sized for
under 5 minutes on one H200 (not yet timed on one), it measures, on paper-size models with
random weights (BART decoder 6 x 768, 12 heads, FFN 3072, 5000 tokens; PANN Cnn14 and BEATs
random-init: speed does not depend on the weights' values):
  rtf       the paper's Table 2 setting: audio in, one clip at a time, beam 4, encoder +
            decoder (`aac.speed.paper_rtf`, as stage 6 measures it), on --num-clips synthetic
            clips of 10 s, captions of --max-length tokens; beside Table 2's mean RTF
  train     steps/s and clips/s of the decoder at batch 32 under bf16 and fp16 AMP (AdamW,
            10 s of encoder frames per clip, 20-token captions), peak GPU memory per dtype
  tests     the tests marked `cuda` (pytest -m cuda), which the CPU suite skips
Prints each figure as it comes and writes them all as JSON (--json, atomically).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
# Mean RTF of the paper's Table 2 (one clip at a time, beam 4, GPU), downsample 1.
PAPER_TABLE2_MEAN_RTF = {"pann_cnn14": 104.6, "beats": 42.9}
# BEATs frames of a 10 s clip (16 x 16 patches of 10 ms fbank frames): 62 x 8.
BEATS_FRAMES_10S = 496


class NoCudaError(RuntimeError):
    pass


def require_cuda(device: str) -> torch.device:
    """The CUDA device to measure on; a clear error where there is none."""
    if not torch.cuda.is_available():
        raise NoCudaError(
            f"no CUDA device (torch {torch.__version__}, built for CUDA {torch.version.cuda}): "
            "this check measures the GPU only; the CPU figures come from benchmarks/bench_caption.py"
        )
    dev = torch.device(device)
    if dev.type != "cuda":
        raise NoCudaError(f"--device must be a CUDA device, got {device}")
    return dev


def paper_decoder():
    from aac.model import ModelConf

    return ModelConf(
        d_model=768,
        decoder_layers=6,
        decoder_attention_heads=12,
        decoder_ffn_dim=3072,
        max_target_length=64,
    )


def beside_paper(encoder: str, rtf: dict) -> dict:
    """Measured RTF figures with Table 2's mean and the ratio measured / paper."""
    paper = PAPER_TABLE2_MEAN_RTF[encoder]
    mean = rtf.get("mean")
    return {
        "encoder": encoder,
        "rtf_mean": mean,
        "rtf_median": rtf.get("median"),
        "rtf_p10": rtf.get("p10"),
        "paper_table2_mean": paper,
        "measured_over_paper": None if mean is None else mean / paper,
    }


def synthetic_waves(num_clips: int, seconds: float, rate: int) -> dict:
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * rate)) / rate
    return {
        f"clip{i:03d}": (
            rng.normal(0, 0.05, t.shape) + 0.3 * np.sin(2 * np.pi * rng.uniform(100, 4000) * t)
        ).astype(np.float32)
        for i in range(num_clips)
    }


def measure_rtf(encoder: str, work: Path, dev, num_clips: int, max_length: int) -> dict:
    from aac.captioning import CaptionEngine, build_encoder_from_info
    from aac.expdir import load_model_from_expdir
    from aac.speed import PAPER_BEAM, make_random_exp_dir, paper_rtf

    exp = make_random_exp_dir(
        work / f"exp_{encoder}", encoder=encoder, model_conf=paper_decoder(), vocab_size=5000
    )
    loaded = load_model_from_expdir(exp, device=str(dev))
    enc = build_encoder_from_info(loaded.encoder_info, device=str(dev))
    engine = CaptionEngine.from_loaded(loaded, enc, beam=PAPER_BEAM, max_length=max_length)
    torch.cuda.reset_peak_memory_stats(dev)
    rtf = paper_rtf(engine, synthetic_waves(num_clips, 10.0, enc.sample_rate), enc.sample_rate)
    row = beside_paper(encoder, rtf)
    row["peak_gpu_mb"] = torch.cuda.max_memory_allocated(dev) / 2**20
    row["num_clips"], row["max_length"] = num_clips, max_length
    return row


def measure_training(dev, amp_dtype: torch.dtype, steps: int, batch: int = 32) -> dict:
    """Steps/s of the paper-size decoder over BEATs-size frames (the longer encoder output)."""
    from aac.model import CaptionModel

    torch.manual_seed(0)
    model = CaptionModel(768, 5000, paper_decoder(), pad_id=1, bos_id=0, eos_id=2).to(dev)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    feats = torch.randn(batch, BEATS_FRAMES_10S, 768, device=dev)  # (B, T, D)
    mask = torch.ones(batch, feats.size(1), dtype=torch.bool, device=dev)
    labels = torch.randint(3, 5000, (batch, 20), device=dev)
    labels[:, -1] = 2  # eos

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=amp_dtype):
            loss = model(feats, mask, labels)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        return loss

    for _ in range(3):  # warm-up: allocator, cuBLAS heuristics
        step()
    torch.cuda.synchronize(dev)
    torch.cuda.reset_peak_memory_stats(dev)
    start = time.perf_counter()
    for _ in range(steps):
        loss = step()
    torch.cuda.synchronize(dev)
    wall = time.perf_counter() - start
    return {
        "amp_dtype": str(amp_dtype).replace("torch.", ""),
        "batch_size": batch,
        "steps": steps,
        "steps_per_s": steps / wall,
        "clips_per_s": steps * batch / wall,
        "peak_gpu_mb": torch.cuda.max_memory_allocated(dev) / 2**20,
        "final_loss_finite": bool(torch.isfinite(loss).item()),
    }


def run_cuda_tests() -> dict:
    """pytest -m cuda; exit status 5 (none collected) is reported as such, not as a pass."""
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-m", "cuda", "-p", "no:cacheprovider", "tests"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    tail = (out.stdout + out.stderr).strip().splitlines()[-1:] or [""]
    status = {0: "passed", 5: "none collected"}.get(out.returncode, "failed")
    if status == "passed" and " passed" not in tail[0]:
        status = "all skipped"  # CUDA not visible to pytest: nothing was checked
    return {"status": status, "returncode": out.returncode, "summary": tail[0]}


def environment(dev) -> dict:
    import transformers

    return {
        "gpu": torch.cuda.get_device_name(dev),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "transformers": transformers.__version__,
        "numpy": np.__version__,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--device", default="cuda")
    p.add_argument("--encoders", nargs="+", default=list(PAPER_TABLE2_MEAN_RTF))
    p.add_argument("--num-clips", type=int, default=16, help="clips timed per encoder")
    p.add_argument("--max-length", type=int, default=20, help="caption tokens (random weights)")
    p.add_argument("--train-steps", type=int, default=30)
    p.add_argument("--skip-tests", action="store_true")
    p.add_argument("--json", type=Path, help="write the report here")
    args = p.parse_args(argv)
    try:
        dev = require_cuda(args.device)
    except NoCudaError as err:
        print(f"gpu_check: error: {err}", file=sys.stderr)
        return 2
    report = {"environment": environment(dev), "rtf": [], "train": []}
    print(json.dumps(report["environment"]), flush=True)
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as tmp:
        for encoder in args.encoders:
            report["rtf"].append(
                measure_rtf(encoder, Path(tmp), dev, args.num_clips, args.max_length)
            )
            print(json.dumps(report["rtf"][-1]), flush=True)
    for dtype in (torch.bfloat16, torch.float16):
        report["train"].append(measure_training(dev, dtype, args.train_steps))
        print(json.dumps(report["train"][-1]), flush=True)
    if not args.skip_tests:
        report["cuda_tests"] = run_cuda_tests()
        print(json.dumps(report["cuda_tests"]), flush=True)
    if args.json:
        from aac.atomic import write_json_atomic

        write_json_atomic(args.json, report)
    failed = report.get("cuda_tests", {}).get("status") == "failed"
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
