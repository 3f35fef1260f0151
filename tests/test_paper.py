"""Paper row presets (aac.paper), their routing into recipe options (aac-paper-row) and the
paper-vs-ours tables (aac-paper-results), on tiny presets and scored directories made here."""

import json
import shlex

import pytest
import yaml

from aac.bin import paper_results, paper_row
from aac.config import ConfigError
from aac.paper import load_row, load_rows, plan
from aac.paper_tables import render_results

ROW_A = {
    "name": "row_a",
    "title": "Row A",
    "order": 1,
    "encoder": "pann_cnn14_16k",
    "official": "pann_cnn14_16k",
    "checkpoint_file": "Cnn14_16k_mAP=0.438.pth",
    "paper": {"spider_fl": 0.25, "cider_d": 0.4, "spice": 0.1},
    "sweep": [],
}
ROW_B = {
    "name": "row_b",
    "title": "Row B",
    "order": 2,
    "encoder": "logmel",
    "random_init": False,
    "stand_in": "BEATs",
    "feature_cache": "shared",
    "paper": {"spider_fl": 0.3},
    "sweep": [
        {"downsample": 1},
        {"downsample": 4, "frame_rate": 6, "rtf_mean": 10.0, "paper": {"cider_d": 0.5}},
        {"downsample": 8, "run": False, "rtf_mean": 11.0, "paper": {"bleu_4": 0.2}},
    ],
}


@pytest.fixture
def conf(tmp_path):
    d = tmp_path / "conf"
    d.mkdir()
    for row in (ROW_B, ROW_A):
        (d / f"{row['name']}.yaml").write_text(yaml.safe_dump(row))
    return d


def test_rows_in_paper_order_and_plan(conf):
    rows = load_rows(conf)
    assert [r.name for r in rows] == ["row_a", "row_b"]
    assert plan(rows) == [("row_a", 1), ("row_b", 1), ("row_b", 4)]  # not ds8: run: false


def test_a_row_must_match_the_official_table(conf):
    bad = dict(ROW_A, checkpoint_file="Cnn14_mAP=0.431.pth")
    (conf / "row_a.yaml").write_text(yaml.safe_dump(bad))
    with pytest.raises(ConfigError, match="checkpoint_file must be"):
        load_row(conf / "row_a.yaml")
    (conf / "row_a.yaml").write_text(yaml.safe_dump(dict(ROW_A, spider=1)))
    with pytest.raises(ConfigError, match="unknown key 'spider'"):
        load_row(conf / "row_a.yaml")


def _route(capsys, conf, *args):
    assert paper_row.main(["--conf-dir", str(conf), "--as-options", *args]) == 0
    return shlex.split(capsys.readouterr().out)


def test_paper_row_expands_before_the_users_options(conf, capsys):
    out = _route(
        capsys,
        conf,
        "--default-row",
        "row_a",
        "--",
        "--stage",
        "3",
        "--paper_row",
        "row_b",
        "--downsample",
        "4",
        "--test_sets",
        "a b",
    )
    assert out == [
        "--encoder",
        "logmel",
        "--dumpdir",
        "dump/shared",
        "--downsample",
        "1",
        "--tag",
        "row_b_ds4",
        "--stage",
        "3",
        "--downsample",
        "4",
        "--test_sets",
        "a b",
    ]
    out = _route(capsys, conf, "--default-row", "row_a", "--", "--tag", "mine")
    assert out[:4] == ["--encoder", "pann_cnn14_16k", "--encoder_download", "pann_cnn14_16k"]
    assert "row_a_ds1" not in out and out[-2:] == ["--tag", "mine"]
    assert _route(capsys, conf, "--", "--stage", "2") == ["--stage", "2"]  # no row: unchanged
    assert (
        paper_row.main(["--conf-dir", str(conf), "--as-options", "--", "--paper_row", "nope"]) == 2
    )
    assert "unknown paper row 'nope'" in capsys.readouterr().err


def _scored(exp, name, scores, rtf=None):
    d = exp / f"finetune_{name}" / "decode_beam4_best" / "evalset"
    d.mkdir(parents=True)
    (d / "scores.json").write_text(json.dumps(scores))
    if rtf:
        (d / "rtf.json").write_text(json.dumps(rtf))
    (exp / f"finetune_{name}" / "config.yaml").write_text(
        yaml.safe_dump(
            {
                "encoder": {"name": "logmel", "frame_rate": 25.0},
                "downsample": int(name.rsplit("_ds", 1)[1]),
            }
        )
    )


def _table(text: str, heading: str):
    """(header cells, {first two cells: row cells}) of the Markdown table under `heading`."""
    lines = [x for x in text.split(heading)[1].split("\n## ")[0].splitlines() if x.startswith("|")]
    split = [[c.strip() for c in x.strip("|").split("|")] for x in lines]
    return split[0], {tuple(r[:2]): r for r in split[2:]}


def _at(header, row, label, offset=0):
    """Cell of column `label` (+1: the paper's figure, +2: the difference)."""
    return row[header.index(label) + offset]


ENV = {"cpu": "Test CPU 9000", "gpu": None, "threads": 2, "torch": "2.x", "transformers": "4.x"}


def test_results_put_ours_beside_every_paper_figure(conf, tmp_path, capsys):
    exp = tmp_path / "exp"
    _scored(
        exp,
        "row_a_ds1",
        {
            "cider_d": 0.5,
            "spider_fl": 0.2,
            "spider": 0.3,
            "unavailable": {"spice": "CoreNLP jars missing"},
            "constant_baseline": {"caption": "rain", "cider_d": 0.05, "num_candidates": 7},
            "reference_agreement": {"min": 3.8, "max": 4.2, "mean": 4.0, "against": 4},
        },
    )
    _scored(
        exp,
        "row_b_ds4",
        {"cider_d": 0.4, "unavailable": {"spider_fl": "no FENSE checkpoint"}},
        {  # rtf.json as aac-decode writes it: Table 2 reads the paper setting, not "batched"
            "batched": {"mean": 99.0, "median": 99.0, "p10": 99.0, "mode": "features"},
            "paper": {
                "mean": 12.5,
                "median": 12.0,
                "p10": 9.0,
                "mode": "audio",
                "num_clips": 4,
                "encoder_s": 3.0,
                "decoder_s": 1.0,
                "timed": "serial",
                "environment": dict(ENV, device="cpu", dtype="float32"),
            },
        },
    )
    text = render_results(load_rows(conf), exp, "evalset")
    head1, rows1 = _table(text, "## Table 1")
    a = rows1[("1", "Row A")]
    assert a[:5] == ["1", "Row A", "pann_cnn14_16k", "Cnn14_16k_mAP=0.438.pth", "1"]
    assert [_at(head1, a, "SPIDEr-FL", k) for k in range(3)] == ["0.200", "0.250", "-0.050"]
    assert [_at(head1, a, "CIDEr-D", k) for k in range(3)] == ["0.500", "0.400", "+0.100"]
    spice = _at(head1, a, "SPICE")  # ours missing offline: the reason; the paper's still shown
    assert spice.startswith("n/a[^") and _at(head1, a, "SPICE", 1) == "0.100"
    assert _at(head1, a, "BLEU-4").startswith("n/a[^") and _at(head1, a, "BLEU-4", 1) == "n/a"
    assert "CoreNLP jars missing" in text and "not in aac-score --metrics" in text
    assert "finetune_row_b_ds1 (not run)" in rows1[("2", "Row B")][-1]
    assert "stand-in for BEATs" in text
    assert "best constant caption 'rain': CIDEr-D 0.050 (best of 7" in text
    assert "one reference against the other 4: CIDEr-D 3.800-4.200" in text

    head2, rows2 = _table(text, "## Table 2")
    b4 = rows2[("Row B", "4")]
    assert b4[2:4] == ["6.25", "6"]  # rate / 4 (ours), the paper's
    assert [_at(head2, b4, "RTF mean", k) for k in range(3)] == ["12.5", "10.0", "+2.5"]
    assert _at(head2, b4, "RTF median") == "12.0" and _at(head2, b4, "RTF median", 1) == "n/a"
    assert [_at(head2, b4, h) for h in ("Encoder s/clip", "Decoder s/clip", "Encoder share")] == [
        "0.750",
        "0.250",
        "75%",
    ]
    assert [_at(head2, b4, "CIDEr-D", k) for k in range(3)] == ["0.400", "0.500", "-0.100"]
    assert _at(head2, b4, "SPIDEr-FL").startswith("n/a[^") and "no FENSE checkpoint" in text
    assert "SPIDEr" not in head2  # Table 2 of the paper has no SPIDEr column
    assert _at(head2, b4, "Machine") == "m1" and "- m1: CPU Test CPU 9000; GPU none; 2" in text
    b8 = rows2[("Row B", "8")]  # run: false: the paper's figures, ours n/a with the reason
    assert _at(head2, b8, "RTF mean", 1) == "11.0" and _at(head2, b8, "BLEU-4", 1) == "0.200"
    assert _at(head2, b8, "RTF mean").startswith("n/a[^") and "run: false" in text
    out = tmp_path / "paper" / "RESULTS.md"
    assert (
        paper_results.main(
            [
                "--conf-dir",
                str(conf),
                "--exp-root",
                str(exp),
                "--set",
                "evalset",
                "--output",
                str(out),
            ]
        )
        == 0
    )
    assert out.read_text() == capsys.readouterr().out == text


def test_paper_and_results_tables_share_the_stride_rule(conf, tmp_path):
    """Both renderers take stride and frame rate from the experiment (decoder_frames): an
    experiment tagged ds4 but trained with downsample 2 on a cache strided 2 at extraction
    shows one frame rate everywhere (the paper table used to divide by the tag's 4)."""
    from aac.metrics.results import collect, decoder_frames, render_markdown

    exp = tmp_path / "exp"
    _scored(exp, "row_b_ds4", {"cider_d": 0.4}, {"batched": {"throughput": 1.0}, "paper": {}})
    encoder = {"name": "logmel", "frame_rate": 12.5, "extract_stride": 2}
    (exp / "finetune_row_b_ds4" / "config.yaml").write_text(
        yaml.safe_dump({"encoder": encoder, "downsample": 2})
    )
    assert decoder_frames(encoder, 2) == (4, 6.25)
    (row,) = collect([str(exp / "finetune_row_b_ds4")])
    assert (row.downsample, row.frame_rate) == (4, 6.25)
    _, rows2 = _table(render_results(load_rows(conf), exp, "evalset"), "## Table 2")
    assert rows2[("Row B", "4")][2] == "6.25"
    assert "| logmel | 4 | 6.25 |" in render_markdown([row])


def test_rtf_json_without_batched_is_an_error(tmp_path):
    from aac.metrics.results import ResultsError, collect

    _scored(tmp_path, "row_a_ds1", {"cider_d": 0.5}, {"paper": {"mean": 1.0}})
    with pytest.raises(ResultsError, match="no 'batched' block"):
        collect([str(tmp_path / "finetune_row_a_ds1")])
