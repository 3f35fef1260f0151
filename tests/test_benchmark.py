"""Benchmark statistics, memory sampling and the aac-benchmark CLI on a tiny model."""

import json
import mmap
import threading

import numpy as np
import pytest
import soundfile as sf
import torch
from caption_fixtures import tiny_decoder

from aac import speed
from aac.bin.benchmark import main
from aac.speed import PeakRss, SettingResult, count_changed, format_table, rtf_stats


def test_rtf_stats_by_hand():
    s = rtf_stats(durations=[10, 10, 5, 20], walls=[1, 2, 1, 10])  # RTF 10, 5, 5, 2
    assert s["mean"] == pytest.approx(5.5)
    assert s["median"] == pytest.approx(5.0)
    assert s["p10"] == pytest.approx(2 + 0.3 * 3)  # numpy linear interpolation
    assert s["throughput"] == pytest.approx(45 / 14)


def test_rss_sees_an_allocation():
    before = speed._rss_mb()
    # 80 MiB of fresh pages from mmap, every page written: malloc could hand back pages
    # that an earlier test left resident, which would not raise RSS at all
    block = mmap.mmap(-1, 80 * 2**20)
    for offset in range(0, len(block), mmap.PAGESIZE):
        block[offset] = 1
    during = speed._rss_mb()
    block.close()
    assert during - before > 60


def test_peak_rss_keeps_a_peak_only_its_sampler_thread_saw(monkeypatch):
    """A spike that is over before the block ends: only the sampler can have seen it, and
    the test waits for it to have done so instead of sleeping and hoping."""
    spike, seen = threading.Event(), threading.Event()

    def fake_rss():
        if spike.is_set() and threading.current_thread() is not threading.main_thread():
            seen.set()
            return 500.0
        return 100.0

    monkeypatch.setattr(speed, "_rss_mb", fake_rss)
    with PeakRss() as rss:
        spike.set()
        assert seen.wait(60), "the sampler thread never sampled"
        spike.clear()
    assert rss.peak == 500.0


def test_table_ratio_and_changed_captions():
    paper = SettingResult("paper", ["a", "b"], np.array([1.0, 1.0]), np.array([1.0, 1.0]), 100)
    fast = SettingResult("fastest", ["a", "c"], np.array([0.5, 0.5]), np.array([0.1, 0.1]), 120)
    table = format_table([paper, fast], durations=[10, 10])
    assert count_changed(paper.captions, fast.captions) == 1
    row = [c.strip() for c in table.splitlines()[3].split("|")[1:-1]]
    assert row[0] == "fastest" and row[4] == f"{4 / 1.2:.2f}"  # 20 s/1.2 s vs 20 s/4 s
    assert row[6:] == ["83", "17", "1/2"]


@pytest.fixture
def tiny_model_and_clips(tmp_path):
    from aac.testing import make_random_exp_dir

    torch.set_num_threads(1)
    conf = tiny_decoder(d_model=32, layers=1, max_length=6)
    exp = make_random_exp_dir(tmp_path / "exp", encoder="logmel", model_conf=conf)
    rng = np.random.default_rng(0)
    data = tmp_path / "data"
    data.mkdir()
    lines = []
    for i in range(4):
        path = tmp_path / f"clip{i}.wav"
        sf.write(path, rng.normal(0, 0.1, 4000 * (i + 1)).astype(np.float32), 16000)
        lines.append(f"clip{i} {path}\n")
    (data / "wav.scp").write_text("".join(lines))
    return exp, data


def test_cli_reports_both_settings_and_variants(tiny_model_and_clips, tmp_path, capsys):
    exp, data = tiny_model_and_clips
    rc = main(
        [
            str(exp),
            "--data-dir",
            str(data),
            "--num-clips",
            "3",
            "--batch-size",
            "2",
            "--quantize",
            "int8",
            "--compute-dtype",
            "bfloat16",
            "--profile-clips",
            "1",
            "--json",
            str(tmp_path / "bench.json"),
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0
    for name in ("| paper |", "| fastest |", "| fastest+int8 |", "| fastest+bfloat16 |"):
        assert name in out
    assert "fastest / paper throughput" in out and "Self CPU" in out and "GFLOP/s" in out
    record = json.loads((tmp_path / "bench.json").read_text())
    assert record["clips"] == 3 and record["audio_s"] == pytest.approx(1.5)
    assert record["settings"]["paper"]["captions"] == record["settings"]["fastest"]["captions"]
    assert record["matmul_gflops_fp32"] > 0 and record["memory_gbs"] > 0
    assert "weights read per token step" in out and "no weight format changes" in out
    assert record["decoder_overhead_ms_per_step"] > 0
    per_step = record["decoder_weights_per_step"]  # fp32 floor: 4 bytes each over bandwidth
    assert record["decoder_floor_ms_per_step_fp32"] == pytest.approx(
        4 * per_step / record["memory_gbs"] / 1e6
    )
    env = record["environment"]  # what produced these figures
    assert env["threads"] == torch.get_num_threads() and env["torch"] == torch.__version__
    assert (env["device"], env["dtype"]) == ("cpu", "float32") and env["cpu"]


def test_encoder_flops_count_cpu_attention():
    """The floor figure counts attention on CPU: Q K^T and A V of a known size, by hand."""
    from types import SimpleNamespace

    from aac.speed import encoder_flops

    b, h, t, d = 1, 2, 10, 4
    q, k, v = torch.randn(b, h, t, d), torch.randn(b, h, t, d), torch.randn(b, h, t, d)
    bias = torch.randn(b, h, t, t)
    fake = SimpleNamespace(
        encode=lambda waves: torch.nn.functional.scaled_dot_product_attention(
            q, k, v, attn_mask=bias
        )
    )
    assert encoder_flops(fake, np.zeros(1)) == 2 * (2 * b * h * t * t * d)


def test_decoder_weights_per_step_counts_what_a_step_reads():
    """Every decoder Linear and the vocabulary projection; not the cross-attention keys and
    values (once per clip), not embeddings or norms. Counted by hand for d 32, 1 layer."""
    from aac.model import CaptionModel
    from aac.speed import decoder_weights_per_step

    d, ffn, vocab = 32, 64, 50
    conf = tiny_decoder(d_model=d, layers=1, max_length=6)  # FFN 2 x d_model
    model = CaptionModel(8, vocab, conf, pad_id=0, bos_id=1, eos_id=2)
    self_attn, cross_q_out, feed_forward = 4 * d * d, 2 * d * d, 2 * d * ffn
    assert decoder_weights_per_step(model) == self_attn + cross_q_out + feed_forward + vocab * d


def test_ms_per_token_divides_by_caption_tokens_plus_eos():
    from types import SimpleNamespace

    from aac.speed import SettingResult, ms_per_token

    tok = SimpleNamespace(encode=lambda text: text.split())
    result = SettingResult("x", ["a b c", "a"], np.zeros(2), np.array([0.4, 0.2]), 0.0)
    assert ms_per_token(result, tok) == pytest.approx(1e3 * (0.4 / 4 + 0.2 / 2) / 2)


def test_cli_reports_reranked_rows_beside_beam_search(tiny_model_and_clips, tmp_path, capsys):
    exp, data = tiny_model_and_clips
    config = tmp_path / "decode.yaml"
    config.write_text("rerank: {similarity_weight: 0.0}\n")
    argv = [str(exp), "--data-dir", str(data), "--num-clips", "3", "--batch-size", "2"]
    argv += ["--profile-clips", "0", "--json", str(tmp_path / "bench.json")]
    argv += ["--candidates", "beam", "--decode-config", str(config)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    for name in ("| paper |", "| fastest |", "| paper+rerank |", "| fastest+rerank |"):
        assert name in out
    settings = json.loads((tmp_path / "bench.json").read_text())["settings"]
    assert settings["paper+rerank"]["captions"] == settings["fastest+rerank"]["captions"]
    assert all(s["throughput"] > 0 for s in settings.values())
