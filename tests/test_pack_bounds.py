"""Crafted packed models are refused before they cost more than a member's limit: a
deflate-bomb manifest, a zip header that understates a member, weights larger than the
manifest records."""

import json
import struct
import zipfile

import numpy as np
import pytest
import soundfile as sf
import torch
from caption_fixtures import tiny_decoder

from aac.bin.caption import main as caption_main
from aac.packing import MEMBER_BYTES, PackError, pack_model, unpack_model
from aac.testing import make_random_exp_dir

MANIFEST_LIMIT = MEMBER_BYTES["manifest.json"]


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("pack")
    exp = make_random_exp_dir(
        root / "exp", encoder="logmel", model_conf=tiny_decoder(d_model=16, layers=1), seed=1
    )
    manifest = pack_model(exp, root / "model.zip")
    return root / "model.zip", manifest


def rewrite(src, dst, manifest_bytes=None, manifest=None):
    """Copy packed zip `src` to `dst`, replacing its manifest (deflated)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            if info.filename == "manifest.json":
                data = manifest_bytes if manifest_bytes is not None else json.dumps(manifest)
                zout.writestr("manifest.json", data, zipfile.ZIP_DEFLATED)
            else:
                zout.writestr(info, zin.read(info.filename))
    return dst


def bomb_manifest(manifest) -> bytes:
    """A valid JSON object padded with whitespace past the manifest's limit."""
    return json.dumps(manifest).encode()[:-1] + b" " * (MANIFEST_LIMIT + 1000) + b"}"


def test_pack_records_member_sizes(packed):
    zip_path, manifest = packed
    with zipfile.ZipFile(zip_path) as zf:
        sizes = {i.filename: i.file_size for i in zf.infolist() if i.filename != "manifest.json"}
    assert manifest["sizes"] == sizes and sizes["best.safetensors"] > 1000


def test_deflate_bomb_manifest_is_refused_naming_member_and_sizes(packed, tmp_path):
    zip_path, manifest = packed
    bomb = rewrite(zip_path, tmp_path / "bomb.zip", bomb_manifest(manifest))
    # a few kB more on disk, past the limit once inflated
    assert bomb.stat().st_size < zip_path.stat().st_size + 50_000
    declared = len(bomb_manifest(manifest))
    with pytest.raises(PackError) as err:
        unpack_model(bomb, tmp_path / "out")
    message = str(err.value)
    assert "member 'manifest.json'" in message
    assert f"declares {declared} bytes" in message and f"{MANIFEST_LIMIT} bytes" in message


def test_header_that_understates_the_manifest_is_refused(packed, tmp_path):
    zip_path, manifest = packed
    bomb = bytearray(rewrite(zip_path, tmp_path / "lie.zip", bomb_manifest(manifest)).read_bytes())
    entry = bomb.find(b"PK\x01\x02")  # the manifest's central directory entry comes first
    assert bomb[entry + 46 : entry + 46 + 13] == b"manifest.json"
    struct.pack_into("<I", bomb, entry + 24, 300)  # uncompressed size: 300 bytes
    (tmp_path / "lie.zip").write_bytes(bytes(bomb))
    with pytest.raises(PackError, match=r"member 'manifest.json' is corrupt or its header lies"):
        unpack_model(tmp_path / "lie.zip", tmp_path / "out")


def test_weights_larger_than_the_manifest_records_are_refused(packed, tmp_path):
    zip_path, manifest = packed
    small = dict(manifest, sizes=dict(manifest["sizes"], **{"best.safetensors": 512}))
    forged = rewrite(zip_path, tmp_path / "forged.zip", manifest=small)
    actual = manifest["sizes"]["best.safetensors"]
    with pytest.raises(
        PackError, match=rf"member 'best.safetensors' declares {actual} bytes, more than the 512"
    ):
        unpack_model(forged, tmp_path / "out")
    assert not (tmp_path / "out" / "best.safetensors").exists()


def test_aac_caption_refuses_a_bomb_in_one_line(packed, tmp_path, capsys):
    zip_path, manifest = packed
    bomb = rewrite(zip_path, tmp_path / "bomb.zip", bomb_manifest(manifest))
    sf.write(tmp_path / "a.wav", np.zeros(16000, dtype=np.float32), 16000)
    assert caption_main([str(bomb), str(tmp_path / "a.wav"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("aac-caption: error:") and "manifest.json" in err
    assert len(err.splitlines()) == 1


def test_bounded_pack_still_round_trips(packed, tmp_path):
    zip_path, _ = packed
    unpack_model(zip_path, tmp_path / "out")
    assert (tmp_path / "out" / "best.pt").is_file()
