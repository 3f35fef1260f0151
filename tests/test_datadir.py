import pytest

from aac.datadir import (
    DataDirError,
    clip_of,
    read_kaldi_text,
    read_references,
    read_utt2dur,
    write_kaldi_text,
)


def test_roundtrip_sorted_with_spaces_in_values(tmp_path):
    path = tmp_path / "d" / "wav.scp"
    write_kaldi_text(path, [("b", "/x/a b (1) & c#.wav"), ("a", "sox 'é.flac' -t wav - |")])
    assert path.read_text(encoding="utf-8").splitlines()[0].startswith("a sox")
    assert read_kaldi_text(path) == {"a": "sox 'é.flac' -t wav - |", "b": "/x/a b (1) & c#.wav"}


def test_bad_keys_and_lines(tmp_path):
    with pytest.raises(DataDirError, match="whitespace"):
        write_kaldi_text(tmp_path / "t", [("a b", "x")])
    (tmp_path / "t").write_text("a x\na y\n")
    with pytest.raises(DataDirError, match=r"t:2: duplicate id 'a' \(first on line 1\)"):
        read_kaldi_text(tmp_path / "t")
    (tmp_path / "t").write_text("a x\nlonely\n")
    with pytest.raises(DataDirError, match=r"t:2: expected"):
        read_kaldi_text(tmp_path / "t")


def test_references_and_durations(tmp_path):
    for k in (1, 2):
        write_kaldi_text(tmp_path / f"text_spk{k}", [("c1", f"cap {k}"), ("c2", f"other {k}")])
    assert read_references(tmp_path) == {"c1": ["cap 1", "cap 2"], "c2": ["other 1", "other 2"]}
    (tmp_path / "utt2dur").write_text("c1 1.5\nc2 nan?\n")
    with pytest.raises(DataDirError, match="not a number"):
        read_utt2dur(tmp_path)
    assert clip_of("clip_a.b#3") == "clip_a.b" and clip_of("clip") == "clip"
    with pytest.raises(DataDirError, match="no text_spk"):
        read_references(tmp_path / "nothing")
