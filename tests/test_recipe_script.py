"""The generic stage script routes: gating, skipping finished stages, options, job splits.

Each `aac-*` entry point is replaced by a fake on PATH that records its arguments and
creates the outputs the next stage needs, so only aac.sh's own behaviour is under test.
"""

import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "egs2" / "TEMPLATE" / "aac1"

FAKE = r"""#!/usr/bin/env bash
echo "$(basename "$0") $*" >> "$CALLS"
out=""; prev=""
for a in "$@"; do
  case "$prev" in --output|--output-dir) out=$a;; esac
  prev=$a
done
case "$(basename "$0")" in
  aac-train-tokenizer) mkdir -p "$out"; touch "$out/tokenizer.model";;
  aac-extract-feats|aac-merge-feats) mkdir -p "$(dirname "$out")"; touch "$out";;
  aac-train|aac-merge-decodes|aac-score) mkdir -p "$out"; touch "$out/done";;
  aac-decode) mkdir -p "$out"; touch "$out/text";;
  aac-results) echo "| table |";;
  aac-scenarios) mkdir -p "$out"; echo "| scenarios |" > "$out/summary.md";;
esac
"""


@pytest.fixture
def recipe(tmp_path):
    rdir = tmp_path / "egs2" / "toy" / "aac1"
    (rdir / "local").mkdir(parents=True)
    (rdir / "conf").mkdir()
    os.symlink(TEMPLATE / "aac.sh", rdir / "aac.sh")
    os.symlink(ROOT / "utils", rdir / "utils")
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    for verb in (
        "train-tokenizer",
        "extract-feats",
        "merge-feats",
        "train",
        "decode",
        "merge-decodes",
        "score",
        "results",
        "scenarios",
    ):
        p = fake_bin / f"aac-{verb}"
        p.write_text(FAKE)
        p.chmod(0o755)
    (rdir / "path.sh").write_text(f'export PATH="{fake_bin}:$PATH"\n')
    (rdir / "cmd.sh").write_text(
        "export train_cmd=utils/run.pl cuda_cmd=utils/run.pl decode_cmd=utils/run.pl\n"
    )
    data = (
        '#!/usr/bin/env bash\necho local/data.sh >> "$CALLS"\n'
        "for s in audiocaps_train audiocaps_val clotho_development clotho_validation clotho_evaluation; do\n"
        '  mkdir -p data/$s; for i in 1 2 3 4 5; do echo "clip$i /x/clip $i.wav"; done > data/$s/wav.scp\n'
        '  for i in 1 2 3 4 5; do echo "clip$i 1.0"; done > data/$s/utt2dur; done\n'
    )
    (rdir / "local" / "data.sh").write_text(data)
    (rdir / "local" / "data.sh").chmod(0o755)
    return rdir


def run(recipe, *args, check=True):
    env = dict(os.environ, CALLS=str(recipe / "calls.log"))
    proc = subprocess.run(
        ["./aac.sh", "--encoder", "logmel", *args],
        cwd=recipe,
        env=env,
        capture_output=True,
        text=True,
    )
    if check and proc.returncode != 0:
        raise AssertionError(proc.stdout + proc.stderr)
    return proc


def calls(recipe):
    path = recipe / "calls.log"
    lines = path.read_text().splitlines() if path.exists() else []
    path.unlink(missing_ok=True)
    return lines


def test_stage_range_runs_exactly_those_stages(recipe):
    out = run(recipe, "--stage", "1", "--stop_stage", "2").stdout
    assert "Stage 1: data prep" in out and "Stage 2: tokenizer" in out and "Stage 3" not in out
    got = calls(recipe)
    assert got[0] == "local/data.sh" and got[1].startswith("aac-train-tokenizer")
    assert "--text data/clotho_development/text --text data/audiocaps_train/text" in got[1]
    assert len(got) == 2


def test_finished_stage_is_skipped_unless_forced(recipe):
    run(recipe, "--stop_stage", "1")
    calls(recipe)
    assert "done before, skipped" in run(recipe, "--stop_stage", "1").stdout
    assert calls(recipe) == []
    run(recipe, "--stop_stage", "1", "--force", "true")
    assert calls(recipe) == ["local/data.sh"]


def test_unknown_option_is_an_error(recipe):
    proc = run(recipe, "--no_such_option", "3", check=False)
    assert proc.returncode != 0 and "no_such_option" in proc.stderr
    proc = run(recipe, "--downsample", "3", check=False)
    assert proc.returncode != 0 and "--downsample must be 1, 2, 4 or 8" in proc.stdout


def test_feature_stage_splits_into_nj_jobs_and_merges(recipe):
    run(
        recipe,
        "--stop_stage",
        "3",
        "--nj",
        "2",
        "--skip_pretrain",
        "true",
        "--test_sets",
        "clotho_evaluation",
    )
    got = [c for c in calls(recipe) if c.startswith("aac-")]
    extracts = [c for c in got if c.startswith("aac-extract-feats")]
    merges = [c for c in got if c.startswith("aac-merge-feats")]
    assert len(extracts) == 2 * 3 and len(merges) == 3  # 3 sets without pre-training
    assert any(
        "--wav-scp dump/feats/logmel/clotho_evaluation/split2/wav.2.scp" in c for c in extracts
    )
    split = recipe / "dump/feats/logmel/clotho_evaluation/split2"
    keys = [
        line.split()[0]
        for f in sorted(split.glob("wav.*.scp"))
        for line in f.read_text().splitlines()
    ]
    assert sorted(keys) == [f"clip{i}" for i in range(1, 6)]


def test_training_decoding_and_scoring_route_to_experiment_dirs(recipe):
    run(recipe, "--stop_stage", "3", "--nj", "1")
    calls(recipe)
    out = run(recipe, "--stage", "4", "--downsample", "4").stdout
    got = calls(recipe)
    pre = next(c for c in got if c.startswith("aac-train") and "pretrain" in c)
    fine = next(c for c in got if c.startswith("aac-train") and "finetune" in c)
    assert "--output-dir exp/pretrain_logmel_ds4" in pre and "--downsample 4" in pre
    assert "--init-from exp/pretrain_logmel_ds4" in fine
    decode = next(c for c in got if c.startswith("aac-decode"))
    assert "--beam 4" in decode and "--checkpoint best --rtf-clips 20" in decode
    assert "exp/finetune_logmel_ds4/decode_beam4_best_ds4/clotho_evaluation" in decode
    assert any(
        c.startswith("aac-score") and "--constant-baseline data/clotho_development/text" in c
        for c in got
    )
    assert "| table |" in out
    assert (recipe / "exp/finetune_logmel_ds4/RESULTS.md").read_text().strip() == "| table |"


def option_names(script: Path) -> list:
    """Every variable aac.sh defines before parse_options.sh, i.e. every option it accepts."""
    names = []
    for line in script.read_text().splitlines():
        if line.startswith(". utils/parse_options.sh"):
            break
        m = re.match(r"([A-Za-z_][A-Za-z0-9_]*)=", line)
        if m and m.group(1) != "help_message":
            names.append(m.group(1))
    return names


def test_help_lists_every_option_with_default_and_meaning(recipe):
    proc = run(recipe, "--help")
    names = option_names(TEMPLATE / "aac.sh")
    assert len(names) > 30 and "nj" in names and "score_metrics" in names
    rows = {}
    for line in proc.stdout.splitlines():
        m = re.match(r"  --(\w+) +(\S.*) \(default: (.*)\)$", line)
        if m:
            rows[m.group(1)] = (m.group(2), m.group(3))
    assert sorted(rows) == sorted(names)  # nothing missing, nothing that is not an option
    assert rows["nj"][1] == "4" and rows["test_sets"][1] == '"clotho_evaluation"'
    assert all(meaning.strip() for meaning, _ in rows.values())


def test_scoring_is_skipped_once_done_and_redone_after_new_decoding(recipe):
    run(recipe, "--stop_stage", "7", "--nj", "1", "--skip_pretrain", "true")
    calls(recipe)
    out = run(recipe, "--stage", "7", "--skip_pretrain", "true").stdout
    assert "Stage 7: clotho_evaluation done before, skipped" in out
    assert not any(c.startswith("aac-score") for c in calls(recipe))
    text = recipe / "exp/finetune_logmel_ds1/decode_beam4_best_ds1/clotho_evaluation/text"
    text.write_text("clip1 a new decoding\n")  # newer than the marker: score again
    run(recipe, "--stage", "7", "--skip_pretrain", "true")
    assert sum(c.startswith("aac-score") for c in calls(recipe)) == 1


@pytest.mark.parametrize(
    "backend, passes_nodes", [("slurm.pl", True), ("queue.pl", False), ("run.pl", False)]
)
def test_node_count_goes_only_to_slurm(recipe, backend, passes_nodes):
    fake = recipe / "fake_backends" / backend
    fake.parent.mkdir(exist_ok=True)
    fake.write_text('#!/usr/bin/env bash\necho "backend $*" >> "$CALLS"\n')
    fake.chmod(0o755)
    (recipe / "cmd.sh").write_text(
        f"export train_cmd=utils/run.pl decode_cmd=utils/run.pl cuda_cmd={fake}\n"
    )
    run(recipe, "--stage", "5", "--stop_stage", "5", "--skip_pretrain", "true", "--num_nodes", "2")
    backend_call = next(c for c in calls(recipe) if c.startswith("backend"))
    assert ("-N 2" in backend_call) == passes_nodes
    assert "--num-nodes 2" in backend_call  # aac-train itself always hears of the nodes


def test_scenario_stage_runs_a_suite_once_and_only_when_given(recipe):
    run(recipe, "--stop_stage", "7", "--nj", "1")
    calls(recipe)
    assert "no --scenario_suite given, skipped" in run(recipe, "--stage", "8").stdout
    assert calls(recipe) == []
    out = run(
        recipe,
        "--stage",
        "8",
        "--scenario_suite",
        "conf/scenarios/driving.yaml",
        "--decode_device",
        "cuda",
    ).stdout
    [call] = calls(recipe)
    assert call.startswith(
        "aac-scenarios exp/finetune_logmel_ds1 --suite conf/scenarios/driving.yaml "
        "--output-dir exp/finetune_logmel_ds1/scenarios/driving --device cuda"
    )
    assert "| scenarios |" in out
    run(recipe, "--stage", "8", "--scenario_suite", "conf/scenarios/driving.yaml")
    assert calls(recipe) == []  # done before: skipped
