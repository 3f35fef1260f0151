"""utils/split_scp: contiguous, balanced, clamped splitting of key files."""

import subprocess
import sys
from pathlib import Path

import pytest

SPLIT_SCP = Path(__file__).resolve().parents[1] / "utils" / "split_scp"


def split(*args, cwd):
    return subprocess.run(
        [sys.executable, str(SPLIT_SCP), *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
    )


def make_scp(path, n):
    lines = [f"clip{i:03d} /data/audio dir/clip{i:03d}.wav\n" for i in range(n)]
    path.write_text("".join(lines))
    return lines


@pytest.mark.parametrize(
    "num_lines,nj,expected_sizes",
    [(10, 3, [4, 3, 3]), (7, 7, [1] * 7), (3, 8, [1, 1, 1]), (5, 1, [5])],
)
def test_parts_concatenate_back_and_n_is_clamped(tmp_path, num_lines, nj, expected_sizes):
    lines = make_scp(tmp_path / "wav.scp", num_lines)
    res = split("--nj", nj, "wav.scp", "split/wav.JOB.scp", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    n = int(res.stdout)
    assert n == len(expected_sizes)
    parts = [
        (tmp_path / "split" / f"wav.{k}.scp").read_text().splitlines(True) for k in range(1, n + 1)
    ]
    assert [len(p) for p in parts] == expected_sizes
    assert sum(parts, []) == lines
    assert not (tmp_path / "split" / f"wav.{n + 1}.scp").exists()


def test_stale_parts_of_a_larger_split_are_removed(tmp_path):
    make_scp(tmp_path / "wav.scp", 6)
    assert split("--nj", 6, "wav.scp", "s/w.JOB.scp", cwd=tmp_path).returncode == 0
    assert split("--nj", 2, "wav.scp", "s/w.JOB.scp", cwd=tmp_path).stdout.strip() == "2"
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["w.1.scp", "w.2.scp"]


def test_kaldi_form_with_named_outputs(tmp_path):
    lines = make_scp(tmp_path / "text", 5)
    assert split("text", "a", "b", cwd=tmp_path).returncode == 0
    assert (tmp_path / "a").read_text().splitlines(True) + (tmp_path / "b").read_text().splitlines(
        True
    ) == lines
    res = split("text", *"abcdef", cwd=tmp_path)
    assert res.returncode != 0 and "5 lines" in res.stderr


def test_last_line_without_newline_is_kept(tmp_path):
    (tmp_path / "k").write_text("a 1\nb 2")
    assert split("--nj", 2, "k", "o.JOB", cwd=tmp_path).returncode == 0
    assert (tmp_path / "o.2").read_text() == "b 2\n"


@pytest.mark.parametrize(
    "args,message",
    [
        (["--nj", 2, "empty", "o.JOB"], "empty"),
        (["--nj", 2, "missing", "o.JOB"], "missing"),
        (["--nj", 2, "k", "o.scp"], "JOB"),
        (["--nj", 0, "k", "o.JOB"], "at least 1"),
    ],
)
def test_errors_are_clear(tmp_path, args, message):
    (tmp_path / "empty").write_text("")
    (tmp_path / "k").write_text("a 1\n")
    res = split(*args, cwd=tmp_path)
    assert res.returncode != 0 and message in res.stderr
