"""aac-download-encoder against a local HTTP server (127.0.0.1, Range support): resume after
a dropped transfer, hash refusal, first-download SHA-256 record, the offline message."""

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
from aac.official_encoders import MIRROR_ENV, OFFICIAL, download_urls
from aac.prep import download
from aac.prep.encoder_weights import SUMS, fetch_checkpoint, read_sums

PAYLOAD = os.urandom(300_000)


class _Handler(BaseHTTPRequestHandler):
    timeout = 10  # a stuck client cannot hold the server thread

    def do_GET(self):  # noqa: N802 (http.server's name)
        srv = self.server
        srv.requests.append((self.path, self.headers.get("Range")))
        body = srv.files.get(self.path.split("?")[0])
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


def test_resume_after_dropped_transfer_and_record_sha(server, tmp_path, capsys):
    server.files["/beats.pt"] = PAYLOAD
    server.drops = 1
    args = ["beats_as2m", "--dir", str(tmp_path), "--url", server.base + "/beats.pt"]
    assert download_encoder.main(args) == 0
    dest = tmp_path / OFFICIAL["beats_as2m"].filename
    assert dest.read_bytes() == PAYLOAD
    assert not dest.with_name(dest.name + ".part").exists()
    (first, r1), (_, r2) = server.requests
    assert r1 is None and r2 is not None and int(r2.split("=")[1].rstrip("-")) > 0  # resumed
    sha = hashlib.sha256(PAYLOAD).hexdigest()
    assert read_sums(tmp_path) == {dest.name: sha}
    assert sha in capsys.readouterr().err  # printed, never silent
    # a later use verifies against the record; a changed file is refused
    assert download_encoder.main(args) == 0 and len(server.requests) == 2
    dest.write_bytes(PAYLOAD[:-1] + b"x")
    assert download_encoder.main(args) == 2
    assert "SHA-256 mismatch" in capsys.readouterr().err


def test_rerun_resumes_an_existing_part_with_range(server, tmp_path):
    server.files["/f"] = PAYLOAD
    part = tmp_path / "f.part"
    part.write_bytes(PAYLOAD[:12345])
    download.fetch_url(server.base + "/f", part, resume=True)
    assert server.requests == [("/f", "bytes=12345-")]
    assert part.read_bytes() == PAYLOAD


def test_sha_mismatch_is_refused_and_nothing_put_in_place(server, tmp_path, capsys):
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
    with pytest.raises(download.DownloadError, match="MD5 mismatch"):
        fetch_checkpoint(entry, tmp_path, download_urls(entry), say=lambda m: None)
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
    entry = dataclasses.replace(OFFICIAL["dcase23_cnn14"], archive_member="audio_encoder.pth")
    path = fetch_checkpoint(entry, tmp_path, (server.base + "/pack.zip",), say=lambda m: None)
    assert path.read_bytes() == PAYLOAD
    assert sorted(p.name for p in tmp_path.iterdir()) == [SUMS, "audio_encoder.pth"]


def test_list_prints_every_entry(capsys, tmp_path):
    assert download_encoder.main(["--list", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for entry in OFFICIAL.values():
        assert f"| {entry.name} |" in out and entry.filename in out
