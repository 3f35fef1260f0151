"""aac-train never ends with NaN weights or a metrics file that is not JSON."""

import json
import math
import re
import shutil

import h5py
import pytest
import torch
from caption_fixtures import make_experiment_inputs, train_argv, write_yaml

from aac.bin.train import main as train_main
from aac.checkpoint_io import load_checkpoint
from aac.train.loop import Validation, finite_or_none
from aac.train.trainer import CaptionTask


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return make_experiment_inputs(tmp_path_factory.mktemp("data"))


def strict_rows(path):
    def refuse(name):
        raise ValueError(f"not JSON: {name}")

    return [json.loads(line, parse_constant=refuse) for line in path.read_text().splitlines()]


def fails_with(capsys, argv, pattern):
    """aac-train exits 2 with one `aac-train: error:` line matching `pattern`."""
    capsys.readouterr()
    assert train_main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "Traceback" not in "\n".join(err)
    assert err[-1].startswith("aac-train: error:") and re.search(pattern, err[-1]), err


def all_finite(path):
    return all(torch.isfinite(v).all() for v in load_checkpoint(path)["model"].values())


def test_nan_features_stop_training_naming_clip_and_file(tmp_path, inputs, capsys):
    bad = dict(inputs, train_feats=tmp_path / "train.h5")
    shutil.copy(inputs["train_feats"], bad["train_feats"])
    with h5py.File(bad["train_feats"], "a") as h5:
        h5["train_004"][1, 1] = float("nan")
    out = tmp_path / "exp"
    fails_with(
        capsys,
        train_argv(bad, write_yaml(tmp_path / "t.yaml", epochs=1), out),
        r"train\.h5: clip 'train_004'.*non-finite",
    )
    assert not (out / "best.pt").exists()


def test_nan_loss_stops_before_the_step(tmp_path, inputs, monkeypatch, capsys):
    real, calls = CaptionTask.loss, []

    def poisoned(self, *args):
        nll, count = real(self, *args)
        calls.append(1)
        if len(calls) == 10:  # epoch 2, its second batch (8 batches per epoch)
            nll = nll * float("nan")
        return nll, count

    monkeypatch.setattr(CaptionTask, "loss", poisoned)
    out = tmp_path / "exp"
    fails_with(
        capsys,
        train_argv(inputs, write_yaml(tmp_path / "t.yaml", epochs=2), out),
        "epoch 2, step 10",
    )
    assert all_finite(out / "best.pt") and all_finite(out / "checkpoints" / "last.pt")
    assert [r["epoch"] for r in strict_rows(out / "metrics.jsonl")] == [1]


def test_nan_validation_is_written_as_null_and_never_best(tmp_path, inputs, monkeypatch, capsys):
    real, calls = CaptionTask.validate, []

    def nan_in_epoch_2(self, module):
        calls.append(1)
        return Validation(math.nan, math.nan, {}) if len(calls) == 2 else real(self, module)

    monkeypatch.setattr(CaptionTask, "validate", nan_in_epoch_2)
    out = tmp_path / "exp"
    fails_with(
        capsys,
        train_argv(inputs, write_yaml(tmp_path / "t.yaml", epochs=2), out),
        "epoch 2: non-finite",
    )
    rows = strict_rows(out / "metrics.jsonl")
    assert rows[1]["valid_loss"] is None and rows[1]["valid_metric"] is None
    assert rows[1]["non_finite"] == ["valid_loss", "valid_metric"]
    assert load_checkpoint(out / "best.pt")["epoch"] == 1


def test_finite_or_none_leaves_finite_rows_alone():
    row = {"epoch": 1, "train_loss": 2.5, "metric": "cider_d"}
    assert finite_or_none(row) is row
    assert finite_or_none({"a": math.inf, "b": 1.0}) == {"a": None, "b": 1.0, "non_finite": ["a"]}
