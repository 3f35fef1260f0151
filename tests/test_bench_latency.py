"""benchmarks/bench_latency.py: the plain baseline computes what aac computes, and the table
reports every setting with its quality figures."""

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from caption_fixtures import tiny_decoder

from aac.hashing import file_sha256

ROOT = Path(__file__).resolve().parent.parent
pytest.importorskip("speechbrain.lobes.models.beats", reason="speechbrain (test-only) missing")
if importlib.util.find_spec("panns_inference") is None:
    pytest.skip("panns-inference (test-only reference) is not installed", allow_module_level=True)


def bench():
    spec = importlib.util.spec_from_file_location(
        "bench_latency", ROOT / "benchmarks" / "bench_latency.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_latency"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def data_dir(tmp_path):
    rng = np.random.default_rng(0)
    data = tmp_path / "data"
    data.mkdir()
    scp, refs = [], {i: [] for i in range(1, 6)}
    for i in range(3):
        path = tmp_path / f"clip{i}.wav"
        sf.write(path, rng.normal(0, 0.1, 16000 + 4000 * i).astype(np.float32), 16000)
        scp.append(f"clip{i} {path}\n")
        for k in refs:
            refs[k].append(f"clip{i} a dog barks {k} times near clip {i}\n")
    (data / "wav.scp").write_text("".join(scp))
    for k, lines in refs.items():
        (data / f"text_spk{k}").write_text("".join(lines))
    return data


@pytest.mark.parametrize("encoder", ["pann_cnn14_16k", "beats"])
def test_plain_baseline_matches_aac_and_table_has_every_setting(tmp_path, data_dir, encoder):
    from aac.testing import make_random_exp_dir

    exp = make_random_exp_dir(
        tmp_path / "exp", encoder=encoder, model_conf=tiny_decoder(d_model=32, layers=1)
    )
    out = tmp_path / "latency.json"
    module = bench()
    rc = module.main(
        [
            str(exp),
            "--data-dir",
            str(data_dir),
            "--num-clips",
            "3",
            "--threads",
            "1",
            "--max-length",
            "5",
            "--json",
            str(out),
            "--markdown",
            str(tmp_path / "t.md"),
        ]
    )
    assert rc == 0
    record = json.loads(out.read_text())
    (run,) = record["experiments"]
    settings = run["settings"]
    assert run["model_checkpoint_sha256"] == file_sha256(run["model_checkpoint"])
    assert list(settings) == ["plain", "aac fp32", "aac fp32 unpacked", "aac bf16", "aac int8"]
    # the plain implementation is the same computation: same captions as aac fp32, packed
    # Linear weights or not
    assert settings["plain"]["captions"] == settings["aac fp32"]["captions"]
    assert settings["aac fp32 unpacked"]["captions"] == settings["aac fp32"]["captions"]
    assert settings["plain"]["identical_to_fp32"] == 1.0
    assert settings["plain"]["ratio_to_plain"] == pytest.approx(1.0)
    fp32 = settings["aac fp32"]["cider_d"]
    for name, row in settings.items():  # the bar: within 1% of fp32's CIDEr-D
        assert row["passes_quality_bar"] == (
            name in ("plain", "aac fp32") or row["cider_d"] >= 0.99 * fp32
        )
    assert run["clips"] == 3 and run["floors"]["memory_gbs"] > 0
    table = (tmp_path / "t.md").read_text()
    assert f"| {encoder} | aac int8 |" in table and record["environment"]["cpu"] in table


def test_plain_encoders_give_aac_frames():
    """The reference code holding aac's weights produces aac's frames (the check printed
    before timing), so "x times plain" compares the same computation."""
    import torch

    from aac.encoders import build_encoder

    module = bench()
    wave = np.random.default_rng(1).normal(0, 0.1, 24000).astype(np.float32)
    for name in ("pann_cnn14_16k", "beats"):
        enc = build_encoder(name, random_init=True)
        frames = module.PLAIN_ENCODERS[name](enc)
        with torch.no_grad():
            ours, lengths = enc(torch.as_tensor(wave)[None], torch.tensor([len(wave)]))
            theirs = frames(torch.as_tensor(wave)[None])
        assert ours.shape == theirs.shape, name
        assert (ours - theirs).abs().max() <= 1e-5 * theirs.abs().max(), name
