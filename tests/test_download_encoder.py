"""aac-download-encoder against a local HTTP server (127.0.0.1, Range support): resume after
a dropped transfer, pins checked before the rename, mirrors tried in order (403, wrong
bytes, HTML pages refused), the user override, unverified first-download records, the
SHA256SUMS size cap, the offline message."""

import dataclasses
import hashlib
import io
import os
import socket
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from aac.bin import download_encoder
from aac.official_encoders import MIRROR_ENV, OFFICIAL, UNVERIFIED, Pin, download_urls
from aac.prep import download
from aac.prep.encoder_weights import SUMS, Record, fetch_checkpoint, read_sums

# A zip header, as torch.save writes, and more than MIN_CHECKPOINT_BYTES.
PAYLOAD = b"PK\x03\x04" + os.urandom(1_200_000)
OTHER = b"PK\x03\x04" + os.urandom(1_200_000)
HTML = b"<!DOCTYPE html><html><body>Sign in to continue</body></html>\n" * 40000


class _Handler(BaseHTTPRequestHandler):
    timeout = 10  # a stuck client cannot hold the server thread

    def do_GET(self):  # noqa: N802 (http.server's name)
        srv = self.server
        srv.requests.append((self.path, self.headers.get("Range")))
        body = srv.files.get(self.path.split("?")[0])
        if isinstance(body, int):  # an HTTP error status
            self.send_error(body)
            return
        if body is None:
            self.send_error(404)
            return
        start = 0
        if self.headers.get("Range"):
            start = int(self.headers["Range"].split("=")[1].rstrip("-"))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        if srv.drops > 0:  # promise the whole file, send a third, hang up
            srv.drops -= 1
            self.wfile.write(body[start : start + len(body) // 3])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(body[start:])

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    srv.files, srv.requests, srv.drops = {}, [], 0
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    srv.base = f"http://127.0.0.1:{srv.server_address[1]}"
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=5)


def _sha(data):
    return hashlib.sha256(data).hexdigest()


NO_PIN = Pin()


def _entry(name, pin=NO_PIN, urls=None, mirrors=()):
    """A table entry with its pin replaced (the real files are hundreds of MB)."""
    return dataclasses.replace(
        OFFICIAL[name], pin=pin, urls=urls or OFFICIAL[name].urls, mirrors=mirrors
    )


def _quiet(message):
    pass


def test_resume_after_dropped_transfer_and_record_unverified_sha(
    server, tmp_path, capsys, monkeypatch
):
    monkeypatch.setitem(OFFICIAL, "beats_as2m", _entry("beats_as2m"))  # no pin at all
    server.files["/beats.pt"] = PAYLOAD
    server.drops = 1
    args = ["beats_as2m", "--dir", str(tmp_path), "--url", server.base + "/beats.pt"]
    assert download_encoder.main(args) == 0
    dest = tmp_path / OFFICIAL["beats_as2m"].filename
    assert dest.read_bytes() == PAYLOAD
    assert not dest.with_name(dest.name + ".part").exists()
    (first, r1), (_, r2) = server.requests
    assert r1 is None and r2 is not None and int(r2.split("=")[1].rstrip("-")) > 0  # resumed
    assert read_sums(tmp_path) == {dest.name: Record(_sha(PAYLOAD), False)}
    err = capsys.readouterr().err
    assert _sha(PAYLOAD) in err and UNVERIFIED in err  # printed, never silent
    # a later use verifies against the record, and still says it is unverified
    assert download_encoder.main(args) == 0 and len(server.requests) == 2
    assert f"present, SHA-256 matches {SUMS}: {UNVERIFIED}" in capsys.readouterr().err
    dest.write_bytes(PAYLOAD[:-1] + b"x")
    assert download_encoder.main(args) == 2
    err = capsys.readouterr().err
    assert "SHA-256 mismatch" in err and UNVERIFIED in err and _sha(PAYLOAD) in err


def test_rerun_resumes_an_existing_part_with_range(server, tmp_path):
    server.files["/f"] = PAYLOAD
    part = tmp_path / "f.part"
    part.write_bytes(PAYLOAD[:12345])
    download.fetch_url(server.base + "/f", part, resume=True)
    assert server.requests == [("/f", "bytes=12345-")]
    assert part.read_bytes() == PAYLOAD


def test_table_pins_the_public_hashes_and_lists_mirrors_in_order():
    beats, cpt1 = OFFICIAL["beats_as2m"], OFFICIAL["beats_as2m_cpt1"]
    assert (beats.pin.sha256, beats.pin.size) == (
        "d43cbfad4d7b56381c061d7a24774f908d4d94c72961f6eb1d9090ff18cd8d34",
        361499833,
    )
    assert (cpt1.pin.sha256, cpt1.pin.size) == (
        "7f9362028ac6e5c049e8dc314d87e90e4f82a15a8e472deb56af55d7f9b34d6a",
        363145291,
    )
    dcase = OFFICIAL["dcase23_cnn14"].pin
    assert (dcase.sha256, dcase.size) == (
        "2268f4a6a7fa8920a88145e42a63740247417114ac12cae21db7641fcb019ed3",
        321244196,
    )
    cnn14 = OFFICIAL["pann_cnn14"].pin
    assert (cnn14.md5, cnn14.size) == ("541141fa2ee191a88f24a3219fff024e", 327428481)
    assert OFFICIAL["pann_cnn14_16k"].pin.md5 == "362fc5ff18f1d6ad2f6d464b45893f2c"
    assert all(e.pin.source for e in OFFICIAL.values())
    assert download_urls(beats, {}) == (
        beats.urls[0],
        "https://huggingface.co/lpepino/beats_ckpts/resolve/main/BEATs_iter3_plus_AS2M.pt",
        "https://huggingface.co/datasets/Bencr/beats-checkpoints/resolve/main/"
        "BEATs_iter3_plus_AS2M.pt",
    )
    assert beats.urls[0].startswith("https://valle.blob.core.windows.net/share/BEATs/")
    assert cpt1.by_hand.startswith("https://1drv.ms/")


def test_wrong_bytes_for_a_pinned_file_are_refused_naming_both_hashes(server, tmp_path, capsys):
    """The bug: an answer that is not the file was put in place and its hash recorded."""
    entry = OFFICIAL["beats_as2m"]
    server.files["/b.pt"] = PAYLOAD
    rc = download_encoder.main(
        ["beats_as2m", "--dir", str(tmp_path), "--url", server.base + "/b.pt"]
    )
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1
    assert _sha(PAYLOAD) in err and entry.pin.sha256 in err and entry.pin.source in err
    assert f"--accept-sha256 {_sha(PAYLOAD)}" in err
    assert list(tmp_path.iterdir()) == []  # no file, no .part, no SHA256SUMS


def test_accept_sha256_takes_that_file_only(server, tmp_path, capsys):
    server.files["/b.pt"] = PAYLOAD
    args = ["beats_as2m", "--dir", str(tmp_path), "--url", server.base + "/b.pt"]
    assert download_encoder.main([*args, "--accept-sha256", _sha(OTHER)]) == 2
    assert "does not match it either" in capsys.readouterr().err
    assert download_encoder.main([*args, "--accept-sha256", _sha(PAYLOAD).upper()]) == 0
    err = capsys.readouterr().err
    assert (
        "accepted by the user (--accept-sha256)" in err and OFFICIAL["beats_as2m"].pin.sha256 in err
    )
    assert read_sums(tmp_path)["BEATs_iter3_plus_AS2M.pt"] == Record(_sha(PAYLOAD), True)
    # later uses without the flag: the recorded acceptance covers those bytes, and says so
    assert download_encoder.main(args) == 0
    assert "present, SHA-256" in (err := capsys.readouterr().err) and "accepted by the user" in err
    dest = tmp_path / "BEATs_iter3_plus_AS2M.pt"
    dest.write_bytes(OTHER)  # other bytes are not covered
    assert download_encoder.main(args) == 2
    assert "SHA-256 mismatch" in capsys.readouterr().err
    # another file of the table is not covered either
    (tmp_path / "BEATs_iter3_plus_AS2M_finetuned_on_AS2M_cpt1.pt").write_bytes(PAYLOAD)
    assert download_encoder.main(["beats_as2m_cpt1", "--dir", str(tmp_path)]) == 2
    assert download_encoder.main([*args, "--accept-sha256", "abc"]) == 2
    assert "not 64 hex digits" in capsys.readouterr().err


def test_mirrors_tried_in_order_403_wrong_bytes_then_success(server, tmp_path, caplog):
    b = server.base
    entry = _entry(
        "beats_as2m",
        Pin(sha256=_sha(PAYLOAD), size=len(PAYLOAD), source="test pin"),
        urls=(b + "/official.pt",),
        mirrors=(b + "/wrong.pt", b + "/html.pt", b + "/good.pt", b + "/never.pt"),
    )
    server.files.update(
        {"/official.pt": 403, "/wrong.pt": OTHER, "/html.pt": HTML, "/good.pt": PAYLOAD}
    )
    messages = []
    path = fetch_checkpoint(entry, tmp_path, download_urls(entry, {}), say=messages.append)
    assert path.read_bytes() == PAYLOAD
    assert [p for p, _ in server.requests] == ["/official.pt", "/wrong.pt", "/html.pt", "/good.pt"]
    assert all(r is None for _, r in server.requests)  # refused bytes are never resumed
    warnings = "\n".join(r.getMessage() for r in caplog.records)
    assert "HTTP 403" in warnings and "SHA-256 mismatch" in warnings and "HTML" in warnings
    assert messages == [f"{path}: downloaded from {b}/good.pt, SHA-256 matches the pin"]
    assert read_sums(tmp_path) == {path.name: Record(_sha(PAYLOAD), False)}
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([SUMS, path.name])


def test_every_url_refused_names_each_and_the_browser_link(server, tmp_path):
    entry = _entry(
        "beats_as2m_cpt1",
        Pin(sha256=_sha(PAYLOAD), source="test pin"),
        urls=(server.base + "/a",),
        mirrors=(server.base + "/b",),
    )
    server.files.update({"/a": 403, "/b": OTHER})
    with pytest.raises(download.DownloadError) as err:
        fetch_checkpoint(entry, tmp_path, download_urls(entry, {}), say=_quiet)
    text = str(err.value)
    assert "[1] " + server.base + "/a: HTTP 403" in text and "[2] " + server.base + "/b" in text
    assert _sha(OTHER) in text and _sha(PAYLOAD) in text and entry.by_hand in text
    assert list(tmp_path.iterdir()) == []


def test_html_page_without_a_pin_is_refused_and_nothing_recorded(
    server, tmp_path, capsys, monkeypatch
):
    monkeypatch.setitem(OFFICIAL, "beats_as2m", _entry("beats_as2m"))
    server.files["/login"] = HTML
    rc = download_encoder.main(
        ["beats_as2m", "--dir", str(tmp_path), "--url", server.base + "/login"]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "not a PyTorch checkpoint: an HTML or XML page" in err
    assert list(tmp_path.iterdir()) == []  # nothing in place, no SHA256SUMS
    small = b"PK\x03\x04" + b"\0" * 1000  # a zip, but far from any encoder's size
    server.files["/small"] = small
    rc = download_encoder.main(
        ["beats_as2m", "--dir", str(tmp_path), "--url", server.base + "/small"]
    )
    assert rc == 2 and "far below any encoder checkpoint" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_sha256sums_is_read_with_a_size_cap(tmp_path, capsys):
    (tmp_path / SUMS).write_text(("0" * 64 + "  x\n") * 20000)  # 1.3 MB
    assert download_encoder.main(["--list", "--dir", str(tmp_path)]) == 2
    assert "over the 1048576 bytes a checksum list can take" in capsys.readouterr().err
    (tmp_path / SUMS).write_text("not a line\n")
    assert download_encoder.main(["--list", "--dir", str(tmp_path)]) == 2
    assert f"{SUMS}:1: not a '<sha256>  <file name>' line" in capsys.readouterr().err


def test_sha_mismatch_against_the_record_is_refused_and_nothing_put_in_place(
    server, tmp_path, capsys, monkeypatch
):
    monkeypatch.setitem(OFFICIAL, "beats_as2m_cpt1", _entry("beats_as2m_cpt1"))
    name = OFFICIAL["beats_as2m_cpt1"].filename
    (tmp_path / SUMS).write_text(f"{'0' * 64}  {name}\n")
    server.files["/cpt1.pt"] = PAYLOAD
    rc = download_encoder.main(
        ["beats_as2m_cpt1", "--dir", str(tmp_path), "--url", server.base + "/cpt1.pt"]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "SHA-256 mismatch" in err and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [SUMS]  # no file, no .part


def test_published_md5_is_checked(server, tmp_path, monkeypatch):
    entry = OFFICIAL["pann_cnn14_16k"]  # has an MD5 in the table; PAYLOAD is not that file
    server.files["/" + entry.filename.replace("=", "%3D")] = PAYLOAD
    monkeypatch.setenv(MIRROR_ENV, server.base)
    with pytest.raises(download.DownloadError, match="MD5 mismatch") as err:
        fetch_checkpoint(entry, tmp_path, download_urls(entry), say=_quiet)
    assert entry.pin.md5 in str(err.value) and entry.pin.source in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_mirror_env_replaces_official_urls():
    entry = OFFICIAL["pann_cnn14_16k"]
    assert download_urls(entry, {})[0].startswith("https://zenodo.org/records/3987831/")
    assert download_urls(entry, {MIRROR_ENV: "http://m/x/"}) == (
        "http://m/x/Cnn14_16k_mAP%3D0.438.pth",
    )


def test_offline_stops_with_one_line_naming_url_file_and_place(tmp_path, capsys):
    with socket.socket() as s:  # a port nobody listens on: connection refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/audio_encoder.pth"
    rc = download_encoder.main(["dcase23_cnn14", "--dir", str(tmp_path / "enc"), "--url", url])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1
    assert url in err and str(tmp_path / "enc" / "audio_encoder.pth") in err
    assert "without network access" in err


def test_member_extracted_from_an_archive(server, tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("baseline/audio_encoder.pth", PAYLOAD)
    server.files["/pack.zip"] = buf.getvalue()
    entry = dataclasses.replace(
        OFFICIAL["dcase23_cnn14"], archive_member="audio_encoder.pth", pin=Pin(sha256=_sha(PAYLOAD))
    )
    path = fetch_checkpoint(entry, tmp_path, (server.base + "/pack.zip",), say=_quiet)
    assert path.read_bytes() == PAYLOAD
    assert sorted(p.name for p in tmp_path.iterdir()) == [SUMS, "audio_encoder.pth"]


def test_list_prints_every_entry_with_its_pin_source_and_mirrors(capsys, tmp_path):
    assert download_encoder.main(["--list", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for entry in OFFICIAL.values():
        assert f"| {entry.name} |" in out and entry.filename in out
        assert entry.pin.source in out and all(u in out for u in entry.all_urls)
        assert (entry.pin.sha256 or entry.pin.md5) in out
