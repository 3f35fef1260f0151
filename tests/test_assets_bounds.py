"""Archives the metric assets are installed from: member count and size are bounded, and
a header that understates a member is caught."""

import struct
import zipfile

import pytest

from aac.metrics import assets
from aac.metrics.assets import AssetError, install_corenlp

JARS = assets.CORENLP_JARS


def corenlp_zip(path, size=5000):
    with zipfile.ZipFile(path, "w") as zf:
        for jar in JARS:
            zf.writestr(
                f"stanford-corenlp-full-2015-12-09/{jar}", b"\0" * size, zipfile.ZIP_DEFLATED
            )
    return path


def test_member_larger_than_the_limit_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(assets, "ARCHIVE_MEMBER_BYTES", 1000)
    src = corenlp_zip(tmp_path / "corenlp.zip")
    with pytest.raises(
        AssetError, match=rf"member '.*{JARS[0]}' declares 5000 bytes, more than the 1000"
    ):
        install_corenlp(tmp_path / "cache", src)
    assert not list((tmp_path / "cache").rglob("*.jar*"))


def test_header_that_understates_a_member_is_caught(tmp_path):
    src = corenlp_zip(tmp_path / "corenlp.zip")
    data = bytearray(src.read_bytes())
    entry = data.find(b"PK\x01\x02")
    struct.pack_into("<I", data, entry + 24, 10)  # first member: 10 bytes, inflates to 5000
    src.write_bytes(bytes(data))
    with pytest.raises(AssetError, match=r"is corrupt or its header lies \(10 bytes declared\)"):
        install_corenlp(tmp_path / "cache", src)
    assert not list((tmp_path / "cache").rglob("*.jar*"))


def test_too_many_members_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(assets, "ARCHIVE_MEMBERS", 1)
    with pytest.raises(AssetError, match=r"2 members, more than the 1 accepted"):
        install_corenlp(tmp_path / "cache", corenlp_zip(tmp_path / "corenlp.zip"))


def test_bounded_install_still_extracts(tmp_path):
    written = install_corenlp(tmp_path / "cache", corenlp_zip(tmp_path / "corenlp.zip"))
    assert [p.stat().st_size for p in written] == [5000, 5000]
