import json

import pytest
import torch
from caption_fixtures import make_experiment_inputs, train_argv, write_yaml

from aac.bin.train import main as train_main
from aac.checkpoint_io import load_checkpoint
from aac.features import FeatureReader
from aac.train.loop import TrainingLoop


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return make_experiment_inputs(tmp_path_factory.mktemp("data"))


def weights(path):
    return load_checkpoint(path)["model"]


def same_weights(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_train_writes_experiment_dir(tmp_path, inputs, monkeypatch):
    cfg = write_yaml(tmp_path / "train.yaml", epochs=2)
    out = tmp_path / "exp"
    real_init, opened = FeatureReader.__init__, []

    def counting_init(self, path):
        opened.append(str(path))
        real_init(self, path)

    monkeypatch.setattr(FeatureReader, "__init__", counting_init)
    assert train_main(train_argv(inputs, cfg, out)) == 0
    # each cache opened once: config, datasets and both epochs' CIDEr-D validation share it
    assert sorted(opened) == sorted(str(inputs[k]) for k in ("train_feats", "valid_feats"))
    monkeypatch.undo()
    for name in (
        "config.yaml",
        "cmd.txt",
        "env.yaml",
        "tokenizer.model",
        "train.log",
        "metrics.jsonl",
        "best.pt",
        "checkpoints/last.pt",
        "images/loss.png",
        "images/valid_metric.png",
    ):
        assert (out / name).is_file(), name
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    assert rows[1]["train_loss"] < rows[0]["train_loss"]
    assert set(rows[0]) >= {"train_loss", "valid_loss", "valid_metric", "lr", "time_s"}
    config = (out / "config.yaml").read_text()
    assert "enc_dim: 8" in config and "name: logmel" in config
    assert "aac-train" in (out / "cmd.txt").read_text()
    assert not list(out.rglob("*.tmp"))
    best_epoch = max(rows, key=lambda r: r["valid_metric"])["epoch"]
    assert load_checkpoint(out / "best.pt")["epoch"] == best_epoch
    # a finished run returns without training again
    before = (out / "checkpoints" / "last.pt").stat().st_mtime_ns
    assert train_main(train_argv(inputs, cfg, out)) == 0
    assert (out / "checkpoints" / "last.pt").stat().st_mtime_ns == before


def test_resume_after_kill_gives_same_weights(tmp_path, inputs, monkeypatch):
    cfg = write_yaml(tmp_path / "train.yaml", epochs=2, dropout=0.2)
    extra = ["--override", "checkpoint_interval=3"]
    train_main(train_argv(inputs, cfg, tmp_path / "full", *extra))

    real_step, calls = TrainingLoop.optimizer_step, {"n": 0}

    def dying_step(self):
        calls["n"] += 1
        if calls["n"] == 11:  # epoch 2, after the step-9 checkpoint
            raise KeyboardInterrupt("simulated kill")
        real_step(self)

    monkeypatch.setattr(TrainingLoop, "optimizer_step", dying_step)
    assert train_main(train_argv(inputs, cfg, tmp_path / "killed", *extra)) == 130
    state = load_checkpoint(tmp_path / "killed/checkpoints/last.pt")["state"]
    assert (state["epoch"], state["step"]) == (2, 9)
    monkeypatch.setattr(TrainingLoop, "optimizer_step", real_step)
    train_main(train_argv(inputs, cfg, tmp_path / "killed", *extra))
    assert same_weights(
        weights(tmp_path / "full/checkpoints/last.pt"),
        weights(tmp_path / "killed/checkpoints/last.pt"),
    )
    full = (tmp_path / "full/metrics.jsonl").read_text().splitlines()
    resumed = (tmp_path / "killed/metrics.jsonl").read_text().splitlines()
    strip = [{k: v for k, v in json.loads(r).items() if k != "time_s"} for r in full]
    assert strip == [{k: v for k, v in json.loads(r).items() if k != "time_s"} for r in resumed]


def test_init_from_loads_weights_and_checks_tokenizer(tmp_path, inputs, capsys):
    cfg = write_yaml(tmp_path / "train.yaml", epochs=1)
    train_main(train_argv(inputs, cfg, tmp_path / "pre"))
    init = weights(tmp_path / "pre/best.pt")
    cfg0 = tmp_path / "zero_lr.yaml"
    # lr 0 is refused; 1e-30 moves no float32 weight (and decays none)
    cfg0.write_text(cfg.read_text().replace("lr: 0.01", "lr: 1.0e-30"))
    train_main(train_argv(inputs, cfg0, tmp_path / "ft", "--init-from", tmp_path / "pre"))
    assert same_weights(init, weights(tmp_path / "ft/checkpoints/last.pt"))
    (tmp_path / "pre/tokenizer.model").write_bytes(b"other")
    assert (
        train_main(train_argv(inputs, cfg, tmp_path / "ft2", "--init-from", tmp_path / "pre")) == 2
    )
    assert "tokenizer.model differs" in capsys.readouterr().err
    assert not (tmp_path / "ft2").exists()


def test_bad_config_is_an_error_naming_the_key(tmp_path, inputs, capsys):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("optim:\n  lrr: 0.1\n")
    assert train_main(train_argv(inputs, cfg, tmp_path / "exp")) == 2
    assert "unknown key 'optim.lrr'" in capsys.readouterr().err
    cfg.write_text("downsample: 3\n")
    assert train_main(train_argv(inputs, cfg, tmp_path / "exp")) == 2
    assert "downsample" in capsys.readouterr().err
    assert not (tmp_path / "exp").exists()


def test_resume_with_another_config_is_refused(tmp_path, inputs, capsys):
    cfg = write_yaml(tmp_path / "train.yaml", epochs=1)
    out = tmp_path / "exp"
    assert train_main(train_argv(inputs, cfg, out)) == 0
    assert train_main(train_argv(inputs, cfg, out, "--override", "optim.lr=0.5")) == 2
    assert "optim.lr: 0.01 -> 0.5" in capsys.readouterr().err
    # options that cannot change the result may differ
    assert train_main(train_argv(inputs, cfg, out, "--override", "log_interval=7")) == 0


def test_fine_tuning_takes_the_model_of_its_init_experiment(tmp_path, inputs, capsys):
    cfg = write_yaml(tmp_path / "train.yaml", epochs=1)
    train_main(train_argv(inputs, cfg, tmp_path / "pre"))
    no_model = tmp_path / "finetune.yaml"  # the pre-training config without its model block
    no_model.write_text("optim:" + cfg.read_text().split("optim:", 1)[1])
    init = ("--init-from", tmp_path / "pre")
    smoothing = ("--override", "model.label_smoothing=0.1")  # regularisation may change
    assert train_main(train_argv(inputs, no_model, tmp_path / "ft", *init, *smoothing)) == 0
    config = (tmp_path / "ft/config.yaml").read_text()
    assert "d_model: 16" in config and "label_smoothing: 0.1" in config
    capsys.readouterr()
    other = ("--override", "model.decoder_layers=2")
    assert train_main(train_argv(inputs, no_model, tmp_path / "ft2", *init, *other)) == 2
    err = capsys.readouterr().err
    assert "model.decoder_layers=2, but --init-from" in err and "decoder_layers=1" in err
    assert not (tmp_path / "ft2").exists()


def test_the_stride_has_one_source(tmp_path, inputs, capsys):
    cfg = write_yaml(tmp_path / "train.yaml", epochs=1)
    out = tmp_path / "exp"
    argv = train_argv(inputs, cfg, out, "--print-config")
    assert train_main(argv + ["--downsample", "4"]) == 0
    assert "downsample: 4" in capsys.readouterr().out
    for conflict in (["--override", "downsample=2"], []):
        if not conflict:
            cfg.write_text(cfg.read_text() + "downsample: 2\n")
        assert train_main(argv + ["--downsample", "4", *conflict]) == 2
        assert "downsample: 2 but --downsample 4" in capsys.readouterr().err
    assert train_main(argv) == 0  # without --downsample the config's stride stands
    assert "downsample: 2" in capsys.readouterr().out
    assert not out.exists()
