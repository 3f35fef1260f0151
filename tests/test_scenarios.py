"""Scenario suites: strict YAML, SNR mixing, approach + Doppler, judging, the aac-scenarios stage."""

import json
import re
import time

import numpy as np
import pytest
import torch
from caption_fixtures import tiny_decoder

from aac.bin.scenarios import main
from aac.config import ConfigError
from aac.scenarios.run import run_scenario
from aac.scenarios.suite import ScenarioConf, SourceConf, SuiteConf, detects, load_suite
from aac.scenarios.synth import SPEED_OF_SOUND, Trial, approach, render_trial
from aac.testing import make_random_exp_dir

RATE = 16000


def write(path, text):
    path.write_text(text)
    return path


def test_suite_is_strict_and_resolves_recordings(tmp_path):
    (tmp_path / "rec").mkdir()
    for name in ("a.wav", "b.wav"):
        (tmp_path / "rec" / name).write_bytes(b"")
    good = write(
        tmp_path / "s.yaml",
        "background: {files: ['rec/*.wav']}\n"
        "scenarios:\n  - {name: x, target: {sound: siren}, detect: [siren]}\n",
    )
    suite = load_suite(good)
    assert suite.background.files == [str(tmp_path / "rec" / n) for n in ("a.wav", "b.wav")]
    assert suite.scenarios[0].snr_db == [20.0, 10.0, 0.0, -10.0]  # the default
    bad = {
        "scenarios:\n  - {name: x, target: {sound: siren}, detect: [siren], snr: [1]}\n": "unknown key 'scenarios[0].snr'",
        "scenarios:\n  - {name: x, target: {sound: ambulance}, detect: [siren]}\n": "unknown sound 'ambulance'",
        "scenarios:\n  - {name: x, target: {files: [gone/*.wav]}, detect: [siren]}\n": "nothing matches",
        "scenarios:\n  - {name: x, target: {sound: siren}, detect: []}\n": "detect",
        "window: 1.0\nhop: 2.0\nscenarios: []\n": "no scenarios",
    }
    for text, message in bad.items():
        with pytest.raises(ConfigError, match=re.escape(message)):
            load_suite(write(tmp_path / "bad.yaml", text))


def test_detection_matches_whole_words_of_normalised_captions():
    words = ["siren", "ambulance", "emergency vehicle", "police"]
    assert detects("A police car passes.", words)
    assert detects("An EMERGENCY vehicle approaches!", words)
    assert not detects("a vehicle honks in an emergency", words)
    assert not detects("sirens wail", ["siren"])  # whole words only: list plurals explicitly


def test_mix_reaches_the_requested_snr():
    rng = np.random.default_rng(0)
    bg = (rng.normal(0, 0.05, RATE * 3)).astype(np.float32)
    target = np.sin(np.arange(RATE) * 0.3).astype(np.float32)
    trial = Trial(bg, target, onset=RATE, rate=RATE)
    for snr in (10.0, 0.0, -10.0):
        mixed = trial.mix(snr)
        added = mixed[RATE : 2 * RATE] - bg[RATE : 2 * RATE]
        measured = 10 * np.log10(np.mean(added**2) / np.mean(bg[RATE : 2 * RATE] ** 2))
        assert measured == pytest.approx(snr, abs=0.01)
        np.testing.assert_array_equal(mixed[:RATE], bg[:RATE])  # nothing before the onset


def _frequency(x, rate):
    crossings = np.nonzero(np.diff(np.signbit(x)))[0]
    return (len(crossings) - 1) / 2 / ((crossings[-1] - crossings[0]) / rate)


def test_approach_rises_in_level_and_doppler_lowers_the_pitch_as_it_nears():
    t = np.arange(3 * RATE) / RATE
    tone = np.sin(2 * np.pi * 1000 * t).astype(np.float32)
    heard = approach(tone, RATE, speed=15.0, closest=5.0, doppler=True)
    first, last = heard[: RATE // 2], heard[-RATE // 2 :]
    assert 20 * np.log10(np.abs(last).max() / np.abs(first).max()) > 10  # 45 m -> 5 m
    expected = 1000 * SPEED_OF_SOUND / (SPEED_OF_SOUND - 15.0 * 45 / np.hypot(45, 5))
    assert _frequency(first, RATE) == pytest.approx(expected, rel=0.003)  # about 1044 Hz
    # the sound left the source 0.12 s earlier there than at the start: the last 0.12 s are
    # silent; just before, the source is 2-3 m before its closest point, radial speed ~6 m/s
    near = heard[-RATE * 35 // 100 : -RATE * 15 // 100]
    assert 1005 < _frequency(near, RATE) < 1025
    still = approach(tone, RATE, speed=15.0, closest=5.0, doppler=False)
    assert _frequency(still[: RATE // 2], RATE) == pytest.approx(1000, rel=0.002)


class LoudnessCaptioner:
    """Says 'siren' when a window is loud: enough to check the judging end to end."""

    sample_rate = RATE

    def caption_waves(self, waves):
        return [
            "a siren wails" if np.sqrt(np.mean(w**2)) > 0.09 else "an engine idles" for w in waves
        ]


def test_run_scenario_measures_recall_false_alarms_and_latency():
    sc = ScenarioConf(
        name="siren",
        target=SourceConf(sound="siren"),
        snr_db=[15.0, -20.0],
        detect=["siren"],
        latency_budget_s=2.0,
        min_recall=1.0,
    )
    suite = SuiteConf(
        clip_s=3.0,
        onset_s=0.5,
        trials=2,
        window=1.0,
        hop=0.5,
        pace=20.0,
        rate=RATE,
        background=SourceConf(sound="engine"),
        scenarios=[sc],
    )
    clip = render_trial(suite, sc, 0, 0)
    assert len(clip.background) == 3 * RATE and clip.onset == RATE // 2
    result = run_scenario(LoudnessCaptioner(), suite, 0)
    assert result["recall_by_snr"] == {"15": 1.0, "-20": 0.0}
    assert result["false_alarm_rate"] == 0.0
    assert not result["passed"] and result["reasons"] == ["recall 0.00 < 1.0 at -20 dB"]
    lat = result["detection_latency_s"]
    # the first window ending after the onset ends at 1.0 s, 0.5 s after it; the wall
    # time its caption took comes on top (not bounded: the machine may be busy)
    assert 0.5 <= lat["p50"] <= lat["p99"]
    assert len(result["clips"]) == 2 * 3  # trials x (SNRs + background alone)


class SlowLoudnessCaptioner(LoudnessCaptioner):
    """Takes longer per window than the hop lasts at the suite's pace: a busy machine."""

    def caption_waves(self, waves):
        time.sleep(0.06)
        return super().caption_waves(waves)


@pytest.mark.parametrize("pace", [20.0, 0.0])
def test_pace_0_captions_every_window_however_slow_the_captioner(pace):
    """At 20x real time a captioner slower than the hop skips windows; pace 0 judges
    offline: every window of every clip is captioned, in order, none skipped."""
    sc = ScenarioConf(
        name="siren",
        target=SourceConf(sound="siren"),
        snr_db=[15.0],
        detect=["siren"],
        latency_budget_s=30.0,
        min_recall=1.0,
    )
    suite = SuiteConf(
        clip_s=3.0,
        onset_s=0.5,
        trials=1,
        window=1.0,
        hop=0.5,
        pace=pace,
        rate=RATE,
        background=SourceConf(sound="engine"),
        scenarios=[sc],
    )
    result = run_scenario(SlowLoudnessCaptioner(), suite, 0)
    windows_per_clip = int((suite.clip_s - suite.window) / suite.hop) + 1  # 5
    captioned = [len(c["captions"]) for c in result["clips"]]
    if pace:
        assert result["skipped_windows"] > 0 and min(captioned) < windows_per_clip
    else:
        assert result["skipped_windows"] == 0 and captioned == [windows_per_clip] * 2
        assert result["passed"] and result["recall_by_snr"] == {"15": 1.0}


TINY = tiny_decoder(d_model=16, layers=1, max_length=6)


SUITE_HEAD = """\
clip_s: 2.0
onset_s: 0.5
trials: 1
window: 1.0
hop: 0.5
pace: 20.0
rate: 16000
scenarios:
"""


def test_stage_writes_results_summary_and_plot_and_exits_0_when_all_pass(tmp_path, capsys):
    """Thresholds every outcome meets (a random model's captions are arbitrary): exit 0."""
    torch.set_num_threads(1)
    exp = make_random_exp_dir(tmp_path / "exp", encoder="logmel", model_conf=TINY)
    lenient = "min_recall: 0.0, max_false_alarm: 1.0, latency_budget_s: 1000.0"
    suite = write(
        tmp_path / "suite.yaml",
        SUITE_HEAD
        + f"""\
  - {{name: siren, target: {{sound: siren}}, snr_db: [10, 0], detect: [siren], {lenient}}}
  - {{name: horn, target: {{sound: horn}}, background: {{sound: rain}}, snr_db: [0],
     detect: [horn], {lenient}}}
""",
    )
    out = tmp_path / "out"
    rc = main([str(exp), "--suite", str(suite), "--output-dir", str(out)])
    results = json.loads((out / "results.json").read_text())
    assert rc == 0 and results["passed"] is True
    assert [s["name"] for s in results["scenarios"]] == ["siren", "horn"]
    assert set(results["scenarios"][0]["recall_by_snr"]) == {"10", "0"}
    summary = (out / "summary.md").read_text()
    assert "| siren |" in summary and "| horn |" in summary and "recall 10 dB" in summary
    table = [line for line in summary.splitlines() if line.startswith("|")]
    assert len({line.count("|") for line in table}) == 1  # header, rule and rows: same columns
    assert (out / "recall_vs_snr.png").read_bytes()[:4] == b"\x89PNG"
    assert not list(out.glob("*.tmp*"))
    assert "siren: PASS" in capsys.readouterr().out
    assert (
        main([str(exp), "--suite", str(tmp_path / "missing.yaml"), "--output-dir", str(out)]) == 2
    )
    assert "aac-scenarios: error: config file not found" in capsys.readouterr().err


def test_stage_exits_1_when_a_scenario_fails(tmp_path, capsys):
    """A phrase no caption holds (not in the tokenizer's words) at min_recall 1: it fails."""
    torch.set_num_threads(1)
    exp = make_random_exp_dir(tmp_path / "exp", encoder="logmel", model_conf=TINY)
    suite = write(
        tmp_path / "suite.yaml",
        SUITE_HEAD + "  - {name: bell, target: {sound: siren}, snr_db: [0], detect: [xylophone], "
        "min_recall: 1.0}\n",
    )
    out = tmp_path / "out"
    assert main([str(exp), "--suite", str(suite), "--output-dir", str(out)]) == 1
    results = json.loads((out / "results.json").read_text())
    assert results["passed"] is False
    assert results["scenarios"][0]["reasons"] == ["recall 0.00 < 1.0 at 0 dB"]
    assert "bell: FAIL recall 0.00 < 1.0 at 0 dB" in capsys.readouterr().out


def test_shipped_suites_load():
    from pathlib import Path

    from aac.config import load_config

    root = Path(__file__).resolve().parent.parent / "egs2"
    mini = load_suite(root / "mini_clotho/aac1/conf/scenarios/mini.yaml")
    assert {s.target.sound for s in mini.scenarios} <= {"siren", "dog", "horn", "footsteps"}
    driving = load_config(SuiteConf, root / "clotho/aac1/conf/scenarios/driving.yaml")
    assert "ambulance" in driving.scenarios[0].detect  # keys strict; recordings are the user's
    with pytest.raises(ConfigError, match="nothing matches"):
        load_suite(root / "clotho/aac1/conf/scenarios/driving.yaml")


def test_stage_runs_with_reranked_candidates(tmp_path, monkeypatch):
    """Stage 8 with re-ranking on: every window's caption is chosen among candidates."""
    from aac.rerank import Reranker

    torch.set_num_threads(1)
    exp = make_random_exp_dir(tmp_path / "exp", encoder="logmel", model_conf=TINY)
    lenient = "min_recall: 0.0, max_false_alarm: 1.0, latency_budget_s: 1000.0"
    suite = write(
        tmp_path / "suite.yaml",
        SUITE_HEAD + f"  - {{name: siren, target: {{sound: siren}}, snr_db: [0], detect: [siren], "
        f"{lenient}}}\n",
    )
    decode_conf = write(tmp_path / "decode.yaml", "rerank: {similarity_weight: 0.0}\n")
    chosen = []
    real = Reranker.choose
    monkeypatch.setattr(
        Reranker, "choose", lambda self, *a, **k: chosen.append(1) or real(self, *a, **k)
    )
    out = tmp_path / "out"
    flags = ["--candidates", "sampling", "--num-candidates", "3", "--decode-config", decode_conf]
    assert main([str(exp), "--suite", str(suite), "--output-dir", str(out), *map(str, flags)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["decoding"]["candidates"] == {
        "mode": "sampling",
        "num": 3,
        "temperature": 0.5,
        "top_p": 0.95,
        "seed": 0,
    }
    assert len(chosen) >= results["trials"] * 2  # every clip's windows went through it
    assert "re-ranked among sampling candidates" in (out / "summary.md").read_text()
