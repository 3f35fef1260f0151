"""aac.speed.paper_timings: the one timer of the paper's setting, behind stage 6's rtf.json
(`paper_rtf`) and aac-benchmark's paper row."""

import argparse
import functools
import mmap
import time

import numpy as np
import pytest
import torch
from caption_fixtures import tiny_decoder

from aac import speed
from aac.testing import make_random_exp_dir

TINY = tiny_decoder(d_model=16, layers=1, max_length=4)


@pytest.fixture(scope="module")
def captioner(tmp_path_factory):
    from aac.captioner import Captioner

    torch.set_num_threads(1)
    exp = make_random_exp_dir(tmp_path_factory.mktemp("speed"), encoder="logmel", model_conf=TINY)
    return Captioner.from_pretrained(exp, beam=2)


def waves(n=3):
    rng = np.random.default_rng(0)
    return [(0.1 * rng.standard_normal(8000 * (i + 1))).astype(np.float32) for i in range(n)]


def test_paper_timings_times_each_clip_alone_in_input_order(captioner):
    clips = waves()
    captions, enc, dec = speed.paper_timings(captioner.engine, clips)
    assert captions == [captioner.caption_waves([w])[0] for w in clips]
    assert enc.shape == dec.shape == (3,) and (enc > 0).all() and (dec > 0).all()


def test_paper_rtf_and_the_benchmark_use_the_one_timer(captioner, monkeypatch):
    calls = []

    def fake(engine, clips):
        calls.append(len(clips))
        n = len(clips)
        return ["x"] * n, np.full(n, 0.25), np.full(n, 0.25)

    monkeypatch.setattr(speed, "paper_timings", fake)
    clips = waves()
    record = speed.paper_rtf(captioner.engine, {f"c{i}": w for i, w in enumerate(clips)}, 16000)
    assert calls == [1, 3]  # one warm-up clip, then every clip
    assert record["per_clip"] == {f"c{i}": (i + 1) * 0.5 / 0.5 for i in range(3)}
    assert record["throughput"] == pytest.approx(3.0 / 1.5) and record["batch_size"] == 1
    from aac.bin.benchmark import build_settings

    args = argparse.Namespace(quantize=None, compute_dtype=None, beam=4, device="cpu")
    assert build_settings(args, captioner)["paper"](clips)[0] == ["x"] * 3


def test_step_overhead_runs_a_narrow_stand_in_every_step_through_the_captioning_path(
    captioner, monkeypatch
):
    from transformers import BartForConditionalGeneration

    import aac.captioning

    calls, widths = [], []
    captioned = aac.captioning.generate_captions
    forward = BartForConditionalGeneration.forward

    def spy_captions(model, *args, **kwargs):
        widths.append((model.conf.d_model, model.conf.decoder_layers, model.bart.config.vocab_size))
        return captioned(model, *args, **kwargs)

    @functools.wraps(forward)  # generate reads the forward's signature
    def spy_forward(self, *args, **kwargs):
        calls.append(kwargs["decoder_input_ids"].shape[0])  # rows: clips x beams
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(aac.captioning, "generate_captions", spy_captions)
    monkeypatch.setattr(BartForConditionalGeneration, "forward", spy_forward)
    model, tok = captioner.loaded.model, captioner.loaded.tokenizer
    ms = speed.decoder_step_overhead_ms(model, tok, beam=3, steps=5, runs=2)
    assert ms > 0 and np.isfinite(ms)
    # the stand-in keeps the layers and vocabulary, 4 channels per head; eos barred, so
    # each of the 3 runs (1 warm-up) takes all 5 steps, each over the 3 beams
    assert widths == [(4 * TINY.decoder_attention_heads, TINY.decoder_layers, tok.vocab_size)] * 3
    assert calls == [3] * 15


def test_peak_memory_on_cpu_sees_an_allocation_inside_the_block():
    from aac.speed import PeakMemory, cpu_name

    with PeakMemory("cpu") as idle:
        pass
    with PeakMemory("cpu") as busy:
        # 64 MiB of fresh anonymous pages, touched: malloc could hand back pages this
        # long-lived process already holds (no RSS growth), a new mapping cannot
        block = mmap.mmap(-1, 64 * 2**20)
        block.write(b"\1" * len(block))
        time.sleep(0.05)
        block.close()
    assert idle.peak_mb > 0 and busy.kind == "process peak RSS"
    assert busy.peak_mb >= idle.peak_mb + 48
    assert cpu_name()
