"""GPU check: paper-setting RTF beside Table 2, AMP training, extraction, NCCL, cuda tests.

Usage: tools/gpu_check.sh   (on the GPU machine; it installs what is missing, then runs)
       python benchmarks/gpu_check.py --device cuda --json gpu_report.json
       python benchmarks/gpu_check.py --device cpu --json cpu_report.json   (CI smoke test)

On CUDA it measures paper-size models with random weights (speed does not depend on the
weights' values): BART decoder 6 x 768, 12 heads, FFN 3072, 5000 tokens; PANN Cnn14 and
BEATs random-init. `--device cpu` runs every section at tiny sizes (SIZES["cpu"]) so that
CI checks the code paths; its figures say nothing about the paper. Sections:
  rtf        Table 2's setting through `aac.speed.paper_rtf` (as stage 6 times it): audio
             in, one clip at a time, beam 4, encoder + decoder; beside Table 2's mean RTF
  train      clips/s of decoder training steps under bf16 and fp16 AMP (AdamW, BEATs-size
             frames), peak memory; fp16 + GradScaler on CUDA only (skipped on CPU, reason given)
  extract    `aac.features.extract.extract_features` over a wav.scp of synthetic WAVs
             (loading and HDF5 writing included), clips/s and RTF, with the per-call clip
             cap the encoder class declares for the device (`clips_per_call`) and the
             calls it made; on CUDA once more with the CPU's cap, to show what it costs
  torchrun   one process started by torchrun (`aac.train.distributed.torchrun_command`)
             that joins a process group (NCCL on CUDA, gloo on CPU) and all-reduces
  cuda_tests the tests marked `cuda` (pytest -m cuda); on CPU they are all skipped
A section that fails is recorded with its error and the others still run (exit 1). The
JSON report (--json) is rewritten atomically after every section, so a run stopped by a
time limit keeps what it measured.

Time on one H200 (estimated from the work sizes, not yet timed there): start-up and model
builds ~40 s (three random-init builds per encoder, two 5000-piece tokenizers), rtf 2 x 17
clips at ~0.1-0.3 s each plus CUDA warm-up ~30 s, train 2 x 33 steps of batch 32 ~15 s,
extract 2 encoders x 2 caps x 2 runs x 64 clips of 10 s ~60 s (file I/O dominated), torchrun
~20 s, cuda tests ~30 s: about 3-4 minutes, under the 8 minutes tools/gpu_check.sh allows.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
# Mean RTF of the paper's Table 2 (one clip at a time, beam 4, GPU), downsample 1.
PAPER_TABLE2_MEAN_RTF = {"pann_cnn14": 104.6, "beats": 42.9}
# BEATs frames of a 10 s clip (16 x 16 patches of 10 ms fbank frames): 62 x 8.
BEATS_FRAMES_10S = 496
TRAIN_DTYPES = (torch.bfloat16, torch.float16)
LIST_SECTIONS = ("rtf", "train", "extract")  # one row per encoder / dtype / (encoder, cap)
FP16_ON_CPU = "fp16 AMP (with GradScaler) is measured on CUDA only; CPU autocast runs bf16"


@dataclass(frozen=True)
class Sizes:
    paper_decoder: bool  # 6 x 768 (the paper) or a 1-layer, 32-wide one
    vocab_size: int
    rtf_clips: int
    clip_seconds: float
    max_length: int  # caption tokens (random weights rarely stop earlier)
    train_batch: int
    train_frames: int
    train_steps: int
    extract_clips: int  # more than every CPU cap, so that the cap shows in the calls
    extract_batch: int
    extract_warmup: bool  # an untimed run first (CUDA kernel selection); CPU: time is short


SIZES = {
    "cuda": Sizes(True, 5000, 16, 10.0, 20, 32, BEATS_FRAMES_10S, 30, 64, 32, True),
    "cpu": Sizes(False, 64, 2, 1.0, 4, 2, 40, 2, 5, 8, False),
}


def paper_decoder():
    from aac.model import ModelConf

    return ModelConf(
        d_model=768,
        decoder_layers=6,
        decoder_attention_heads=12,
        decoder_ffn_dim=3072,
        max_target_length=64,
    )


def decoder_conf(sizes: Sizes):
    from aac.model import ModelConf

    if sizes.paper_decoder:
        return paper_decoder()
    return ModelConf(d_model=32, decoder_layers=1, decoder_attention_heads=2, decoder_ffn_dim=64)


def pick_device(device: str) -> torch.device:
    """The device asked for; an error naming torch's CUDA build when CUDA is not there."""
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"no CUDA device (torch {torch.__version__}, built for CUDA {torch.version.cuda}); "
            "--device cpu runs the CPU fallback"
        )
    if dev.type not in SIZES:
        raise RuntimeError(f"--device must be cuda[:N] or cpu, got {device}")
    return dev


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
    """Noise plus one tone per clip (float32 (T,)), reproducible."""
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * rate)) / rate
    return {
        f"clip{i:03d}": (
            rng.normal(0, 0.05, t.shape) + 0.3 * np.sin(2 * np.pi * rng.uniform(100, 4000) * t)
        ).astype(np.float32)
        for i in range(num_clips)
    }


def measure_rtf(encoder: str, work: Path, dev, sizes: Sizes) -> dict:
    from aac.captioning import CaptionEngine, build_encoder_from_info
    from aac.expdir import load_model_from_expdir
    from aac.speed import PAPER_BEAM, PeakMemory, paper_rtf
    from aac.testing import make_random_exp_dir

    exp = make_random_exp_dir(
        work / f"exp_{encoder}",
        encoder=encoder,
        model_conf=decoder_conf(sizes),
        vocab_size=sizes.vocab_size,
    )
    loaded = load_model_from_expdir(exp, device=str(dev))
    enc = build_encoder_from_info(loaded.encoder_info, device=str(dev))
    engine = CaptionEngine.from_loaded(loaded, enc, beam=PAPER_BEAM, max_length=sizes.max_length)
    waves = synthetic_waves(sizes.rtf_clips, sizes.clip_seconds, enc.sample_rate)
    with PeakMemory(dev) as mem:
        rtf = paper_rtf(engine, waves, enc.sample_rate)
    row = beside_paper(encoder, rtf)
    row.update(peak_memory_mb=mem.peak_mb, memory=mem.kind, beam=rtf["beam"])
    row.update(num_clips=rtf["num_clips"], clip_seconds=sizes.clip_seconds)
    row.update(max_length=sizes.max_length, wall_s=rtf["wall_s"])
    return row


def measure_training(dev, amp_dtype: torch.dtype, sizes: Sizes) -> dict:
    """Clips/s of decoder training steps over BEATs-size frames (the longer encoder output)."""
    name = str(amp_dtype).replace("torch.", "")
    if dev.type == "cpu" and amp_dtype == torch.float16:
        return {"amp_dtype": name, "skipped": FP16_ON_CPU}
    from aac.model import CaptionModel
    from aac.speed import PeakMemory

    torch.manual_seed(0)
    conf, batch, vocab = decoder_conf(sizes), sizes.train_batch, sizes.vocab_size
    model = CaptionModel(768, vocab, conf, pad_id=1, bos_id=0, eos_id=2).to(dev)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    scaler = torch.amp.GradScaler(dev.type, enabled=amp_dtype == torch.float16)
    feats = torch.randn(batch, sizes.train_frames, 768, device=dev)  # (B, T, D)
    mask = torch.ones(batch, feats.size(1), dtype=torch.bool, device=dev)
    labels = torch.randint(3, vocab, (batch, 20), device=dev)
    labels[:, -1] = 2  # eos

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(dev.type, dtype=amp_dtype):
            loss = model(feats, mask, labels)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        return loss

    for _ in range(3):  # warm-up: allocator, cuBLAS heuristics
        step()
    with PeakMemory(dev) as mem:
        start = time.perf_counter()
        losses = [step() for _ in range(sizes.train_steps)]
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        wall = time.perf_counter() - start
    return {
        "amp_dtype": name,
        "batch_size": batch,
        "frames": sizes.train_frames,
        "decoder": f"{conf.decoder_layers} x {conf.d_model}",
        "steps": sizes.train_steps,
        "steps_per_s": sizes.train_steps / wall,
        "clips_per_s": sizes.train_steps * batch / wall,
        "peak_memory_mb": mem.peak_mb,
        "memory": mem.kind,
        "losses_finite": bool(torch.isfinite(torch.stack(losses)).all().item()),
    }


def write_wav_scp(work: Path, sizes: Sizes, rate: int) -> list:
    """Synthetic 16-bit WAVs and their (clip id, path) list, as a wav.scp holds them."""
    import soundfile as sf

    work.mkdir(parents=True, exist_ok=True)
    clips = []
    for clip_id, wave in synthetic_waves(sizes.extract_clips, sizes.clip_seconds, rate).items():
        path = work / f"{clip_id}.wav"
        sf.write(path, wave, rate, subtype="PCM_16")
        clips.append((clip_id, str(path)))
    return clips


def measure_extract(encoder: str, work: Path, dev, sizes: Sizes, cap_from: str) -> dict:
    """A warm-up extraction (`extract_warmup`), then a timed one, whose encoder calls are counted.

    `cap_from` names the device type whose declared `clips_per_call` applies: the device's
    own, or (on CUDA) "cpu", to measure what the CPU's cap would cost there.
    """
    from aac.encoders import build_encoder
    from aac.features.extract import extract_features

    enc = build_encoder(encoder, random_init=True)
    declared = dict(type(enc).clips_per_call)
    if cap_from != dev.type:
        enc.clips_per_call = {**declared, dev.type: declared.get(cap_from)}
    clips = write_wav_scp(work / f"wav_{enc.sample_rate}", sizes, enc.sample_rate)
    kwargs = dict(device=str(dev), batch_size=sizes.extract_batch, encoder_conf={})
    tag = f"{encoder}_{cap_from}"
    if sizes.extract_warmup:
        extract_features(enc, clips, str(work / f"warm_{tag}.h5"), **kwargs)
    calls, encode = [], enc.encode

    def counted(wave):  # (b, T) -> (b, T', D): base.forward calls this once per call
        calls.append(int(wave.shape[0]))
        return encode(wave)

    enc.encode = counted
    start = time.perf_counter()
    result = extract_features(enc, clips, str(work / f"feats_{tag}.h5"), **kwargs)
    wall = time.perf_counter() - start
    audio_s = len(clips) * sizes.clip_seconds
    return {
        "encoder": encoder,
        "clips_per_call_declared": declared,
        "cap_from": cap_from,
        "cap_used": enc.max_clips(dev),
        "encode_calls": len(calls),
        "max_clips_in_a_call": max(calls, default=0),
        "clips_written": result.written,
        "batch_size": sizes.extract_batch,
        "clip_seconds": sizes.clip_seconds,
        "clips_per_s": len(clips) / wall,
        "rtf": audio_s / wall,
        "wall_s": wall,
    }


def torchrun_worker(out: Path) -> int:
    """Inside torchrun: join a group of one (NCCL on CUDA, gloo on CPU), all-reduce, report."""
    from aac.atomic import write_json_atomic
    from aac.train import distributed as D

    start = time.perf_counter()
    dist = D.init_distributed(1 if torch.cuda.is_available() else 0, join_alone=True)
    value = torch.full((1,), float(dist.rank + 1), device=dist.device)
    torch.distributed.all_reduce(value)
    record = {
        "backend": str(torch.distributed.get_backend()),
        "world_size": torch.distributed.get_world_size(),
        "device": dist.device,
        "all_reduce": float(value.item()),
        "join_s": time.perf_counter() - start,
    }
    D.shutdown(dist)
    write_json_atomic(out, record)
    return 0


def torchrun_start(dev, work: Path) -> dict:
    """One process through torchrun, as `aac-train --nproc N` launches N."""
    from aac.train.distributed import torchrun_command

    out = work / "torchrun.json"
    cmd = torchrun_command(1, ["--torchrun-worker", str(out)], "benchmarks.gpu_check")
    env = dict(os.environ)
    if dev.type == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""  # the worker picks gloo and the CPU
    elif dev.index is not None:
        env["CUDA_VISIBLE_DEVICES"] = str(dev.index)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0 or not out.exists():
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-5:]
        raise RuntimeError(f"torchrun exited {proc.returncode}: " + " | ".join(tail))
    return {**json.loads(out.read_text()), "start_s": time.perf_counter() - start}


def run_cuda_tests() -> dict:
    """pytest -m cuda on the files that mark tests `cuda` (collecting the others would
    import what the GPU machine may lack); no tests, or all skipped, is not a pass."""
    files = sorted(
        str(p.relative_to(ROOT))
        for p in (ROOT / "tests").glob("test_*.py")
        if "pytest.mark.cuda" in p.read_text()
    )
    cmd = [sys.executable, "-m", "pytest", "-q", "-m", "cuda", "-p", "no:cacheprovider", *files]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    tail = (out.stdout + out.stderr).strip().splitlines()[-1:] or [""]
    status = {0: "passed", 5: "none collected"}.get(out.returncode, "failed")
    if status == "passed" and " passed" not in tail[0]:
        status = "all skipped"  # CUDA not visible to pytest: nothing was checked
    return {"status": status, "returncode": out.returncode, "files": files, "summary": tail[0]}


def environment(dev) -> dict:
    import transformers

    from aac.speed import cpu_name

    return {
        "device": str(dev),
        "gpu": torch.cuda.get_device_name(dev) if dev.type == "cuda" else None,
        "cpu": cpu_name(),
        "cpu_threads": torch.get_num_threads(),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "transformers": transformers.__version__,
        "numpy": np.__version__,
    }


def sections(dev, sizes: Sizes, encoders, work: Path, skip_tests: bool):
    """(report key, thunk) in run order; list-valued keys collect one row per thunk."""
    out = [("rtf", lambda e=e: measure_rtf(e, work, dev, sizes)) for e in encoders]
    out += [("train", lambda d=d: measure_training(dev, d, sizes)) for d in TRAIN_DTYPES]
    caps = [dev.type] + (["cpu"] if dev.type == "cuda" else [])
    out += [
        ("extract", lambda e=e, c=c: measure_extract(e, work, dev, sizes, c))
        for e in encoders
        for c in caps
    ]
    out.append(("torchrun", lambda: torchrun_start(dev, work)))
    if not skip_tests:
        out.append(("cuda_tests", run_cuda_tests))
    return out


def run_sections(report: dict, todo, json_path) -> bool:
    """Run each section, recording its row or its error; True when none failed."""
    from aac.atomic import write_json_atomic

    ok, first = True, time.perf_counter()
    for key, thunk in todo:
        start = time.perf_counter()
        try:
            row = thunk()
        except Exception as err:  # noqa: BLE001 - one failing section must not stop the rest
            traceback.print_exc()
            row, ok = {"error": f"{type(err).__name__}: {err}"}, False
        row["section_s"] = time.perf_counter() - start
        if key in LIST_SECTIONS:
            report[key].append(row)
        else:
            report[key] = row
        ok = ok and not (key == "cuda_tests" and row.get("status") == "failed")
        print(json.dumps({key: row}), flush=True)
        report["sections_s"] = time.perf_counter() - first
        if json_path:
            write_json_atomic(json_path, report)
    return ok


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--device", default="cuda", help="cuda[:N], or cpu for the tiny fallback")
    p.add_argument(
        "--encoders",
        nargs="+",
        choices=list(PAPER_TABLE2_MEAN_RTF),
        default=list(PAPER_TABLE2_MEAN_RTF),
    )
    p.add_argument("--skip-tests", action="store_true", help="do not run pytest -m cuda")
    p.add_argument("--json", type=Path, help="write the report here (after every section)")
    p.add_argument("--torchrun-worker", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.torchrun_worker:
        return torchrun_worker(args.torchrun_worker)
    try:
        dev = pick_device(args.device)
    except RuntimeError as err:
        print(f"gpu_check: error: {err}", file=sys.stderr)
        return 2
    sizes = SIZES[dev.type]
    report = {"environment": environment(dev), "sizes": asdict(sizes)}
    report.update({key: [] for key in LIST_SECTIONS})
    print(json.dumps(report["environment"]), flush=True)
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as tmp:
        todo = sections(dev, sizes, args.encoders, Path(tmp), args.skip_tests)
        ok = run_sections(report, todo, args.json)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
