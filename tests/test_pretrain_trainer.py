"""Pre-training end to end on tiny made-up data: train, resume, select, export, evaluate.

The text encoder is a one-layer BERT written to a temporary dir (any HF model dir works
through --text-encoder), so no test needs the 90 MB all-MiniLM-L6-v2.
"""

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from aac.bin import eval_retrieval, eval_tagging, export_encoder, pretrain_encoder
from aac.checkpoint_io import load_checkpoint
from aac.encoders import build_encoder
from aac.pretrain.text_encoder import TextEncoder, cached_embeddings

WORDS = ["a", "low", "high", "tone", "hum", "beep", "sound", "pitched"]


@pytest.fixture(scope="module")
def text_model(tmp_path_factory):
    from transformers import BertConfig, BertModel, BertTokenizerFast

    path = tmp_path_factory.mktemp("tiny_bert")
    (path / "vocab.txt").write_text(
        "\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS)
    )
    BertTokenizerFast(vocab_file=str(path / "vocab.txt")).save_pretrained(path)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=5 + len(WORDS),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
    )
    BertModel(config).save_pretrained(path)
    return path


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


@pytest.mark.slow
def test_atcl_trains_with_two_cpu_processes(text_model, tmp_path):
    """--nproc 2 relaunches through torchrun (gloo); the InfoNCE batch is gathered over ranks.

    Weights are not compared with one process: batch norm normalises each rank's share.
    """
    import os
    import subprocess
    import sys
    from pathlib import Path

    train, valid = make_dir(tmp_path, "train", 9), make_dir(tmp_path, "valid", 4, offset=9)
    out = tmp_path / "ddp"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "aac.bin.pretrain_encoder",
            "--task",
            "atcl",
            "--nproc",
            "2",
            "--train-data",
            str(train),
            "--valid-data",
            str(valid),
            "--output-dir",
            str(out),
            "--text-encoder",
            str(text_model),
            "--override",
            "optim.epochs=2",
            "optim.batch_size=4",
            "crop_seconds=1.0",
            "head.embed_dim=8",
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 4]  # 9 clips: two global batches of 4 per epoch
    assert (out / "selected.json").is_file()


def test_a_killed_run_resumes_to_the_same_weights(tmp_path, monkeypatch):
    from aac.pretrain.trainer import PretrainTrainer

    train, valid = make_dir(tmp_path, "train", 8), make_dir(tmp_path, "valid", 4, offset=8)

    def args(out):
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
            "augment.mixup_alpha=0.4",
            "augment.time_masks=1",
            "head.dropout=0.2",
        ]

    assert pretrain_encoder.main(args(tmp_path / "whole")) == 0
    save = PretrainTrainer.save_last

    def save_then_die(self):
        save(self)
        raise KeyboardInterrupt  # killed right after epoch 1 was saved

    monkeypatch.setattr(PretrainTrainer, "save_last", save_then_die)
    assert pretrain_encoder.main(args(tmp_path / "killed")) == 130
    monkeypatch.setattr(PretrainTrainer, "save_last", save)
    assert pretrain_encoder.main(args(tmp_path / "killed")) == 0
    whole = load_checkpoint(tmp_path / "whole" / "checkpoints" / "last.pt")["model"]
    resumed = load_checkpoint(tmp_path / "killed" / "checkpoints" / "last.pt")["model"]
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)
