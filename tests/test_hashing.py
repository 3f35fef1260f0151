"""One chunked file hasher and one Zenodo URL form for the whole package."""

import hashlib

import pytest

from aac import checkpoint_io, hashing, zenodo
from aac.metrics import assets
from aac.official_encoders import OFFICIAL
from aac.prep import clotho, download


def test_one_hasher_behind_every_file_digest(tmp_path):
    path = tmp_path / "blob"
    data = bytes(range(256)) * 9000  # several 1 MiB blocks and a partial one
    path.write_bytes(data)
    assert hashing.file_digests(path, ("sha256", "md5")) == {
        "sha256": hashlib.sha256(data).hexdigest(),
        "md5": hashlib.md5(data).hexdigest(),
    }
    assert checkpoint_io.file_sha256 is hashing.file_sha256 is assets.file_sha256
    assert download.md5_file(path) == hashlib.md5(data).hexdigest()
    assert not hasattr(assets, "_sha256") and not hasattr(download, "file_digest")


def test_zenodo_urls_use_the_records_form(tmp_path, monkeypatch):
    assert zenodo.file_url(3987831, "Cnn14_mAP=0.431.pth") == (
        "https://zenodo.org/records/3987831/files/Cnn14_mAP%3D0.431.pth?download=1"
    )
    zenodo_urls = [u for e in OFFICIAL.values() for u in e.all_urls if "zenodo" in u]
    assert zenodo_urls and all(u.startswith("https://zenodo.org/records/") for u in zenodo_urls)
    asked = []

    def fetch(url, part):
        asked.append(url)
        raise OSError("offline")

    with pytest.raises(download.PrepError) as err:
        download.download_clotho(tmp_path, "evaluation", fetch)
    assert asked == [
        f"https://zenodo.org/records/{clotho.ZENODO_RECORD}/files/"
        "clotho_captions_evaluation.csv?download=1"
    ]
    assert f"https://zenodo.org/records/{clotho.ZENODO_RECORD})" in str(err.value)
