"""Whole-system presets (aac.systems, conf/system/NAME.yaml): routing by aac-paper-row
--system, the strict preset keys, and the mini dcase2023 preset end to end."""

import json
import subprocess

import pytest
from test_paper_recipe import _recipe

from aac.bin import paper_row
from aac.config import ConfigError
from aac.systems import find_system, load_system

PRESET = """name: sys_a
title: a system
encoder: beats
official: beats_as2m_cpt1
finetune_config: conf/ft.yaml
decode_config: conf/dec.yaml
"""


@pytest.fixture
def conf(tmp_path):
    (tmp_path / "paper").mkdir()
    (tmp_path / "system").mkdir()
    (tmp_path / "system" / "sys_a.yaml").write_text(PRESET)
    return tmp_path


def _route(capsys, conf, *args):
    argv = ["--conf-dir", str(conf / "paper"), "--as-options", "--", *args]
    assert paper_row.main(argv) == 0
    return capsys.readouterr().out.split()


def test_system_expands_before_the_users_options(conf, capsys):
    out = _route(capsys, conf, "--stage", "5", "--system", "sys_a", "--beam", "2")
    assert out == [
        "--encoder", "beats", "--encoder_download", "beats_as2m_cpt1",
        "--dumpdir", "dump/sys_a", "--downsample", "1",
        "--finetune_config", "conf/ft.yaml", "--decode_config", "conf/dec.yaml",
        "--tag", "sys_a", "--stage", "5", "--beam", "2",
    ]  # fmt: skip
    assert _route(capsys, conf, "--system", "sys_a", "--tag", "mine")[-2:] == ["--tag", "mine"]
    assert "--tag" not in _route(capsys, conf, "--system", "sys_a", "--tag", "mine")[:-2]


def test_bad_system_requests_are_one_error_line(conf, capsys):
    base = ["--conf-dir", str(conf / "paper"), "--as-options", "--"]
    assert paper_row.main([*base, "--system", "nope"]) == 2
    assert "unknown system 'nope' (known in" in capsys.readouterr().err
    assert paper_row.main([*base, "--system", "sys_a", "--paper_row", "x"]) == 2
    assert "not both" in capsys.readouterr().err


@pytest.mark.parametrize(
    "edit,message",
    [
        (("name: sys_a", "name: other"), "differs from the file name"),
        (("official: beats_as2m_cpt1", "official: nope"), "official: unknown 'nope'"),
        (("encoder: beats", "encoder: pann_cnn14"), "is not a pann_cnn14 checkpoint"),
        (("decode_config: conf/dec.yaml", "decode_config: ''"), "decode_config is required"),
        (("title: a system", "title: a\nnucleus: 1"), "nucleus"),
    ],
)
def test_preset_keys_are_strict(conf, edit, message):
    path = conf / "system" / "sys_a.yaml"
    path.write_text(PRESET.replace(*edit))
    with pytest.raises(ConfigError, match=message):
        load_system(path)


def test_the_recipes_presets_load():
    from test_paper_recipe import ROOT

    for recipe in ("clotho", "mini_clotho"):
        preset = find_system(ROOT / "egs2" / recipe / "aac1" / "conf" / "system", "dcase2023")
        rdir = ROOT / "egs2" / recipe / "aac1"
        for path in (preset.finetune_config, preset.decode_config, preset.pretrain_config):
            assert path is None or (rdir / path).is_file(), path
        assert preset.needs


MINI = "clotho_development=24,clotho_validation=4,clotho_evaluation=4"
MINI += ",audiocaps_train=2,audiocaps_val=2,audiocaps_test=2"


@pytest.mark.slow
def test_mini_dcase2023_preset_end_to_end(tmp_path):
    """Stages 1-7 with every lever of the preset on: 1 epoch, 4 test clips, 50 re-ranked
    nucleus samples each. (Stage 8 with re-ranking works too, but takes minutes on 2 cores
    and a 1-epoch model fails its scenarios.)"""
    rdir, env = _recipe(tmp_path)
    argv = ["./run.sh", "--system", "dcase2023", "--local_data_opts", f"--num_clips {MINI}"]
    argv += ["--token_vocab_size", "80", "--train_args", "--override optim.epochs=1"]
    argv += ["--rtf_clips", "0", "--decode_nj", "1", "--nj", "1", "--score_metrics", "cider_d"]
    argv += ["--stop_stage", "7"]
    proc = subprocess.run(argv, cwd=rdir, env=env, capture_output=True, text=True)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-5000:]
    exp = rdir / "exp" / "finetune_dcase2023"
    config = (exp / "config.yaml").read_text()
    assert "conformer_layers: 1" in config and "mixup/clotho_development.txt" in config
    # the training items: every reference caption plus one per mix-up caption line
    references = len((rdir / "data" / "clotho_development" / "text").read_text().splitlines())
    mixtures = (rdir / "downloads" / "mini" / "mixup" / "clotho_development.txt").read_text()
    items = references + len(mixtures.splitlines())
    assert f"train: {items} captions" in (exp / "logs" / "train.log").read_text()
    metrics = [json.loads(line) for line in (exp / "metrics.jsonl").read_text().splitlines()]
    assert any("text_infonce" in m for m in metrics)
    (dec,) = exp.glob("decode_*_decode_rerank")
    rtf = json.loads((dec / "clotho_evaluation" / "rtf.json").read_text())
    candidates = rtf["decoding"]["candidates"]  # kept by aac-merge-decodes
    assert (candidates["mode"], candidates["num"], candidates["top_p"]) == ("sampling", 50, 0.95)
    assert rtf["decoding"]["rerank"]["scorer"] == "head"
    scores = json.loads((dec / "clotho_evaluation" / "scores.json").read_text())
    assert "cider_d" in json.dumps(scores)
