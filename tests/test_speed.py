"""aac.speed.paper_timings: the one timer of the paper's setting, behind stage 6's rtf.json
(`paper_rtf`) and aac-benchmark's paper row."""

import argparse
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
