"""The generic stage script routes: gating, skipping finished stages, options, job splits.

Each `aac-*` entry point is replaced by a fake on PATH that records its arguments and
creates the outputs the next stage needs, so only aac.sh's own behaviour is under test.
The fake extraction writes real (tiny) caches through FeatureWriter and `aac-merge-feats`
and `aac-provenance` are the real ones, since stage markers and cache checks read them.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from aac.feature_info import feats_tag, requested_encoder_info

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "egs2" / "TEMPLATE" / "aac1"


def cache_tag(encoder="logmel", checkpoint=None, dtype="float32") -> str:
    """The cache directory name aac.sh must use for these options (aac.feature_info)."""
    return feats_tag(requested_encoder_info(encoder, checkpoint, False, {}, 1, 60.0, dtype))


LOGMEL = cache_tag()

FAKE = r"""#!/usr/bin/env bash
echo "$(basename "$0") $*" >> "$CALLS"
out=""; prev=""
for a in "$@"; do
  case "$prev" in --output|--output-dir) out=$a;; esac
  prev=$a
done
case "$(basename "$0")" in
  aac-train-tokenizer) mkdir -p "$out"; touch "$out/tokenizer.model";;
  aac-train) mkdir -p "$out"; echo "weights of run $$" > "$out/best.pt";;
  aac-merge-decodes|aac-score) mkdir -p "$out"; touch "$out/done";;
  aac-decode) mkdir -p "$out"; touch "$out/text";;
  aac-results) echo "| table |";;
  aac-scenarios) mkdir -p "$out"; echo "| scenarios |" > "$out/summary.md";;
esac
"""

# A cache with the attributes aac-extract-feats records for these options, 1 frame a clip.
FAKE_EXTRACT = """
import argparse, os, sys
import numpy as np
from aac.datadir import read_kaldi_text
from aac.feature_info import requested_encoder_info
from aac.features import FeatureWriter
with open(os.environ["CALLS"], "a") as f:
    f.write("aac-extract-feats " + " ".join(sys.argv[1:]) + "\\n")
p = argparse.ArgumentParser()
for flag in ("--encoder", "--encoder-checkpoint", "--storage-dtype", "--wav-scp", "--output"):
    p.add_argument(flag)
p.add_argument("--random-init", action="store_true")
args, _ = p.parse_known_args()
info = requested_encoder_info(
    args.encoder, args.encoder_checkpoint, args.random_init, {}, 1, 60.0, args.storage_dtype
)
attrs = dict(encoder=info.pop("name"), encoder_conf="{}", checkpoint="", frame_rate=50.0, dim=2)
attrs.update((k, v) for k, v in info.items() if k != "conf")
clips = read_kaldi_text(args.wav_scp)
with FeatureWriter(args.output, attrs) as w:
    for clip in clips:
        w.write(clip, np.ones((1, 2), np.float32))
    w.finish({"num_listed": len(clips), "num_skipped": 0})
"""


def python_tool(path: Path, body: str, log_as: str = "") -> None:
    """An executable on PATH running `body` with this tree's aac."""
    log = f'echo "{log_as} $*" >> "$CALLS"\n' if log_as else ""
    path.write_text(
        f'#!/usr/bin/env bash\n{log}PYTHONPATH="{ROOT}" exec "{sys.executable}" {body} "$@"\n'
    )
    path.chmod(0o755)


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
    (tmp_path / "fake_extract.py").write_text(FAKE_EXTRACT)
    python_tool(fake_bin / "aac-extract-feats", str(tmp_path / "fake_extract.py"))
    python_tool(fake_bin / "aac-merge-feats", "-m aac.bin.merge_feats", log_as="aac-merge-feats")
    python_tool(fake_bin / "aac-provenance", "-m aac.bin.provenance")
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
        f"--wav-scp dump/feats/{LOGMEL}/clotho_evaluation/split2/wav.2.scp" in c for c in extracts
    )
    split = recipe / f"dump/feats/{LOGMEL}/clotho_evaluation/split2"
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
    decodes = [c for c in got if c.startswith("aac-decode")]
    decode, serial = decodes[0], decodes[-1]
    assert "--beam 4" in decode and "--checkpoint best --rtf-clips 0" in decode  # parts: no RTF
    assert "exp/finetune_logmel_ds4/decode_beam4_best_ds4/clotho_evaluation" in decode
    # the paper RTF: one serial step after the parts merged, into the merged directory
    order = [c.split()[0] for c in got]
    assert order.index("aac-merge-decodes") < len(order) - 1 - order[::-1].index("aac-decode")
    assert "--paper-rtf-only" in serial and "--rtf-clips 20" in serial
    assert "--output-dir exp/finetune_logmel_ds4/decode_beam4_best_ds4/clotho_evaluation " in serial
    assert sum("--paper-rtf-only" in c for c in decodes) == 1
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


def test_another_encoder_checkpoint_gets_its_own_feature_cache(recipe):
    """Two checkpoints of one encoder: the second run extracts again, into its own cache."""
    a, b = recipe / "a.pt", recipe / "b.pt"
    a.write_bytes(b"weights A")
    b.write_bytes(b"weights B")
    opts = ("--stop_stage", "3", "--nj", "1", "--skip_pretrain", "true", "--encoder", "cnn_small")
    run(recipe, *opts, "--encoder_checkpoint", str(a))
    calls(recipe)
    run(recipe, *opts, "--encoder_checkpoint", str(b))
    extracts = [c for c in calls(recipe) if c.startswith("aac-extract-feats")]
    assert len(extracts) == 3  # train, valid and test set, none reused from A
    tag_a, tag_b = cache_tag("cnn_small", a), cache_tag("cnn_small", b)
    assert tag_a != tag_b and all(f"dump/feats/{tag_b}/" in c for c in extracts)
    assert (recipe / f"dump/feats/{tag_a}/clotho_evaluation/feats.h5").is_file()
    out = run(recipe, *opts, "--encoder_checkpoint", str(b)).stdout
    assert len(re.findall(r"Stage 3: \w+ done before, skipped", out)) == 3
    assert calls(recipe) == []


def test_a_cache_made_otherwise_is_extracted_again(recipe):
    """A finished cache whose attributes are not what the run asks for is redone, saying why."""
    from aac.features import FeatureReader, FeatureWriter

    opts = ("--stop_stage", "3", "--nj", "1", "--skip_pretrain", "true")
    run(recipe, *opts)
    calls(recipe)
    cache = recipe / f"dump/feats/{LOGMEL}/clotho_evaluation/feats.h5"
    attrs = {k: v for k, v in FeatureReader(cache).attrs.items() if not k.startswith("num_")}
    cache.unlink()  # replaced by a cache of other features (a copy, another tool)
    with FeatureWriter(cache, dict(attrs, extract_stride=2, complete=False)) as w:
        w.write("clip1", np.ones((1, 2), np.float32))
        w.finish()
    out = run(recipe, *opts).stdout
    assert (
        f"Stage 3: dump/feats/{LOGMEL}/clotho_evaluation/feats.h5 was made with "
        "extract_stride=2, but this run has extract_stride=1; "
        "extracting clotho_evaluation again" in out
    )
    assert sum(c.startswith("aac-extract-feats") for c in calls(recipe)) == 1


def test_decoding_and_scoring_rerun_when_the_model_changed(recipe):
    opts = ("--nj", "1", "--skip_pretrain", "true")
    run(recipe, "--stop_stage", "7", *opts)
    calls(recipe)
    out = run(recipe, "--stage", "6", "--stop_stage", "7", *opts).stdout
    assert len(re.findall(r"Stage [67]: clotho_evaluation done before, skipped", out)) == 2
    assert not any(c.startswith(("aac-decode", "aac-score")) for c in calls(recipe))
    (recipe / "exp/finetune_logmel_ds1/best.pt").write_text("weights of another epoch\n")
    out = run(recipe, "--stage", "6", "--stop_stage", "7", *opts).stdout
    dec = "exp/finetune_logmel_ds1/decode_beam4_best_ds1/clotho_evaluation"
    assert re.search(
        rf"Stage 6: inputs changed since {dec}/\.done: checkpoint exp/finetune_logmel_ds1 best: "
        r"[0-9a-f]{12} -> [0-9a-f]{12}; running it again",
        out,
    ), out
    assert f"Stage 7: inputs changed since {dec}/.score.done: file {dec}/.done:" in out
    got = calls(recipe)
    assert any(c.startswith("aac-decode") for c in got)
    assert any(c.startswith("aac-score") for c in got)
    out = run(recipe, "--stage", "6", "--stop_stage", "7", *opts, "--beam", "2").stdout
    assert "option beam: 4 -> 2" not in out  # another beam is another decode directory
    assert "decode_beam2_best_ds1" in out


def test_decode_config_reaches_decoding_and_scenarios_with_its_own_dirs(recipe):
    """--decode_config: stages 6 and 8 re-rank candidates, into directories of their own."""
    run(recipe, "--stop_stage", "7", "--nj", "1")
    calls(recipe)
    (recipe / "conf" / "decode_rerank.yaml").write_text("candidates: {mode: beam}\n")
    run(
        recipe,
        "--stage",
        "6",
        "--decode_config",
        "conf/decode_rerank.yaml",
        "--scenario_suite",
        "conf/scenarios/driving.yaml",
    )
    got = calls(recipe)
    # the serial paper-RTF step times the paper's own setting (beam 4), never re-ranked
    decodes = [c for c in got if c.startswith("aac-decode ") and "--paper-rtf-only" not in c]
    [paper_rtf] = [c for c in got if c.startswith("aac-decode --paper-rtf-only")]
    [scenarios] = [c for c in got if c.startswith("aac-scenarios ")]
    assert "--decode-config" not in paper_rtf
    assert decodes and all("--decode-config conf/decode_rerank.yaml" in c for c in decodes)
    assert all("decode_beam4_best_ds1_decode_rerank/" in c for c in decodes)
    assert "--decode-config conf/decode_rerank.yaml" in scenarios
    assert "scenarios/driving_decode_rerank" in scenarios
    assert "no such file" in run(recipe, "--decode_config", "conf/x.yaml", check=False).stdout
