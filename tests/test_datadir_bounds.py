"""Data-dir files made elsewhere: a line past LINE_CHARS is refused while it is read,
and error messages show a short prefix of a bad line."""

import io

import pytest

from aac import datadir
from aac.datadir import DataDirError, read_kaldi_text, read_references
from aac.limits import LINE_CHARS, bounded_lines


def test_huge_wav_scp_line_is_refused_naming_file_and_line(tmp_path):
    path = tmp_path / "wav.scp"
    with open(path, "w") as f:
        f.write("a /data/a.wav\n")
        f.write("b " + "x" * (3 * LINE_CHARS) + "\n")
    with pytest.raises(DataDirError, match=rf"wav.scp:2: line longer than {LINE_CHARS}") as err:
        read_kaldi_text(path)
    assert len(str(err.value)) < 500


def test_reader_asks_for_a_bounded_block():
    class Recording(io.StringIO):
        asked = []

        def readline(self, size=-1):
            self.asked.append(size)
            return super().readline(size)

    f = Recording("a 1\nb 2\n")
    assert [line for line in bounded_lines(f, "x")] == ["a 1\n", "b 2\n"]
    assert Recording.asked and all(0 < size <= LINE_CHARS + 1 for size in Recording.asked)


def test_text_reference_line_over_the_cap_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(datadir, "LINE_CHARS", 100)
    (tmp_path / "text_spk1").write_text("c1 a dog barks\nc2 " + "rain " * 40 + "\n")
    with pytest.raises(DataDirError, match=r"text_spk1:2: line longer than 100"):
        read_references(tmp_path)


def test_malformed_line_message_is_cut(tmp_path):
    path = tmp_path / "text"
    path.write_text("x" * 500_000 + "\n")  # one key, no value: within the cap, malformed
    with pytest.raises(DataDirError, match=r"text:1: expected '<key> <value>', got 'xxx") as err:
        read_kaldi_text(path)
    assert len(str(err.value)) < 500
