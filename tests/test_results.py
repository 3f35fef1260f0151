"""aac-results: paper-style tables rendered from fake experiment directories."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from aac.bin import results as results_bin
from aac.metrics import results

CORE = {"bleu_4": 0.1712, "rouge_l": 0.3801, "meteor": 0.1789, "cider_d": 0.4567}
SPICE_REASON = (
    "Missing 2 files in SPICE lib directory; install with: tools/install_metric_assets.sh"
)


def make_exp(root: Path, name: str, encoder: dict, sets: dict, rtf=None) -> Path:
    exp = root / name
    exp.mkdir(parents=True)
    (exp / "config.yaml").write_text(yaml.safe_dump({"encoder": encoder, "optim": {"lr": 1e-3}}))
    (exp / "env.yaml").write_text(
        yaml.safe_dump(
            {
                "date": "2024-05-01T10:00:00+00:00",
                "git_hash": "abc123def456",
                "versions": {"python": "3.11.2", "torch": "2.11.0", "aac-metrics": "0.6.0"},
            }
        )
    )
    for set_name, scores in sets.items():
        d = exp / "decode_beam4" / set_name
        d.mkdir(parents=True)
        (d / "scores.json").write_text(json.dumps(scores))
        if rtf:
            (d / "rtf.json").write_text(json.dumps(rtf))
    return exp


@pytest.fixture
def exps(tmp_path):
    pann_scores = dict(
        CORE,
        spider=0.3,
        unavailable={"spider_fl": "FENSE checkpoint missing"},
        java='openjdk version "17.0.15"',
        num_clips=1045,
        constant_baseline={"caption": "rain falls", "cider_d": 0.0812},
        reference_agreement={"min": 3.81, "max": 4.24, "mean": 4.0, "against": 4},
    )
    beats_scores = dict(
        CORE,
        cider_d=0.5,
        unavailable={"spice": SPICE_REASON, "spider": SPICE_REASON, "spider_fl": SPICE_REASON},
        java='openjdk version "17.0.15"',
        num_clips=1045,
    )
    pann = make_exp(
        tmp_path,
        "bart_pann",
        {
            "name": "pann_cnn14",
            "checkpoint": "Cnn14_mAP=0.431.pth",
            "random_init": False,
            "sample_rate": 32000,
            "frame_rate": 3.125,
            "extract_stride": 1,
        },
        {"clotho_evaluation": pann_scores, "audiocaps_test": dict(CORE, unavailable={})},
        rtf={
            "batched": {"mode": "audio", "throughput": 800.0},
            "paper": {"mean": 412.25, "median": 400.0, "p10": 150.5, "per_clip": {}},
        },
    )
    beats = make_exp(
        tmp_path,
        "bart_beats",
        {
            "name": "beats",
            "checkpoint": "/ckpt/BEATs_iter3_plus_AS2M_finetuned_on_AS2M_cpt2.pt",
            "random_init": False,
            "sample_rate": 16000,
            "frame_rate": 12.5,
            "extract_stride": 4,
        },
        {"clotho_evaluation": beats_scores},
    )
    return [str(pann), str(beats)]


def table_rows(text: str, first_cell: str) -> list:
    return [line for line in text.splitlines() if line.startswith(f"| {first_cell} |")]


def test_tables_hold_values_tasks_and_footnoted_na(exps, capsys):
    assert results_bin.main(exps + ["--set", "clotho_evaluation"]) == 0
    out = capsys.readouterr().out
    assert "## clotho_evaluation" in out and "audiocaps_test" not in out
    pann_t1, pann_t2 = table_rows(out, "pann_cnn14")
    assert "| AudioSet tagging | 0.171 | 0.380 | 0.179 | 0.457 |" in pann_t1
    assert "| 412.2 | 400.0 | 150.5 | 800.0 (audio) |" in pann_t2 and "| 1 | 3.125 |" in pann_t2
    beats_t1, beats_t2 = table_rows(out, "beats")
    assert "masked audio-token prediction + AudioSet tagging" in beats_t1
    # the cache's extraction stride counts in the stride the model saw
    cells = [c.strip() for c in beats_t2.split("|")[1:-1]]
    assert cells[1:3] == ["4", "12.5"] and all(c.startswith("n/a[^") for c in cells[3:7])
    assert "no rtf.json: decoding was not timed" in out and "Paper RTF: the paper's" in out
    # the beats SPICE reason appears once as a footnote, referenced from each n/a cell
    footnotes = [line for line in out.splitlines() if line.startswith("[^")]
    spice_notes = [f for f in footnotes if f.endswith("spice, spider, spider_fl: " + SPICE_REASON)]
    assert len(spice_notes) == 1
    label = spice_notes[0][: spice_notes[0].index("]") + 1]
    assert label.startswith("[^clotho_evaluation-") and f"n/a{label}" in beats_t1
    assert any("spider_fl: FENSE checkpoint missing" in f for f in footnotes)
    cells = [c.strip() for c in beats_t1.split("|")[1:-1]]
    assert cells[6:9] == [f"n/a{label}"] * 3  # SPICE, SPIDEr, SPIDEr-FL: no placeholder


def test_constant_baseline_and_environment_block(exps, capsys):
    results_bin.main(exps)
    out = capsys.readouterr().out
    assert "Best constant caption for bart_pann/decode_beam4: 'rain falls', CIDEr-D 0.081" in out
    assert "the other 4 for bart_pann/decode_beam4: CIDEr-D 3.810-4.240 (mean 4.000)" in out
    assert "bart_pann: date 2024-05-01T10:00:00+00:00, git abc123def456" in out
    assert 'java (scoring): openjdk version "17.0.15"' in out
    assert "None" not in out
    assert out.index("## audiocaps_test") < out.index("## clotho_evaluation")  # every set found


def test_missing_metric_without_reason_says_not_computed(exps, capsys):
    results_bin.main(exps + ["--set", "audiocaps_test"])
    out = capsys.readouterr().out
    assert "spice, spider, spider_fl: not computed" in out


@pytest.mark.parametrize(
    "encoder, tasks",
    [
        ({"name": "dcase23_cnn14"}, "AudioSet tagging + audio-text contrastive"),
        (
            {"name": "beats", "checkpoint": "BEATs_iter3_plus_AS2M.pt"},
            "masked audio-token prediction",
        ),
        ({"name": "logmel"}, "none"),
        ({"name": "pann_cnn14", "random_init": True}, "none (random init)"),
    ],
)
def test_pretraining_tasks(encoder, tasks):
    assert results.pretraining_tasks(encoder) == tasks


def test_broken_scores_json_names_the_file(tmp_path, capsys):
    exp = make_exp(tmp_path, "bad", {"name": "logmel"}, {"clotho_evaluation": {}})
    bad = exp / "decode_beam4" / "clotho_evaluation" / "scores.json"
    bad.write_text("{not json")
    assert results_bin.main([str(exp)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("aac-results: error: ") and str(bad) in err


def test_no_scores_found_is_reported(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert results_bin.main([str(tmp_path / "empty")]) == 0
    captured = capsys.readouterr()
    assert "No scored experiments" in captured.out and "scores.json" in captured.err


def test_table2_reads_the_stride_the_model_was_trained_with(tmp_path, capsys):
    """A tiny model trained at downsample 4 on 50 Hz cached frames: Table 2 says 4 and 12.5 Hz."""
    from caption_fixtures import make_experiment_inputs, make_set, train_argv, write_yaml

    from aac.bin.decode import main as decode_main
    from aac.bin.train import main as train_main

    inputs = make_experiment_inputs(tmp_path)
    exp = tmp_path / "exp"
    train_main(
        train_argv(
            inputs, write_yaml(tmp_path / "t.yaml", epochs=1), exp, "--override", "downsample=4"
        )
    )
    data, feats = make_set(tmp_path, "test", 4, seed=5, training=False)
    out = exp / "decode_beam4_best_ds4" / "test"
    decode_main(
        [
            "--exp-dir",
            str(exp),
            "--data-dir",
            str(data),
            "--feats",
            str(feats),
            "--output-dir",
            str(out),
            "--rtf-clips",
            "0",
        ]
    )
    (out / "scores.json").write_text(json.dumps(CORE))
    assert json.loads((out / "rtf.json").read_text())["downsample"] == 4
    capsys.readouterr()
    assert results_bin.main([str(exp)]) == 0
    text = capsys.readouterr().out
    _, speed = table_rows(text, "logmel")
    cells = [c.strip() for c in speed.split("|")[1:-1]]
    assert cells[1:3] == ["4", "12.5"]
    assert cells[6].endswith("(features)") and "--rtf-clips 0" in text
