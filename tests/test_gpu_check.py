"""benchmarks/gpu_check.py: its CPU fallback end to end (the CI smoke test), and its parts."""

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
# What the GPU machine may not have at all (tools/gpu_check.sh ships no wheel for them).
ABSENT_THERE = ("aac_metrics", "matplotlib")


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "benchmarks/gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    del sys.modules["gpu_check"]


def blocked_modules(tmp_path, names) -> Path:
    """A directory that, first on PYTHONPATH, makes `import NAME` fail (in subprocesses too)."""
    shim = tmp_path / "absent"
    shim.mkdir()
    for name in names:
        (shim / f"{name}.py").write_text(f"raise ImportError('{name} is absent (test shim)')\n")
    return shim


def positive(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


# Not marked slow (it takes ~30-50 s on 2 cores): `make test-latest` deselects slow tests,
# and its stack (transformers 5, numpy 2) is the GPU machine's, so it should run there too.
def test_cpu_fallback_runs_every_section_without_aac_metrics(tmp_path):
    report_path = tmp_path / "report.json"
    shim = blocked_modules(tmp_path, ABSENT_THERE)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(shim), str(ROOT)])}
    cmd = [sys.executable, "benchmarks/gpu_check.py", "--device", "cpu", "--json", str(report_path)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    report = json.loads(report_path.read_text())
    assert report["environment"]["device"] == "cpu" and report["sizes"]["rtf_clips"] >= 1
    rows = [*report["rtf"], *report["train"], *report["extract"], report["torchrun"]]
    assert not [r for r in rows + [report["cuda_tests"]] if "error" in r]

    paper = {"pann_cnn14": 104.6, "beats": 42.9}
    assert [r["encoder"] for r in report["rtf"]] == list(paper)
    for row in report["rtf"]:
        assert positive(row["rtf_mean"]) and positive(row["rtf_p10"]), row
        assert row["paper_table2_mean"] == paper[row["encoder"]] and row["beam"] == 4
        assert row["measured_over_paper"] == pytest.approx(
            row["rtf_mean"] / row["paper_table2_mean"]
        )
        assert positive(row["peak_memory_mb"]) and row["num_clips"] == report["sizes"]["rtf_clips"]

    bf16, fp16 = report["train"]
    assert bf16["amp_dtype"] == "bfloat16" and bf16["losses_finite"] is True
    assert positive(bf16["clips_per_s"]) and positive(bf16["peak_memory_mb"])
    assert fp16["amp_dtype"] == "float16" and "CUDA" in fp16["skipped"]

    from aac.encoders import ENCODERS

    clips = report["sizes"]["extract_clips"]
    assert [r["encoder"] for r in report["extract"]] == list(paper)
    for row in report["extract"]:
        cap = ENCODERS[row["encoder"]].cls.clips_per_call["cpu"]
        assert row["cap_from"] == "cpu" and row["cap_used"] == cap and clips > cap
        assert row["max_clips_in_a_call"] == cap  # the real path split calls at the cap
        assert row["encode_calls"] == -(-clips // cap) and row["clips_written"] == clips
        assert positive(row["clips_per_s"]) and positive(row["rtf"])

    run = report["torchrun"]
    assert (run["backend"], run["world_size"], run["all_reduce"]) == ("gloo", 1, 1.0)
    assert positive(run["start_s"])
    tests = report["cuda_tests"]
    assert tests["files"] == ["tests/test_cuda.py"]
    assert tests["status"] == ("passed" if torch.cuda.is_available() else "all skipped")
    assert positive(report["sections_s"])


def test_without_cuda_it_stops_with_one_error_line(gpu_check, monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    report = tmp_path / "report.json"
    assert gpu_check.main(["--json", str(report)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("gpu_check: error: no CUDA device")
    assert "--device cpu" in err[0] and not report.exists()


def test_other_device_types_are_refused(gpu_check, capsys):
    assert gpu_check.main(["--device", "meta"]) == 2
    assert "must be cuda[:N] or cpu" in capsys.readouterr().err


def test_a_failing_section_is_recorded_and_the_others_still_run(gpu_check, tmp_path):
    def broken():
        raise ValueError("boom")

    report = {"rtf": [], "train": [], "extract": []}
    todo = [("rtf", broken), ("torchrun", lambda: {"backend": "gloo"})]
    assert gpu_check.run_sections(report, todo, tmp_path / "r.json") is False
    written = json.loads((tmp_path / "r.json").read_text())
    assert written["rtf"][0]["error"] == "ValueError: boom"
    assert written["torchrun"]["backend"] == "gloo" and written["sections_s"] >= 0


def test_failed_cuda_tests_fail_the_check(gpu_check, tmp_path):
    report = {"rtf": [], "train": [], "extract": []}
    todo = [("cuda_tests", lambda: {"status": "failed"})]
    assert gpu_check.run_sections(report, todo, None) is False
    assert gpu_check.run_sections(report, [("cuda_tests", lambda: {"status": "passed"})], None)


def test_rtf_is_reported_beside_table_2(gpu_check):
    row = gpu_check.beside_paper("beats", {"mean": 85.8, "median": 80.0, "p10": 60.0})
    assert row["paper_table2_mean"] == 42.9
    assert row["measured_over_paper"] == pytest.approx(2.0)
    assert gpu_check.beside_paper("pann_cnn14", {})["measured_over_paper"] is None
    assert set(gpu_check.PAPER_TABLE2_MEAN_RTF) == {"pann_cnn14", "beats"}


def test_the_gpu_run_uses_the_paper_decoder_and_cpu_a_tiny_one(gpu_check):
    conf = gpu_check.decoder_conf(gpu_check.SIZES["cuda"])
    assert (conf.d_model, conf.decoder_layers, conf.decoder_attention_heads) == (768, 6, 12)
    assert conf.decoder_ffn_dim == 3072 and gpu_check.SIZES["cuda"].vocab_size == 5000
    assert gpu_check.decoder_conf(gpu_check.SIZES["cpu"]).decoder_layers == 1


def test_the_wheels_stay_out_of_git():
    out = subprocess.run(
        ["git", "check-ignore", "-q", "tools/gpu_wheels/soundfile-0.14.0-py2.py3-none-any.whl"],
        cwd=ROOT,
    )
    assert out.returncode == 0


def test_gpu_check_sh_installs_nothing_where_every_shipped_module_imports():
    # tools/venv has every package the script ships wheels of, so each module name it
    # checks must import here; a wrong name would send it looking for wheels.
    env = {**os.environ, "PYTHON": sys.executable}
    proc = subprocess.run(
        ["bash", "tools/gpu_check.sh", "--install-only"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "nothing to install" in proc.stderr
