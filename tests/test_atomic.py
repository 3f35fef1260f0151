import json

import pytest

from aac.atomic import open_atomic, write_json_atomic, write_text_atomic


def test_text_and_json_are_written_whole_with_no_temporary_left(tmp_path):
    path = tmp_path / "new" / "dir" / "a.txt"
    write_text_atomic(path, "first\n")
    write_text_atomic(path, "second\n")
    assert path.read_text() == "second\n"
    write_json_atomic(tmp_path / "s.json", {"caption": "café", "x": 1}, indent=1)
    text = (tmp_path / "s.json").read_text(encoding="utf-8")
    assert "café" in text and text.endswith("}\n") and json.loads(text)["x"] == 1
    assert not list(tmp_path.rglob("*.tmp"))


def test_open_atomic_publishes_on_success_and_keeps_old_file_on_error(tmp_path):
    path = tmp_path / "out" / "caps.tsv"
    with open_atomic(path) as f:
        f.write("a\t1\n")
        assert not path.exists() and (tmp_path / "out" / "caps.tsv.tmp").exists()
    assert path.read_text() == "a\t1\n"
    with pytest.raises(RuntimeError):
        with open_atomic(path) as f:
            f.write("half")
            raise RuntimeError("killed")
    assert path.read_text() == "a\t1\n" and not list(tmp_path.rglob("*.tmp"))
