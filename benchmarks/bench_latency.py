"""One clip at a time: a plain implementation of the paper's setting against aac's settings.

Usage: tools/venv/bin/python benchmarks/bench_latency.py EXP [EXP ...] --data-dir DATA
           [--num-clips 60] [--threads 2] [--beam 4] [--max-length 20]
           [--json OUT.json] [--markdown OUT.md]

Each EXP is a trained caption model over PANN Cnn14 or BEATs features (a random-init encoder
is fine: its features are still a fixed function of the audio; egs2/mini_clotho/aac1 with
conf/latency_finetune.yaml trains a paper-size decoder). On the clips of DATA (a Kaldi data
dir with wav.scp and text_spk1..5), one clip at a time, interleaved clip by clip
(aac.speed.run_settings), it runs:
  plain      the reference encoder code the tests compare with (panns-inference's Cnn14,
             SpeechBrain's BEATs port) holding the experiment's encoder weights, then HF
             `BartForConditionalGeneration.generate` with its defaults (no shared
             cross-attention cache), under torch.no_grad, all fp32
  aac fp32   aac's paper setting (aac.speed.paper_timings, the one captioning path), its
             Linear weights packed for oneDNN (aac.prepack, the default on CPU)
  aac fp32 unpacked  the same on torch's default Linear path (the prepacking lever alone)
  aac bf16   weights stored in bfloat16 and packed (Captioner.variant), autocast
  aac int8   dynamic int8 Linear layers, encoder and decoder (Captioner.variant)
and prints per setting: RTF mean / median / p10 (audio seconds per wall second), mean RTF
against plain, CIDEr-D on DATA's references (the aac-score scorer), the share of captions
identical to aac fp32, decoder ms per output token; then the machine's floors: encoder FLOPs
per clip over the measured matmul rate, decoder weights read per token step over the
measured memory bandwidth, and the part of a step no weight format changes (a stand-in
4 channels per head wide through the same path: aac.speed.decoder_step_overhead_ms). A
reduced-precision setting passes when its CIDEr-D is within 1% of aac fp32's. Before
timing, the plain encoder's frames are checked against aac's.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import importlib.util
import sys
import tempfile
import time
import types
from functools import partial
from pathlib import Path
from typing import Callable, Dict, List

import numpy as np
import torch

from aac.captioning import EMPTY_CAPTION

PANN_FRONTENDS = {16000: (512, 160, 64, 50, 8000), 32000: (1024, 320, 64, 50, 14000)}
QUALITY_BAR = 0.01  # a reduced-precision setting may lose at most 1% CIDEr-D


def panns_models():
    """panns-inference's models module, without importing the package (that downloads)."""
    spec = importlib.util.find_spec("panns_inference")
    if spec is None:
        raise SystemExit("panns-inference is not installed (tools/requirements.txt, test-only)")
    pkg = types.ModuleType("_panns_ref")
    pkg.__path__ = [str(Path(spec.origin).parent)]
    sys.modules.setdefault("_panns_ref", pkg)
    return importlib.import_module("_panns_ref.models")


def plain_pann(encoder) -> Callable[[torch.Tensor], torch.Tensor]:
    """(1, N) wave -> (1, T, 2048) frames from panns-inference's Cnn14 with these weights."""
    models = panns_models()
    ref = models.Cnn14(encoder.sample_rate, *PANN_FRONTENDS[encoder.sample_rate], 527).eval()
    ref.load_state_dict(encoder.state_dict())  # dense weights even where aac packed them

    def frames(wave):
        x = ref.logmel_extractor(ref.spectrogram_extractor(wave))
        x = ref.bn0(x.transpose(1, 3)).transpose(1, 3)
        for i in range(1, 7):
            pool = (2, 2) if i < 6 else (1, 1)
            x = getattr(ref, f"conv_block{i}")(x, pool_size=pool, pool_type="avg")
        return x.mean(dim=3).transpose(1, 2)

    return frames


def plain_beats(encoder) -> Callable[[torch.Tensor], torch.Tensor]:
    """(1, N) wave -> (1, T, C) frames from SpeechBrain's BEATs port with these weights."""
    from speechbrain.lobes.models.beats import BEATs

    names = {
        "pos_conv.0.weight_g": "pos_conv.0.parametrizations.weight.original0",
        "pos_conv.0.weight_v": "pos_conv.0.parametrizations.weight.original1",
    }
    state = {}
    for key, value in encoder.state_dict().items():
        for old, new in names.items():
            key = key.replace(old, new)
        state[key] = value
    with tempfile.TemporaryDirectory() as tmp:  # the port loads an official-layout file only
        path = Path(tmp) / "beats.pt"
        torch.save({"cfg": dict(encoder.cfg), "model": state}, path)
        ref = BEATs(ckp_path=str(path), freeze=True).eval()  # strict load_state_dict
    pool = encoder.conf.freq_pool

    def frames(wave):
        x = ref.extract_features(wave, torch.ones(1))[0]
        if ref.cfg.layer_norm_first:  # the official encoder ends with its LayerNorm here
            x = ref.encoder.layer_norm(x)
        if pool:
            b, n, c = x.shape
            x = x.view(b, n // encoder.freq_tokens, encoder.freq_tokens, c).mean(2)
        return x

    return frames


PLAIN_ENCODERS = {"pann_cnn14": plain_pann, "pann_cnn14_16k": plain_pann, "beats": plain_beats}


def plain_setting(captioner, beam: int, max_length: int) -> Callable:
    """The paper's setting written plainly: reference encoder, then HF `generate` defaults
    on a copy of the caption model with torch's default Linear layers."""
    from aac.prepack import unprepack_linears

    model = unprepack_linears(copy.deepcopy(captioner.loaded.model))
    tok = captioner.loaded.tokenizer
    name = captioner.enc_info["name"]
    if name not in PLAIN_ENCODERS:
        raise SystemExit(f"{name}: no plain reference encoder (known: {sorted(PLAIN_ENCODERS)})")
    if captioner.engine.extract_stride != 1 or captioner.engine.stride != 1:
        raise SystemExit("the plain baseline is the paper's x1 setting: strides must be 1")
    frames = PLAIN_ENCODERS[name](captioner.encoder)

    def run(waves):
        captions, enc, dec = [], np.zeros(len(waves)), np.zeros(len(waves))
        for i, wave in enumerate(waves):
            with torch.no_grad():
                start = time.perf_counter()
                feats = frames(torch.as_tensor(wave, dtype=torch.float32)[None])  # (1, T, D)
                encoded = time.perf_counter()
                mask = torch.ones(feats.shape[:2], dtype=torch.bool)
                ids = model.bart.generate(
                    encoder_outputs=model.encode(feats, mask),
                    attention_mask=mask.long(),
                    num_beams=beam,
                    max_length=max_length + 1,  # + the bos start token, as aac counts
                    decoder_start_token_id=model.bos_id,
                    bos_token_id=model.bos_id,
                    eos_token_id=model.eos_id,
                    pad_token_id=model.pad_id,
                )
                enc[i], dec[i] = encoded - start, time.perf_counter() - encoded
            captions.append(tok.decode(ids[0].tolist()) or EMPTY_CAPTION)  # as aac writes it
        return captions, enc, dec

    run.frames = frames
    return run


def check_plain_frames(captioner, plain, wave) -> str:
    """The plain encoder's frames against aac's on one clip: frame counts, relative error."""
    with torch.no_grad():
        ours = captioner.encode([wave])[0]  # (T, D)
        theirs = plain.frames(torch.as_tensor(wave, dtype=torch.float32)[None])[0]
    n = min(len(ours), len(theirs))
    diff = (ours[:n] - theirs[:n]).abs().max() / theirs[:n].abs().max().clamp(min=1e-12)
    return f"{len(theirs)} vs {len(ours)} frames, max difference {diff:.2g} of the largest"


def settings_of(captioner, beam: int, max_length: int) -> Dict[str, Callable]:
    from aac.speed import paper_timings

    return {
        "plain": plain_setting(captioner, beam, max_length),
        "aac fp32": partial(paper_timings, captioner.engine),
        "aac fp32 unpacked": partial(paper_timings, captioner.variant(prepack=False).engine),
        "aac bf16": partial(paper_timings, captioner.variant(dtype="bfloat16").engine),
        "aac int8": partial(paper_timings, captioner.variant(quantize="int8").engine),
    }


def cider_d(captions: List[str], refs: List[List[str]]) -> float:
    from aac.metrics.scoring import score_captions

    scores = score_captions(captions, refs, ["cider_d"])
    if "cider_d" not in scores.corpus:
        raise SystemExit(f"CIDEr-D unavailable: {scores.unavailable}")
    return scores.corpus["cider_d"]


def measure(exp: str, args) -> dict:
    """Every setting on the same clips of one experiment: figures per setting and floors."""
    from aac.audio import load_mono
    from aac.captioner import Captioner
    from aac.datadir import read_kaldi_text, read_references
    from aac.speed import machine_floors, ms_per_token, rtf_stats, run_settings

    captioner = Captioner.from_pretrained(
        exp, beam=args.beam, max_length=args.max_length, batch_size=1
    )
    scp = read_kaldi_text(Path(args.data_dir) / "wav.scp")
    refs = read_references(args.data_dir)
    ids = sorted(scp)[: args.num_clips]
    waves = [load_mono(scp[i], captioner.sample_rate) for i in ids]
    durations = [len(w) / captioner.sample_rate for w in waves]
    settings = settings_of(captioner, args.beam, args.max_length)
    print(
        f"{exp}: encoder {captioner.enc_info['name']}; plain encoder check: "
        f"{check_plain_frames(captioner, settings['plain'], waves[0])}",
        flush=True,
    )
    results = run_settings(settings, waves, batch_size=1)
    fp32 = next(r for r in results if r.name == "aac fp32")
    plain_rtf = rtf_stats(durations, results[0].wall_s)["mean"]
    rows = {}
    for r in results:
        stats = rtf_stats(durations, r.wall_s)
        rows[r.name] = {
            **stats,
            "ratio_to_plain": stats["mean"] / plain_rtf,
            "cider_d": cider_d(r.captions, [refs[i] for i in ids]),
            "identical_to_fp32": float(
                np.mean([a == b for a, b in zip(r.captions, fp32.captions)])
            ),
            "decoder_ms_per_token": ms_per_token(r, captioner.loaded.tokenizer),
            "encoder_s": float(r.enc_s.sum()),
            "decoder_s": float(r.dec_s.sum()),
            "captions": dict(zip(ids, r.captions)),
        }
    bar = (1 - QUALITY_BAR) * rows["aac fp32"]["cider_d"]
    for name, row in rows.items():
        row["passes_quality_bar"] = name in ("plain", "aac fp32") or row["cider_d"] >= bar
    from aac.hashing import file_sha256

    return {
        "encoder": captioner.enc_info["name"],
        "model_checkpoint": captioner.loaded.checkpoint,
        "model_checkpoint_sha256": file_sha256(captioner.loaded.checkpoint),
        "clips": len(waves),
        "audio_s": float(sum(durations)),
        "settings": rows,
        "floors": machine_floors(captioner, waves),
    }


def markdown(record: dict) -> str:
    """The table of the closing note and README: one block per encoder."""
    env = record["environment"]
    lines = [
        f"CPU: {env['cpu']}, {env['threads']} threads, torch {env['torch']}, transformers "
        f"{env['transformers']}; beam {record['beam']}, at most {record['max_length']} caption "
        "tokens, one clip at a time (benchmarks/bench_latency.py).",
        "",
        "| encoder | setting | RTF mean | RTF median | RTF p10 | x plain | CIDEr-D "
        "| identical to fp32 | decoder ms/token | quality bar |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for exp in record["experiments"]:
        for name, r in exp["settings"].items():
            bar = (
                ""
                if name in ("plain", "aac fp32")
                else ("passes" if r["passes_quality_bar"] else "fails")
            )
            lines.append(
                f"| {exp['encoder']} | {name} | {r['mean']:.2f} | {r['median']:.2f} | {r['p10']:.2f} "
                f"| {r['ratio_to_plain']:.2f} | {r['cider_d']:.3f} | {r['identical_to_fp32']:.0%} "
                f"| {r['decoder_ms_per_token']:.1f} | {bar} |"
            )
    lines += [
        "",
        "| encoder | clips | audio s | encoder GFLOP/clip | floor s/clip fp32 | floor s/clip bf16 "
        "| decoder weights/step | memory GB/s | floor ms/step fp32 | bf16 | int8 "
        "| step overhead ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for exp in record["experiments"]:
        f = exp["floors"]
        lines.append(
            f"| {exp['encoder']} | {exp['clips']} | {exp['audio_s']:.0f} "
            f"| {f['encoder_gflop_per_clip']:.1f} | {f['floor_s_per_clip_fp32']:.3f} "
            f"| {f['floor_s_per_clip_bf16']:.3f} | {f['decoder_weights_per_step'] / 1e6:.1f} M "
            f"| {f['memory_gbs']:.1f} | {f['decoder_floor_ms_per_step_fp32']:.2f} "
            f"| {f['decoder_floor_ms_per_step_bf16']:.2f} | {f['decoder_floor_ms_per_step_int8']:.2f} "
            f"| {f['decoder_overhead_ms_per_step']:.2f} |"
        )
    return "\n".join(lines)


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("exp", nargs="+", help="trained caption experiment(s) (reads)")
    p.add_argument("--data-dir", required=True, help="Kaldi data dir with text_spk1..5 (reads)")
    p.add_argument("--num-clips", type=int, default=60)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--beam", type=int, default=4)
    p.add_argument("--max-length", type=int, default=20, help="caption tokens (default 20)")
    p.add_argument("--json", help="write every figure and caption here")
    p.add_argument("--markdown", help="write the table here")
    return p


def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    from aac.atomic import write_json_atomic, write_text_atomic
    from aac.speed import machine_facts

    record = {
        "environment": machine_facts("cpu", "float32"),
        "beam": args.beam,
        "max_length": args.max_length,
        "experiments": [measure(exp, args) for exp in args.exp],
    }
    table = markdown(record)
    print(table)
    if args.json:
        write_json_atomic(args.json, record)
    if args.markdown:
        write_text_atomic(args.markdown, table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
