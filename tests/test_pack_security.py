"""Packed models and experiment directories never run code hidden in a checkpoint pickle."""

import io
import json
import pickle
import zipfile

import numpy as np
import pytest
import soundfile as sf
import torch
from caption_fixtures import tiny_decoder

from aac.bin.caption import main as caption_main
from aac.bin.pack import main as pack_main
from aac.captioner import Captioner
from aac.checkpoint_io import CheckpointError, file_sha256
from aac.packing import PackError, pack_model, unpack_model
from aac.testing import make_random_exp_dir

TINY = tiny_decoder(d_model=16, layers=1, max_length=6)


class Payload:
    """Unpickling this calls open(marker, "w"): the marker file proves code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture(scope="module")
def tiny_exp(tmp_path_factory):
    torch.set_num_threads(1)
    return make_random_exp_dir(
        tmp_path_factory.mktemp("exp"), encoder="logmel", model_conf=TINY, seed=1
    )


def poison(exp_dir, marker):
    """best.pt keeps its real weights and gains a pickle payload."""
    state = torch.load(exp_dir / "best.pt", weights_only=True)
    state["extra"] = Payload(marker)
    torch.save(state, exp_dir / "best.pt")


@pytest.fixture
def evil_exp(tiny_exp, tmp_path):
    import shutil

    exp = tmp_path / "evil_exp"
    shutil.copytree(tiny_exp, exp)
    marker = tmp_path / "PWNED"
    poison(exp, marker)
    return exp, marker


def old_format_zip(exp_dir, out):
    """A version-1 zip (decoder weights as best.pt) with a manifest matching its members."""
    members = {n: exp_dir / n for n in ("config.yaml", "tokenizer.model", "best.pt")}
    manifest = {
        "format": "aac-packed-model",
        "version": 1,
        "encoder": {
            "name": "logmel",
            "checkpoint_sha256": None,
            "random_init": False,
            "included": None,
        },
        "files": {n: file_sha256(p) for n, p in members.items()},
    }
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("manifest.json", json.dumps(manifest))
        for name, path in members.items():
            zf.write(path, name)
    return out


def test_exp_dir_with_pickle_payload_is_refused(evil_exp):
    exp, marker = evil_exp
    with pytest.raises(CheckpointError, match="--trust-checkpoint"):
        Captioner.from_pretrained(exp)
    assert not marker.exists()


def test_aac_caption_refuses_and_names_the_flag(evil_exp, tmp_path, capsys):
    exp, marker = evil_exp
    sf.write(tmp_path / "a.wav", np.zeros(16000, dtype=np.float32), 16000)
    assert caption_main([str(exp), str(tmp_path / "a.wav"), "--quiet"]) == 2
    assert "--trust-checkpoint" in capsys.readouterr().err
    assert not marker.exists()


def test_old_format_zip_is_refused_before_anything_is_read(evil_exp, tmp_path):
    """Version 1 (decoder weights as a pickle, best.pt) was never released: refused by its
    version, even when its best.pt hides a payload."""
    exp, marker = evil_exp
    zip_path = old_format_zip(exp, tmp_path / "evil.zip")
    with pytest.raises(PackError, match=r"evil\.zip: unsupported pack format .* version 1 "):
        Captioner.from_pretrained(zip_path)
    dest = tmp_path / "out"
    with pytest.raises(PackError, match="reads 'aac-packed-model' version 2 only"):
        unpack_model(zip_path, dest)
    assert not marker.exists() and not dest.exists()


def test_aac_pack_refuses_a_pickle_payload(evil_exp, tmp_path, capsys):
    exp, marker = evil_exp
    assert pack_main([str(exp), str(tmp_path / "m.zip")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("aac-pack: error:") and "--trust-checkpoint" in err
    assert not marker.exists() and not (tmp_path / "m.zip").exists()


def test_packed_zip_holds_no_pickle(tiny_exp, tmp_path):
    manifest = pack_model(tiny_exp, tmp_path / "m.zip")
    with zipfile.ZipFile(tmp_path / "m.zip") as zf:
        names = zf.namelist()
        assert "best.safetensors" in names
        assert not [n for n in names if n.endswith((".pt", ".pth", ".pkl", ".bin"))]
        for name in names:  # no member is a pickle or a torch zip (which holds one)
            data = zf.read(name)
            assert not data.startswith(b"\x80") and not data.startswith(b"PK"), name
            with pytest.raises(Exception):  # noqa: B017 - any failure: nothing unpickles
                pickle.load(io.BytesIO(data))
    assert manifest["decoder"]["file"] == "best.safetensors"
    packed = Captioner.from_pretrained(tmp_path / "m.zip")
    direct = Captioner.from_pretrained(tiny_exp)
    for (k, a), (_, b) in zip(
        packed.loaded.model.state_dict().items(), direct.loaded.model.state_dict().items()
    ):
        assert torch.equal(a, b), k


@pytest.mark.parametrize("bad_name", ["../escape.txt", "/tmp/abs.txt", "sub/../../x"])
def test_zip_slip_members_are_refused(tiny_exp, tmp_path, bad_name):
    pack_model(tiny_exp, tmp_path / "m.zip")
    with zipfile.ZipFile(tmp_path / "m.zip", "a") as zf:
        zf.writestr(bad_name, b"outside")
    dest = tmp_path / "deep" / "out"
    with pytest.raises(PackError, match="absolute path or '..'"):
        unpack_model(tmp_path / "m.zip", dest)
    assert not (tmp_path / "deep" / "escape.txt").exists()
    assert not (dest / "best.pt").exists()
