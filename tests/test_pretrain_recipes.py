"""Integration: the mini ATCL and MLAC recipes (egs2/mini_clotho/{atcl1,mlac1}), all stages.

Slow (a few minutes on 2 cores, most of it embedding the captions with all-MiniLM-L6-v2
and training cnn_small): both recipes share one generated corpus. Checks that retrieval
is far above chance, that tagging mAP is high, and that the exported encoder is what
aac-extract-feats loads.
"""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINKS = ("run.sh", "db.sh", "local", "conf", "atcl.sh", "path.sh", "cmd.sh", "utils")


def console_scripts(bin_dir: Path) -> None:
    """Shims for setup.py's STAGES that this environment has not installed (yet)."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    stages = next(
        ast.literal_eval(n.value)
        for n in tree.body
        if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "STAGES"
    )
    bin_dir.mkdir()
    for cmd, module in stages.items():
        shim = bin_dir / cmd
        shim.write_text(f'#!/bin/sh\nexec {sys.executable} -m aac.bin.{module} "$@"\n')
        shim.chmod(0o755)


def recipe_copy(tmp_path: Path, name: str) -> Path:
    rdir = tmp_path / "egs2" / "mini_clotho" / name
    rdir.mkdir(parents=True)
    for link in LINKS:
        os.symlink(os.path.realpath(ROOT / "egs2" / "mini_clotho" / name / link), rdir / link)
    return rdir


def run(rdir: Path, env: dict, *args: str) -> str:
    proc = subprocess.run(["./run.sh", *args], cwd=rdir, env=env, capture_output=True, text=True)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-5000:]
    return log


@pytest.mark.slow
def test_mini_atcl_and_mlac_recipes(tmp_path):
    console_scripts(tmp_path / "bin")
    env = dict(
        os.environ,
        PATH=f"{tmp_path / 'bin'}:{Path(sys.executable).parent}:{os.environ['PATH']}",
        PYTHONPATH=str(ROOT),
        CLOTHO=str(tmp_path / "corpus"),
        AUDIOCAPS=str(tmp_path / "corpus"),
    )
    (tmp_path / "egs2" / "mini_clotho").mkdir(parents=True)
    os.symlink(
        os.path.realpath(ROOT / "egs2" / "mini_clotho" / "aac1"),
        tmp_path / "egs2" / "mini_clotho" / "aac1",
    )  # mlac1's data.sh calls ../aac1/local

    atcl = recipe_copy(tmp_path, "atcl1")
    log = run(atcl, env, "--pretrain_args", "--override optim.epochs=5")
    for n, what in enumerate(["data prep", "atcl pre-training", "export", "evaluation"], 1):
        assert f"Stage {n}: {what}" in log
    exp = atcl / "exp" / "atcl_atcl"
    selected = json.loads((exp / "selected.json").read_text())
    assert len(selected["runs"]) == 2  # the tau grid of conf/atcl.yaml
    scores = json.loads((exp / "eval" / "clotho_evaluation" / "scores.json").read_text())["metrics"]
    chance = 1 / scores["num_clips"]
    print(
        f"mini ATCL: t2a R@1 {scores['t2a']['R@1']:.3f} (chance {chance:.3f}), "
        f"mAP@10 {scores['t2a']['mAP@10']:.3f}; a2t R@1 {scores['a2t']['R@1']:.3f}"
    )
    assert scores["t2a"]["R@1"] > 5 * chance and scores["a2t"]["R@1"] > 5 * chance
    assert "text-to-audio" in (exp / "RESULTS.md").read_text()

    feats = tmp_path / "feats.h5"
    subprocess.run(
        [
            "aac-extract-feats",
            "--encoder",
            "cnn_small",
            "--encoder-checkpoint",
            str(exp / "encoder_atcl.pt"),
            "--data-dir",
            str(atcl / "data" / "clotho_evaluation"),
            "--output",
            str(feats),
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    assert feats.is_file()
    assert run(atcl, env, "--stop_stage", "3").count("done before, skipped") == 3

    mlac = recipe_copy(tmp_path, "mlac1")
    log = run(mlac, env)
    assert "Stage 2: mlac pre-training" in log
    exp = mlac / "exp" / "mlac_mlac"
    tags = json.loads((exp / "eval" / "audiocaps_test_tags" / "scores.json").read_text())["metrics"]
    print(f"mini MLAC: mAP {tags['mAP']:.3f} over {tags['num_classes_scored']} classes")
    assert tags["num_classes_scored"] >= 10 and tags["mAP"] > 0.5
