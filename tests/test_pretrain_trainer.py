"""Pre-training end to end on tiny made-up data: train, resume, select, export, evaluate.

The text encoder is a one-layer BERT written to a temporary dir (any HF model dir works
through --text-encoder), so no test needs the 90 MB all-MiniLM-L6-v2.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from caption_fixtures import tiny_text_model

from aac.bin import eval_retrieval, eval_tagging, export_encoder, pretrain_encoder
from aac.checkpoint_io import load_checkpoint
from aac.encoders import build_encoder
from aac.pretrain.text_encoder import TextEncoder, cached_embeddings

WORDS = ["a", "low", "high", "tone", "hum", "beep", "sound", "pitched"]


@pytest.fixture(scope="module")
def text_model(tmp_path_factory):
    return tiny_text_model(tmp_path_factory.mktemp("tiny_bert"), WORDS)


def make_dir(root, name, n, offset=0):
    """n clips of 1 s: even ones a low tone, odd ones a high tone."""
    d = root / name
    d.mkdir()
    t = np.arange(16000) / 16000
    wavs, text, labels = [], [], []
    for i in range(offset, offset + n):
        high = i % 2
        wave = 0.5 * np.sin(2 * np.pi * (2000 if high else 200) * t).astype(np.float32)
        sf.write(d / f"c{i}.wav", wave, 16000)
        wavs.append(f"c{i:02d} {d / f'c{i}.wav'}")
        word = "high" if high else "low"
        text += [f"c{i:02d}#1 a {word} tone", f"c{i:02d}#2 a {word} pitched sound"]
        labels.append(f"c{i:02d} {word},tone")
    for fname, lines in (("wav.scp", wavs), ("text", text), ("labels", labels)):
        (d / fname).write_text("\n".join(sorted(lines)) + "\n")
    return d


def test_text_embeddings_are_normalised_and_cached(text_model, tmp_path):
    emb = TextEncoder(str(text_model)).embed(["a low tone", "a high tone"])
    assert emb.shape == (2, 16) and torch.allclose(emb.norm(dim=1), torch.ones(2))
    cache = tmp_path / "cache.pt"
    first = cached_embeddings(["a low tone", "a high tone", "a low tone"], str(text_model), cache)
    assert torch.allclose(first[0], first[2]) and torch.allclose(first[:2], emb, atol=1e-6)
    assert len(load_checkpoint(cache)["captions"]) == 2
    again = cached_embeddings(["a high tone"], str(text_model), cache)
    assert torch.equal(again[0], first[1])


def test_atcl_grid_resume_export_and_retrieval(text_model, tmp_path, capsys):
    train, valid = make_dir(tmp_path, "train", 8), make_dir(tmp_path, "valid", 4, offset=8)
    out = tmp_path / "exp"
    args = [
        "--task",
        "atcl",
        "--train-data",
        str(train),
        "--valid-data",
        str(valid),
        "--output-dir",
        str(out),
        "--text-encoder",
        str(text_model),
        "--override",
        "atcl.tau_grid=[0.1,0.2]",
        "optim.epochs=2",
        "optim.batch_size=4",
        "crop_seconds=1.0",
        "head.embed_dim=8",
        "head.hidden_dim=0",
        "augment.time_masks=1",
        "log_interval=1",
    ]
    assert pretrain_encoder.main(args) == 0
    selected = json.loads((out / "selected.json").read_text())
    assert [r["tau"] for r in selected["runs"]] == [0.1, 0.2]
    run = out / f"tau{selected['tau']:g}"
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2] and "R@1" in rows[0]["metrics"]["t2a"]
    assert (run / "images" / "loss.png").is_file() and (run / "checkpoints" / "last.pt").is_file()
    stamp = (run / "best.pt").stat().st_mtime_ns
    assert pretrain_encoder.main(args) == 0  # finished: a rerun trains nothing
    assert (run / "best.pt").stat().st_mtime_ns == stamp
    args[args.index("optim.epochs=2")] = "optim.epochs=3"
    with pytest.raises(ValueError, match="another configuration"):
        pretrain_encoder._main(args)  # a changed config never resumes into the old run

    exported = tmp_path / "enc.pt"
    assert export_encoder.main([str(out), str(exported)]) == 0
    enc = build_encoder("cnn_small", checkpoint=str(exported))  # what aac-extract-feats does
    best = load_checkpoint(run / "best.pt")["model"]
    assert torch.equal(enc.convs[0].weight, best["encoder.convs.0.weight"])
    assert json.loads((tmp_path / "enc.pt.json").read_text())["encoder"] == "cnn_small"

    assert eval_retrieval.main([str(out), "--data-dir", str(valid)]) == 0
    scores = json.loads((out / "eval" / "valid" / "scores.json").read_text())
    assert scores["metrics"]["num_clips"] == 4 and scores["metrics"]["num_captions"] == 8
    assert "text-to-audio" in (out / "RESULTS.md").read_text()
    assert eval_tagging.main([str(out), "--data-dir", str(valid)]) == 2  # wrong task: user error
    assert "an ATCL run; this needs an MLAC one (aac-eval-retrieval?)" in capsys.readouterr().err


def test_mlac_learns_two_tones_and_reports_map(tmp_path):
    train, valid = make_dir(tmp_path, "train", 8), make_dir(tmp_path, "valid", 4, offset=8)
    out = tmp_path / "mlac"
    assert (
        pretrain_encoder.main(
            [
                "--task",
                "mlac",
                "--train-data",
                str(train),
                "--valid-data",
                str(valid),
                "--output-dir",
                str(out),
                "--override",
                "optim.epochs=3",
                "optim.batch_size=4",
                "optim.lr=0.01",
                "crop_seconds=1.0",
                "augment.mixup_alpha=0.4",
            ]
        )
        == 0
    )
    conf = (out / "config.yaml").read_text()
    assert "num_classes: 3" in conf and "- low" in conf
    assert eval_tagging.main([str(out), "--data-dir", str(valid)]) == 0
    metrics = json.loads((out / "eval" / "valid" / "scores.json").read_text())["metrics"]
    # "tone" is on every clip (AP 1 whatever the scores); low/high are told apart
    assert metrics["num_classes_scored"] == 3 and metrics["mAP"] > 0.9
    assert "MLAC on valid" in (out / "RESULTS.md").read_text()


def step_losses(run_dir):
    return [
        float(x)
        for x in re.findall(r"step \d+ loss ([0-9.]+)", (run_dir / "train.log").read_text())
    ]


@pytest.mark.slow
def test_atcl_two_cpu_processes_match_one(text_model, tmp_path):
    """--nproc 2 relaunches through torchrun (gloo) and trains what one process trains.

    The InfoNCE batch is gathered over ranks, so the step losses and the weights equal one
    process's. The encoder is `logmel` (no weights) under the trained head: batch norm, as
    in cnn_small, would normalise each rank's share of the batch on its own.
    """
    train, valid = make_dir(tmp_path, "train", 9), make_dir(tmp_path, "valid", 4, offset=9)

    def argv(out):
        return [
            "--task",
            "atcl",
            "--train-data",
            str(train),
            "--valid-data",
            str(valid),
            "--output-dir",
            str(out),
            "--text-encoder",
            str(text_model),
            "--override",
            "encoder.name=logmel",
            "optim.epochs=2",
            "optim.batch_size=4",
            "crop_seconds=1.0",
            "head.embed_dim=8",
            "log_interval=1",
        ]

    assert pretrain_encoder.main(argv(tmp_path / "one")) == 0
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    command = [sys.executable, "-m", "aac.bin.pretrain_encoder", "--nproc", "2"]
    proc = subprocess.run(command + argv(tmp_path / "two"), env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(x) for x in (tmp_path / "two/metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 4]  # 9 clips: two global batches of 4 per epoch
    one, two = step_losses(tmp_path / "one"), step_losses(tmp_path / "two")
    assert len(one) == len(two) == 4
    assert one == pytest.approx(two, rel=1e-4, abs=1e-5)
    a = load_checkpoint(tmp_path / "one/checkpoints/last.pt")["model"]
    b = load_checkpoint(tmp_path / "two/checkpoints/last.pt")["model"]
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-5), key
    assert (tmp_path / "two/selected.json").is_file()


def test_a_killed_run_resumes_to_the_same_weights(tmp_path, monkeypatch):
    from aac.train.loop import TrainingLoop

    train, valid = make_dir(tmp_path, "train", 8), make_dir(tmp_path, "valid", 4, offset=8)

    def args(out):
        return mlac_argv(
            train,
            valid,
            out,
            "augment.mixup_alpha=0.4",
            "augment.time_masks=1",
            "head.dropout=0.2",
            "checkpoint_interval=1",
        )

    assert pretrain_encoder.main(args(tmp_path / "whole")) == 0
    save, saves = TrainingLoop.save_last, []

    def save_then_die(self):
        save(self)
        saves.append(1)
        if len(saves) == 3:  # step 1 (interval), end of epoch 1, step 3 (interval)
            raise KeyboardInterrupt  # killed in the middle of epoch 2

    monkeypatch.setattr(TrainingLoop, "save_last", save_then_die)
    assert pretrain_encoder.main(args(tmp_path / "killed")) == 130
    state = load_checkpoint(tmp_path / "killed/checkpoints/last.pt")["state"]
    assert (state["epoch"], state["batch"], state["step"]) == (2, 1, 3)
    monkeypatch.setattr(TrainingLoop, "save_last", save)
    assert pretrain_encoder.main(args(tmp_path / "killed")) == 0
    whole = load_checkpoint(tmp_path / "whole" / "checkpoints" / "last.pt")["model"]
    resumed = load_checkpoint(tmp_path / "killed" / "checkpoints" / "last.pt")["model"]
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)

    def rows_without_time(name):
        rows = strict_rows(tmp_path / name / "metrics.jsonl")
        return [{k: v for k, v in r.items() if k != "time_s"} for r in rows]

    assert rows_without_time("killed") == rows_without_time("whole")


def strict_rows(path):
    """metrics.jsonl rows, refusing NaN/Infinity (not JSON)."""

    def refuse(name):
        raise ValueError(f"not JSON: {name}")

    return [json.loads(line, parse_constant=refuse) for line in path.read_text().splitlines()]


def mlac_argv(train, valid, out, *overrides):
    return [
        "--task",
        "mlac",
        "--train-data",
        str(train),
        "--valid-data",
        str(valid),
        "--output-dir",
        str(out),
        "--override",
        "optim.epochs=2",
        "optim.batch_size=4",
        "crop_seconds=1.0",
        *overrides,
    ]


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert "Traceback" not in "\n".join(err)
    assert err[-1].startswith("aac-pretrain-encoder: error:"), err
    return err[-1]


def test_a_non_finite_loss_stops_pretraining(tmp_path, capsys):
    """lr 1e30 makes the loss NaN within the first steps: stopped, and no NaN is written."""
    train, valid = make_dir(tmp_path, "train", 8), make_dir(tmp_path, "valid", 4, offset=8)
    out = tmp_path / "exp"
    argv = mlac_argv(train, valid, out, "optim.lr=1.0e+30", "optim.grad_clip=0")
    assert pretrain_encoder.main(argv) == 2
    assert "training loss is nan at epoch 1" in one_error_line(capsys)
    assert not (out / "metrics.jsonl").exists() and not (out / "best.pt").exists()


def test_a_non_finite_validation_is_null_and_never_best(tmp_path, monkeypatch, capsys):
    import aac.pretrain.tasks as tasks

    train, valid = make_dir(tmp_path, "train", 8), make_dir(tmp_path, "valid", 4, offset=8)
    real, calls = tasks.tagging_eval, []

    def nan_in_epoch_2(*args, **kwargs):
        metrics, loss = real(*args, **kwargs)
        calls.append(1)
        return ({**metrics, "mAP": float("nan")}, loss) if len(calls) == 2 else (metrics, loss)

    monkeypatch.setattr(tasks, "tagging_eval", nan_in_epoch_2)
    out = tmp_path / "exp"
    assert pretrain_encoder.main(mlac_argv(train, valid, out)) == 2
    assert "epoch 2: non-finite result" in one_error_line(capsys)
    rows = strict_rows(out / "metrics.jsonl")
    assert [r["epoch"] for r in rows] == [1, 2] and "non_finite" not in rows[0]
    assert rows[1]["valid_metric"] is None and rows[1]["metrics"]["mAP"] is None
    assert rows[1]["non_finite"] == ["valid_metric", "metrics.mAP"]
    assert load_checkpoint(out / "best.pt")["epoch"] == 1
    assert load_checkpoint(out / "checkpoints/last.pt")["state"]["epoch"] == 2  # epoch 1 done


@pytest.mark.parametrize(
    "override, message",
    [
        ("optim.lr=-1", "optim.lr must be a positive finite number, got -1.0"),
        ("optim.betas=[0.9,1.5]", "optim.betas must be two numbers in [0, 1)"),
        ("optim.weight_decay=-0.1", "optim.weight_decay must be a finite number >= 0"),
        ("optim.decay=cosin", "optim.decay must be one of linear, cosine, constant, got 'cosin'"),
        ("checkpoint_interval=-1", "checkpoint_interval must be >= 0"),
        ("head.pooling=sum", "head.pooling must be one of mean, max, meanmax"),
    ],
)
def test_bad_settings_are_one_error_line_naming_the_key(tmp_path, capsys, override, message):
    out = tmp_path / "exp"
    config = tmp_path / "atcl.yaml"
    config.write_text("optim:\n  epochs: 1\n")
    argv = mlac_argv(tmp_path / "no_train", tmp_path / "no_valid", out, override)
    assert pretrain_encoder.main(["--config", str(config), *argv]) == 2
    line = one_error_line(capsys)
    assert f"{config} + command-line overrides: {message}" in line, line
    assert not out.exists()
