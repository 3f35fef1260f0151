"""Paper row presets (aac.paper), their routing into recipe options (aac-paper-row) and the
paper-vs-ours tables (aac-paper-results), on tiny presets and scored directories made here."""

import json
import shlex

import pytest
import yaml

from aac.bin import paper_results, paper_row
from aac.config import ConfigError
from aac.paper import load_row, load_rows, plan, render_results

ROW_A = {
    "name": "row_a",
    "title": "Row A",
    "order": 1,
    "encoder": "pann_cnn14_16k",
    "official": "pann_cnn14_16k",
    "checkpoint_file": "Cnn14_16k_mAP=0.438.pth",
    "paper": {"spider_fl": 0.25},
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
    "sweep": [{"downsample": 1}, {"downsample": 4, "rtf_mean": 10.0}],
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
    assert plan(rows) == [("row_a", 1), ("row_b", 1), ("row_b", 4)]


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


def test_results_put_ours_beside_the_paper(conf, tmp_path, capsys):
    exp = tmp_path / "exp"
    _scored(exp, "row_a_ds1", {"cider_d": 0.5, "spider_fl": 0.2, "spider": 0.3})
    _scored(
        exp,
        "row_b_ds4",
        {"cider_d": 0.4, "unavailable": {"spider_fl": "no FENSE checkpoint"}},
        {  # rtf.json as aac-decode writes it: Table 2 reads the paper setting, not "batched"
            "batched": {"mean": 99.0, "median": 99.0, "p10": 99.0, "mode": "features"},
            "paper": {"mean": 12.5, "median": 12.0, "p10": 9.0, "mode": "audio"},
        },
    )
    text = render_results(load_rows(conf), exp, "evalset")
    table1, table2 = text.split("## Table 2")
    assert (
        "| 1 | Row A | pann_cnn14_16k | Cnn14_16k_mAP=0.438.pth | 1 | 0.200 | 0.250 | -0.050 "
        "| 0.500 |"
    ) in table1
    assert "finetune_row_b_ds1 (not run)" in table1 and "stand-in for BEATs" in text
    ds4 = next(line for line in table2.splitlines() if line.startswith("| Row B | 4 |"))
    cells = ds4.split(" | ")
    assert cells[2:6] == ["6.250", "12.500", "10.000", "+2.500"]  # rate/4, ours, paper, diff
    assert cells[6].startswith("12.000") and "n/a[^" in cells[7]  # paper median: n/a, footnoted
    assert "no FENSE checkpoint" in text and "was not available to us" in text
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
    table2 = render_results(load_rows(conf), exp, "evalset").split("## Table 2")[1]
    ds4 = next(line for line in table2.splitlines() if line.startswith("| Row B | 4 |"))
    assert ds4.split(" | ")[2] == "6.250"
    assert "| logmel | 4 | 6.25 |" in render_markdown([row])


def test_rtf_json_without_batched_is_an_error(tmp_path):
    from aac.metrics.results import ResultsError, collect

    _scored(tmp_path, "row_a_ds1", {"cider_d": 0.5}, {"paper": {"mean": 1.0}})
    with pytest.raises(ResultsError, match="no 'batched' block"):
        collect([str(tmp_path / "finetune_row_a_ds1")])
