"""Every expected failure of an aac-* tool: exit status 2, one line naming the file/key.

The CLIs are run through their `main([...])`; the one-line format comes from
`aac.cli.run_main`, so these tests also check that nothing on the way swallows or
re-wraps an error (a traceback on stderr would fail `one_error_line`).
"""

import errno
import importlib
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch
from caption_fixtures import make_experiment_inputs, train_argv, write_yaml

from aac.bin.caption import main as caption_main
from aac.bin.train import main as train_main
from aac.errors import AacError

# Entry points that follow the shared contract (extract_feats, merge_feats, score and pack
# are covered by their own tests).
OWNED = {
    "benchmark": "aac-benchmark",
    "caption": "aac-caption",
    "decode": "aac-decode",
    "install_metric_assets": "aac-install-metric-assets",
    "make_mini_corpus": "aac-make-mini-corpus",
    "merge_decodes": "aac-merge-decodes",
    "prep_data": "aac-prep-data",
    "results": "aac-results",
    "train": "aac-train",
    "train_tokenizer": "aac-train-tokenizer",
}


def one_error_line(capsys, prog: str) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "warning:" not in line]
    assert len(lines) == 1 and lines[0].startswith(f"{prog}: error: "), err
    assert "Traceback" not in err
    return lines[0]


# ---- every entry point goes through run_main ---------------------------------------------
@pytest.mark.parametrize("module", sorted(OWNED))
def test_entry_point_reports_an_aac_error_as_one_line(module, monkeypatch, capsys):
    mod = importlib.import_module(f"aac.bin.{module}")

    class Boom:
        def parse_args(self, argv=None):
            raise AacError("boom: some/file.yaml: key x")

    monkeypatch.setattr(mod, "get_parser", lambda: Boom())
    assert mod.main([]) == 2
    assert (
        one_error_line(capsys, OWNED[module])
        == f"{OWNED[module]}: error: boom: some/file.yaml: key x"
    )
    assert mod.main(["--verbose"]) == 2  # --verbose: the same line, after a traceback
    err = capsys.readouterr().err
    assert "Traceback" in err and err.rstrip().endswith("boom: some/file.yaml: key x")


# ---- aac-train -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return make_experiment_inputs(tmp_path_factory.mktemp("data"), n_train=6, n_valid=3)


def run_train(capsys, inputs, cfg, out, *extra):
    rc = train_main(train_argv(inputs, cfg, out, *extra))
    return rc, one_error_line(capsys, "aac-train") if rc else ""


@pytest.mark.parametrize(
    "yaml_text, names",
    [
        ("optim:\n  lrr: 0.1\n", "unknown key 'optim.lrr'"),
        ("optim:\n  lr: fast\n", "optim.lr must be a number"),
        ("optim:\n  lr: -1.0e-3\n", "optim.lr must be a positive finite number"),
        ("optim:\n  lr: 0\n", "optim.lr must be a positive finite number"),
        ("optim:\n  lr: .nan\n", "optim.lr must be a positive finite number, got nan"),
        ("optim:\n  lr: .inf\n", "optim.lr must be a positive finite number, got inf"),
        ("optim:\n  grad_clip: -1.0\n", "optim.grad_clip must be a finite number >= 0"),
        ("model:\n  dropout: 1.5\n", "model.dropout must be in [0, 1)"),
        ("valid:\n  beam: 0\n", "valid.keep_nbest/beam/batch_size must be >= 1"),
    ],
)
def test_train_bad_config_names_file_and_key(tmp_path, inputs, capsys, yaml_text, names):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml_text)
    rc, line = run_train(capsys, inputs, cfg, tmp_path / "exp")
    assert rc == 2 and str(cfg) in line and names in line
    assert not (tmp_path / "exp").exists()


def test_train_bad_override_names_the_override(tmp_path, inputs, capsys):
    cfg = write_yaml(tmp_path / "ok.yaml")
    rc, line = run_train(capsys, inputs, cfg, tmp_path / "exp", "--override", "optim.lr=-1")
    assert rc == 2 and "ok.yaml + command-line overrides: optim.lr" in line
    assert not (tmp_path / "exp").exists()


def copy_inputs(inputs, tmp_path) -> dict:
    out = dict(inputs)
    for key in ("train_data", "valid_data"):
        out[key] = tmp_path / key
        shutil.copytree(inputs[key], out[key])
    return out


@pytest.mark.parametrize("which, file", [("train_data", "text"), ("valid_data", "text_spk2")])
def test_train_duplicate_ids_name_file_line_and_id(tmp_path, inputs, capsys, which, file):
    paths = copy_inputs(inputs, tmp_path)
    path = paths[which] / file
    lines = path.read_text().splitlines()
    lines.insert(2, lines[0].split(" ", 1)[0] + " another caption")
    path.write_text("\n".join(lines) + "\n")
    key = lines[0].split(" ", 1)[0]
    rc, line = run_train(capsys, paths, write_yaml(tmp_path / "t.yaml"), tmp_path / "exp")
    assert rc == 2 and f"{path}:3: duplicate id {key!r} (first on line 1)" in line
    assert not (tmp_path / "exp").exists()


@pytest.mark.parametrize(
    "key, what",
    [
        ("tokenizer", "tokenizer model"),
        ("train_feats", "feature cache"),
        ("valid_feats", "feature cache"),
    ],
)
def test_train_missing_input_is_named(tmp_path, inputs, capsys, key, what):
    paths = dict(inputs, **{key: tmp_path / "nope" / "missing.bin"})
    rc, line = run_train(capsys, paths, write_yaml(tmp_path / "t.yaml"), tmp_path / "exp")
    assert rc == 2 and f"{paths[key]}: {what}" in line and "not found" in line
    assert not (tmp_path / "exp").exists()


def test_train_full_disk_names_the_path_and_leaves_no_experiment(
    tmp_path, inputs, capsys, monkeypatch
):
    import aac.expdir

    def full_disk(data, path):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(aac.expdir, "dump_yaml", full_disk)
    out = tmp_path / "exp"
    rc, line = run_train(capsys, inputs, write_yaml(tmp_path / "t.yaml"), out)
    assert rc == 2 and line == f"aac-train: error: no space left on device: {out / 'config.yaml'}"
    assert not out.exists()


def test_train_failure_keeps_an_existing_experiment_dir(tmp_path, inputs, capsys, monkeypatch):
    import aac.expdir

    out = tmp_path / "exp"
    out.mkdir()
    (out / "notes.txt").write_text("mine")

    def full_disk(data, path):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(aac.expdir, "dump_yaml", full_disk)
    rc, _ = run_train(capsys, inputs, write_yaml(tmp_path / "t.yaml"), out)
    assert rc == 2 and (out / "notes.txt").read_text() == "mine"


def test_train_print_config_resolves_and_writes_nothing(tmp_path, inputs, capsys):
    import yaml

    cfg = write_yaml(tmp_path / "t.yaml", epochs=3)
    out = tmp_path / "exp"
    rc = train_main(train_argv(inputs, cfg, out, "--override", "optim.lr=0.5", "--print-config"))
    printed = yaml.safe_load(capsys.readouterr().out)
    assert rc == 0 and not out.exists()
    assert printed["optim"]["lr"] == 0.5 and printed["optim"]["epochs"] == 3  # override < YAML
    assert printed["optim"]["weight_decay"] == 0.01  # a default
    assert printed["encoder"]["name"] == "logmel" and printed["enc_dim"] > 0
    # without data arguments: defaults < YAML < overrides only
    assert train_main(["--config", str(cfg), "--print-config"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["enc_dim"] == 0
    cfg.write_text("optim:\n  lr: -1.0\n")
    assert train_main(["--config", str(cfg), "--print-config"]) == 2
    assert "optim.lr" in one_error_line(capsys, "aac-train")


# ---- aac-caption / aac-benchmark ------------------------------------------------------------
@pytest.fixture(scope="module")
def exp(tmp_path_factory):
    from aac.model import ModelConf
    from aac.testing import make_random_exp_dir

    torch.set_num_threads(1)
    conf = ModelConf(
        d_model=16,
        decoder_layers=1,
        decoder_attention_heads=2,
        decoder_ffn_dim=32,
        dropout=0.0,
        attention_dropout=0.0,
        max_target_length=5,
    )
    return make_random_exp_dir(tmp_path_factory.mktemp("exp"), encoder="logmel", model_conf=conf)


@pytest.fixture
def clip(tmp_path):
    path = tmp_path / "clip.wav"
    sf.write(path, np.random.default_rng(0).normal(0, 0.1, 16000).astype(np.float32), 16000)
    return path


@pytest.mark.parametrize(
    "args, names",
    [
        (["--window", "nan"], "--window nan: must be a positive, finite number"),
        (["--window", "inf"], "--window inf: must be a positive, finite number"),
        (["--window", "2", "--hop", "-1"], "--hop -1.0: must be a positive, finite number"),
        (["--window", "1", "--hop", "2"], "--hop 2.0 is longer than --window 1.0"),
        (["--hop", "1"], "--hop needs --window"),
        (
            ["--window", "0.03"],
            "--window 0.03: shorter than the encoder's smallest input (0.055 s)",
        ),
    ],
)
def test_caption_bad_window_is_refused(exp, clip, capsys, args, names):
    assert caption_main([str(exp), str(clip), *args]) == 2
    assert names in one_error_line(capsys, "aac-caption")


def test_caption_clip_shorter_than_encoder_input_is_named(exp, tmp_path, capsys):
    short = tmp_path / "tiny.wav"
    sf.write(short, np.zeros(300, dtype=np.float32), 16000)
    assert caption_main([str(exp), str(short)]) == 0
    captured = capsys.readouterr()
    assert f"aac-caption: warning: {short}: 0.019 s is shorter than the encoder's" in captured.err
    assert captured.out.startswith(f"{short}\t")


def test_caption_encoder_file_as_checkpoint_points_to_encoder_checkpoint(
    exp, clip, tmp_path, capsys
):
    pth = tmp_path / "Cnn14.pth"
    torch.save({"model": {"conv_block1.conv1.weight": torch.zeros(2)}}, pth)
    pt = tmp_path / "encoder.pt"
    shutil.copy(pth, pt)
    for path in (pth, pt):
        assert caption_main([str(exp), str(clip), "--checkpoint", str(path)]) == 2
        line = one_error_line(capsys, "aac-caption")
        assert f"--checkpoint {path}: not a captioning model checkpoint" in line
        assert "--encoder-checkpoint" in line


def test_caption_checkpoint_names_and_old_spellings(exp, clip, capsys):
    assert caption_main([str(exp), str(clip), "--checkpoint", str(exp / "best.pt")]) == 0
    by_path = capsys.readouterr().out
    assert caption_main([str(exp), str(clip), "--checkpoint", "best"]) == 0
    assert capsys.readouterr().out == by_path
    for old in ("--model-checkpoint", "--dtype"):  # never released: gone, not deprecated
        with pytest.raises(SystemExit):
            caption_main([str(exp), str(clip), old, "best"])
        assert "unrecognized arguments" in capsys.readouterr().err
    assert caption_main([str(exp), str(clip), "--checkpoint", "epoch7"]) == 2
    assert "no checkpoint 'epoch7'" in one_error_line(capsys, "aac-caption")


def test_caption_output_is_published_atomically(exp, clip, tmp_path, capsys, monkeypatch):
    import aac.bin.caption as cli

    out = tmp_path / "o" / "caps.tsv"
    out.parent.mkdir()
    out.write_text("old\n")

    def killed(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device", str(out) + ".tmp")

    monkeypatch.setattr(cli, "run", killed)
    assert caption_main([str(exp), str(clip), "-o", str(out)]) == 2
    assert "no space left on device" in one_error_line(capsys, "aac-caption")
    assert out.read_text() == "old\n" and not list(out.parent.glob("*.tmp"))


def test_benchmark_duplicate_wav_scp_id_names_file_and_line(exp, clip, tmp_path, capsys):
    from aac.bin.benchmark import main as bench_main

    data = tmp_path / "data"
    data.mkdir()
    (data / "wav.scp").write_text(f"a {clip}\nb {clip}\na {clip}\n")
    assert bench_main([str(exp), "--data-dir", str(data), "--profile-clips", "0"]) == 2
    line = one_error_line(capsys, "aac-benchmark")
    assert f"{data / 'wav.scp'}:3: duplicate id 'a' (first on line 1)" in line


def test_device_flag_takes_cuda_n_everywhere(capsys):
    from aac.bin import benchmark, caption, decode

    argv = {
        "decode": ["--exp-dir", "e", "--data-dir", "d", "--feats", "f", "--output-dir", "o"],
        "caption": ["m", "a.wav"],
        "benchmark": ["m", "--data-dir", "d"],
    }
    for mod in (benchmark, caption, decode):
        name = mod.__name__.rsplit(".", 1)[1]
        assert mod.get_parser().parse_args(argv[name] + ["--device", "cuda:1"]).device == "cuda:1"
        with pytest.raises(SystemExit):
            mod.get_parser().parse_args(argv[name] + ["--device", "gpu1"])
    assert "is not cpu, cuda or cuda:N" in capsys.readouterr().err
