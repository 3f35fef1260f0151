"""Packed models: round trip, corruption and encoder SHA-256 refusal (aac.packing, aac-pack)."""

import hashlib
import json
import zipfile

import pytest
import torch
import yaml

from aac.bin.pack import main as pack_main
from aac.checkpoint_io import file_sha256, load_checkpoint
from aac.packing import PackError, pack_model, resolve_encoder_checkpoint, unpack_model

ENC_BYTES = b"pretend cnn14 weights" * 100


@pytest.fixture
def exp_dir(tmp_path):
    exp = tmp_path / "exp"
    exp.mkdir()
    enc_ckpt = tmp_path / "Cnn14_mAP=0.431.pth"
    enc_ckpt.write_bytes(ENC_BYTES)
    config = {
        "encoder": {
            "name": "pann_cnn14",
            "checkpoint": str(enc_ckpt),
            "checkpoint_sha256": hashlib.sha256(ENC_BYTES).hexdigest(),
            "random_init": False,
            "sample_rate": 32000,
        }
    }
    (exp / "config.yaml").write_text(yaml.safe_dump(config))
    (exp / "tokenizer.model").write_bytes(b"spm model bytes")
    torch.save(
        {
            "model": {"w": torch.arange(4.0)},
            "optimizer": {"m": torch.ones(1000)},
            "rng": {"x": 1},
            "epoch": 3,
        },
        exp / "best.pt",
    )
    return exp


def test_round_trip_keeps_files_and_drops_training_state(exp_dir, tmp_path):
    manifest = pack_model(exp_dir, tmp_path / "m.zip")
    assert manifest["encoder"]["included"] is None
    out = tmp_path / "unpacked"
    assert unpack_model(tmp_path / "m.zip", out) == manifest
    assert (out / "config.yaml").read_bytes() == (exp_dir / "config.yaml").read_bytes()
    assert (out / "tokenizer.model").read_bytes() == b"spm model bytes"
    state = load_checkpoint(out / "best.pt")
    assert set(state) == {"model", "epoch"}
    assert torch.equal(state["model"]["w"], torch.arange(4.0))
    assert not (out / "encoder").exists()


def test_include_encoder_and_it_is_used_at_load(exp_dir, tmp_path):
    manifest = pack_model(exp_dir, tmp_path / "m.zip", include_encoder=True)
    assert manifest["encoder"]["included"] == "encoder/Cnn14_mAP=0.431.pth"
    out = tmp_path / "unpacked"
    unpack_model(tmp_path / "m.zip", out)
    enc = yaml.safe_load((out / "config.yaml").read_text())["encoder"]
    enc["checkpoint"] = "/moved/away.pth"  # the recorded path no longer exists
    included = out / manifest["encoder"]["included"]
    assert resolve_encoder_checkpoint(enc, None, included) == str(included)


def test_corrupt_member_is_refused(exp_dir, tmp_path):
    pack_model(exp_dir, tmp_path / "m.zip")
    with (
        zipfile.ZipFile(tmp_path / "m.zip") as src,
        zipfile.ZipFile(tmp_path / "bad.zip", "w") as dst,
    ):
        for item in src.infolist():
            data = src.read(item)
            dst.writestr(item, b"tampered" if item.filename == "tokenizer.model" else data)
    with pytest.raises(PackError, match="tokenizer.model.*corrupt"):
        unpack_model(tmp_path / "bad.zip", tmp_path / "out")


def test_not_a_pack_is_refused(tmp_path):
    (tmp_path / "x.zip").write_bytes(b"not a zip")
    with pytest.raises(PackError, match="not a packed model"):
        unpack_model(tmp_path / "x.zip", tmp_path / "out")


def test_encoder_sha256_mismatch_is_refused(exp_dir, tmp_path):
    enc = yaml.safe_load((exp_dir / "config.yaml").read_text())["encoder"]
    other = tmp_path / "other.pth"
    other.write_bytes(b"fine-tuned elsewhere")
    with pytest.raises(PackError, match="does not match this model.*SHA-256"):
        resolve_encoder_checkpoint(enc, other)
    assert resolve_encoder_checkpoint(enc, enc["checkpoint"]) == enc["checkpoint"]
    assert resolve_encoder_checkpoint(enc) == enc["checkpoint"]  # the recorded path


def test_missing_encoder_checkpoint_names_the_fix(exp_dir, tmp_path):
    enc = yaml.safe_load((exp_dir / "config.yaml").read_text())["encoder"]
    enc["checkpoint"] = str(tmp_path / "gone.pth")
    with pytest.raises(PackError, match="--encoder-checkpoint PATH"):
        resolve_encoder_checkpoint(enc)
    with pytest.raises(PackError, match="not found"):
        resolve_encoder_checkpoint(enc, tmp_path / "typo.pth")


def test_weightless_and_random_init_need_no_checkpoint(tmp_path):
    assert resolve_encoder_checkpoint({"name": "logmel"}) is None
    with pytest.warns(UserWarning, match="needs no checkpoint"):
        assert resolve_encoder_checkpoint({"name": "beats", "random_init": True}, "x.pt") is None


def test_whether_an_encoder_has_weights_comes_from_its_class(monkeypatch):
    from aac.encoders import ENCODERS

    monkeypatch.setattr(ENCODERS["logmel"].cls, "has_weights", True)
    with pytest.raises(PackError):  # now a checkpoint is needed, and none is recorded
        resolve_encoder_checkpoint({"name": "logmel"})
    with pytest.raises(PackError, match="unknown encoder 'nope'"):
        resolve_encoder_checkpoint({"name": "nope"})


def test_cli_pack_and_include_encoder_refuses_wrong_file(exp_dir, tmp_path, capsys):
    assert pack_main([str(exp_dir), str(tmp_path / "m.zip")]) == 0
    assert "pann_cnn14" in capsys.readouterr().out
    manifest = json.loads(zipfile.ZipFile(tmp_path / "m.zip").read("manifest.json"))
    assert sorted(manifest["files"]) == ["best.safetensors", "config.yaml", "tokenizer.model"]
    assert manifest["files"]["config.yaml"] == file_sha256(exp_dir / "config.yaml")
    wrong = tmp_path / "wrong.pth"
    wrong.write_bytes(b"nope")
    rc = pack_main(
        [
            str(exp_dir),
            str(tmp_path / "e.zip"),
            "--include-encoder",
            "--encoder-checkpoint",
            str(wrong),
        ]
    )
    assert rc == 2 and "does not match" in capsys.readouterr().err
    assert not (tmp_path / "e.zip").exists()
    assert pack_main([str(exp_dir), str(tmp_path / "m.tar")]) == 2


def test_checkpoint_names_resolve(exp_dir, tmp_path):
    (exp_dir / "checkpoints").mkdir()
    torch.save({"model": {"w": torch.zeros(2)}, "epoch": 7}, exp_dir / "checkpoints" / "epoch7.pt")
    pack_model(exp_dir, tmp_path / "m.zip", checkpoint="epoch7")
    unpack_model(tmp_path / "m.zip", tmp_path / "out")
    assert load_checkpoint(tmp_path / "out" / "best.pt")["epoch"] == 7
    with pytest.raises(PackError, match="no checkpoint 'epoch9'"):
        pack_model(exp_dir, tmp_path / "n.zip", checkpoint="epoch9")
