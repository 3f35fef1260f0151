"""Downloads without network: MD5 checks, atomic .part files, offline messages, 7z fallback."""

import csv
import hashlib
import urllib.error

import numpy as np
import pytest
import soundfile as sf

from aac.bin import prep_data
from aac.datadir import read_kaldi_text
from aac.prep import clotho, download
from aac.prep.common import PrepError


def test_md5_check_on_local_file(tmp_path):
    path = tmp_path / "blob.bin"
    path.write_bytes(b"clotho" * 1000)
    good = hashlib.md5(b"clotho" * 1000).hexdigest()
    assert download.md5_file(path) == good
    download.check_md5(path, good)
    with pytest.raises(PrepError, match="MD5 mismatch"):
        download.check_md5(path, "0" * 32)


def test_bad_md5_leaves_no_file(tmp_path):
    dest = tmp_path / "x.csv"

    def fetch(url, part):
        part.write_bytes(b"truncated")

    with pytest.raises(PrepError, match="MD5 mismatch"):
        download.download_checked("https://example.invalid/x.csv", dest, "0" * 32, fetch)
    assert list(tmp_path.iterdir()) == []


def test_offline_message_says_where_to_put_data(tmp_path):
    def fetch(url, part):
        part.write_bytes(b"half")
        raise urllib.error.URLError("Name or service not known")

    with pytest.raises(PrepError) as err:
        download.download_checked("https://zenodo.org/x", tmp_path / "a.7z", "0" * 32, fetch)
    msg = str(err.value)
    assert "cannot download" in msg and "CLOTHO_v2.1/clotho_audio_files" in msg
    assert list(tmp_path.iterdir()) == []  # no .part left behind


def test_extract_without_7z_tools_is_clear(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__
    monkeypatch.setattr(
        builtins,
        "__import__",
        lambda n, *a, **k: (
            (_ for _ in ()).throw(ImportError(n)) if n == "py7zr" else real_import(n, *a, **k)
        ),
    )
    monkeypatch.setattr(download.shutil, "which", lambda name: None)
    with pytest.raises(PrepError, match="py7zr.*7z"):
        download.extract_7z(tmp_path / "a.7z", tmp_path / "out")


def test_clotho_download_flow_with_fake_zenodo(tmp_path, monkeypatch):
    """--download on an empty root fetches CSV + archive, checks MD5s, extracts, prepares."""
    header = ["file_name"] + [f"caption_{k}" for k in range(1, 6)]
    csv_path = tmp_path / "src.csv"
    with open(csv_path, "w", newline="") as f:
        csv.writer(f).writerows([header, ["clip one.wav", "a", "b", "c", "d", "e, f"]])
    payloads = {
        "clotho_captions_evaluation.csv": csv_path.read_bytes(),
        "clotho_audio_evaluation.7z": b"7z-archive-bytes",
    }
    md5s = {k: hashlib.md5(v).hexdigest() for k, v in payloads.items()}
    monkeypatch.setattr(clotho, "ZENODO_MD5", md5s)
    fetched = []

    def fake_fetch(url, part):
        name = url.split("/files/")[1].split("?")[0]
        fetched.append(name)
        part.write_bytes(payloads[name])

    def fake_extract(archive, dest):
        assert archive.read_bytes() == payloads["clotho_audio_evaluation.7z"]
        (dest / "evaluation").mkdir(parents=True)
        sf.write(dest / "evaluation" / "clip one.wav", np.zeros(4410), 44100)

    monkeypatch.setattr(download, "fetch_url", fake_fetch)
    monkeypatch.setattr(download, "extract_7z", fake_extract)
    root = tmp_path / "empty_root"
    root.mkdir()
    args = [
        "--corpus",
        "clotho",
        "--root",
        str(root),
        "--output-dir",
        str(tmp_path / "data"),
        "--splits",
        "evaluation",
        "--download",
    ]
    assert prep_data.main(args) == 0
    assert sorted(fetched) == sorted(payloads)
    refs = read_kaldi_text(tmp_path / "data" / "clotho_evaluation" / "text_spk5")
    assert list(refs.values()) == ["e, f"]
    assert prep_data.main(args) == 0  # second run: everything present, nothing fetched
    assert len(fetched) == 2
