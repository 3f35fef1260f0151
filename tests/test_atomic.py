import json

from aac.atomic import write_json_atomic, write_text_atomic


def test_text_and_json_are_written_whole_with_no_temporary_left(tmp_path):
    path = tmp_path / "new" / "dir" / "a.txt"
    write_text_atomic(path, "first\n")
    write_text_atomic(path, "second\n")
    assert path.read_text() == "second\n"
    write_json_atomic(tmp_path / "s.json", {"caption": "café", "x": 1}, indent=1)
    text = (tmp_path / "s.json").read_text(encoding="utf-8")
    assert "café" in text and text.endswith("}\n") and json.loads(text)["x"] == 1
    assert not list(tmp_path.rglob("*.tmp"))
