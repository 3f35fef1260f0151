"""benchmarks/gpu_check.py: what can be checked without a GPU."""

import importlib.util
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "benchmarks/gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_without_cuda_it_stops_with_one_error_line(gpu_check, monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    report = tmp_path / "report.json"
    assert gpu_check.main(["--json", str(report)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("gpu_check: error: no CUDA device")
    assert not report.exists()


def test_a_cpu_device_is_refused_even_with_cuda(gpu_check, monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert gpu_check.main(["--device", "cpu"]) == 2
    assert "must be a CUDA device" in capsys.readouterr().err


def test_rtf_is_reported_beside_table_2(gpu_check):
    row = gpu_check.beside_paper("beats", {"mean": 85.8, "median": 80.0, "p10": 60.0})
    assert row["paper_table2_mean"] == 42.9
    assert row["measured_over_paper"] == pytest.approx(2.0)
    assert gpu_check.beside_paper("pann_cnn14", {})["measured_over_paper"] is None
    assert set(gpu_check.PAPER_TABLE2_MEAN_RTF) == {"pann_cnn14", "beats"}


def test_the_paper_decoder_is_paper_size(gpu_check):
    conf = gpu_check.paper_decoder()
    assert (conf.d_model, conf.decoder_layers, conf.decoder_attention_heads) == (768, 6, 12)
    assert conf.decoder_ffn_dim == 3072
