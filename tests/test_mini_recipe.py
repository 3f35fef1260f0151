"""Integration: the whole mini recipe (stages 1-8) in a scratch copy of egs2/mini_clotho/aac1.

Slow (several minutes on 2 cores): it generates the corpus, caches features, pre-trains,
fine-tunes, decodes and scores, then checks the model really learnt something.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_pretrain_recipes import console_scripts

ROOT = Path(__file__).resolve().parent.parent
RECIPE = ROOT / "egs2" / "mini_clotho" / "aac1"


@pytest.mark.slow
def test_mini_recipe_end_to_end_learns(tmp_path):
    rdir = tmp_path / "egs2" / "mini_clotho" / "aac1"
    rdir.mkdir(parents=True)
    for name in ("run.sh", "db.sh", "local", "conf", "aac.sh", "path.sh", "cmd.sh", "utils"):
        os.symlink(os.path.realpath(RECIPE / name), rdir / name)
    console_scripts(tmp_path / "bin")  # aac-* of this tree, installed or not
    path = f"{tmp_path / 'bin'}:{Path(sys.executable).parent}:{os.environ['PATH']}"
    env = dict(os.environ, PATH=path, PYTHONPATH=str(ROOT))
    env.pop("CLOTHO", None)
    env.pop("AUDIOCAPS", None)
    proc = subprocess.run(["./run.sh"], cwd=rdir, env=env, capture_output=True, text=True)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-5000:]
    for n, what in enumerate(
        [
            "data prep",
            "tokenizer",
            "feature caching",
            "AudioCaps pre-training",
            "Clotho fine-tuning",
            "decoding",
            "scoring",
            "scenario tests",
        ],
        1,
    ):
        assert f"Stage {n}: {what}" in log

    exp = rdir / "exp" / "finetune_logmel_ds1"
    decode = exp / "decode_beam4_best_ds1" / "clotho_evaluation"
    scores = json.loads((decode / "scores.json").read_text())
    hyps = (decode / "text").read_text().splitlines()
    assert len(hyps) == len((rdir / "data/clotho_evaluation/wav.scp").read_text().splitlines())
    assert len({h.split(None, 1)[1] for h in hyps}) > 10  # not one caption for everything
    baseline = scores["constant_baseline"]["cider_d"]
    print(f"mini recipe CIDEr-D {scores['cider_d']:.3f} vs best constant caption {baseline:.3f}")
    # measured 3.05 vs 0.892 (3.4x); the references' own agreement caps it near 4.5x
    assert scores["cider_d"] >= 3 * baseline
    results = (exp / "RESULTS.md").read_text()
    assert "Table 1" in results and "Table 2" in results and "logmel" in results
    rtf = json.loads((decode / "rtf.json").read_text())
    assert rtf["paper"]["num_clips"] == 20 and rtf["paper"]["beam"] == 4
    assert rtf["batched"]["throughput"] > 0
    for name in ("config.yaml", "cmd.txt", "env.yaml", "best.pt", "images/loss.png"):
        assert (exp / name).is_file(), name
    # stage 8: the mini scenario suite (an approaching siren, a dog over rain) passes
    scenarios = json.loads((exp / "scenarios" / "mini" / "results.json").read_text())
    assert scenarios["passed"] and {s["name"] for s in scenarios["scenarios"]} == {
        "approaching_siren",
        "dog_barking",
    }
    assert (exp / "scenarios" / "mini" / "recall_vs_snr.png").stat().st_size > 0

    # every stage is now done: a rerun skips them all
    proc = subprocess.run(
        ["./run.sh", "--stop_stage", "6"], cwd=rdir, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0 and proc.stdout.count("done before, skipped") >= 6
    shutil.rmtree(rdir / "dump")  # the features are the bulk of the disk use
