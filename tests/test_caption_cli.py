"""aac-caption on mixed formats, a broken file, directories, windows and output formats."""

import csv
import io
import json

import numpy as np
import pytest
import soundfile as sf
import torch
from caption_fixtures import tiny_decoder

from aac.bin.caption import main
from aac.testing import make_random_exp_dir

TINY = tiny_decoder(d_model=32, layers=1, max_length=8)


@pytest.fixture(scope="module")
def exp(tmp_path_factory):
    torch.set_num_threads(1)
    return make_random_exp_dir(tmp_path_factory.mktemp("exp"), encoder="logmel", model_conf=TINY)


@pytest.fixture
def audio_dir(tmp_path):
    """wav stereo 44.1 kHz, flac mono 16 kHz, ogg 22.05 kHz in a subdir, one broken wav."""
    rng = np.random.default_rng(0)
    d = tmp_path / "clips"
    (d / "sub").mkdir(parents=True)
    sf.write(d / "a_stereo.wav", rng.normal(0, 0.1, (44100, 2)).astype(np.float32), 44100)
    sf.write(d / "b_mono.flac", rng.normal(0, 0.1, 8000).astype(np.float32), 16000)
    sf.write(d / "sub" / "c.ogg", rng.normal(0, 0.1, 22050).astype(np.float32), 22050)
    (d / "d_broken.wav").write_bytes(b"RIFF\x00\x00garbage")
    return d


def run(capsys, argv):
    rc = main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_json_lines_with_error_field(exp, audio_dir, capsys):
    rc, out, err = run(capsys, [str(exp), str(audio_dir), "--format", "json", "--quiet"])
    rows = [json.loads(line) for line in out.splitlines()]
    assert rc == 0
    names = [r["file"].rsplit("/", 1)[-1] for r in rows]
    assert names == ["a_stereo.wav", "b_mono.flac", "d_broken.wav", "c.ogg"]
    ok = {n: r for n, r in zip(names, rows)}
    assert ok["d_broken.wav"]["caption"] is None and "d_broken.wav" in ok["d_broken.wav"]["error"]
    assert all(ok[n]["caption"] and ok[n]["error"] is None for n in names if n != "d_broken.wav")
    assert "ERROR" in err and "d_broken.wav" in err and "1 clip(s) failed, 3 captioned" in err


def test_text_and_csv_agree(exp, audio_dir, capsys):
    files = [str(audio_dir / "b_mono.flac"), str(audio_dir / "d_broken.wav")]
    rc, out, err = run(capsys, [str(exp), *files, "--format", "text"])
    assert rc == 0 and out.count("\n") == 1  # the broken file is on stderr only
    path, caption = out.rstrip("\n").split("\t")
    assert path == files[0] and caption
    assert "ERROR " + files[1] in err
    rc, out, _ = run(capsys, [str(exp), *files, "--format", "csv"])
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["caption"] for r in rows] == [caption, ""]
    assert rows[1]["error"]


def test_all_broken_exits_1_and_missing_input_exits_2(exp, audio_dir, capsys):
    rc, out, err = run(capsys, [str(exp), str(audio_dir / "d_broken.wav")])
    assert rc == 1 and out == ""
    rc, _, err = run(capsys, [str(exp), str(audio_dir / "nope.wav")])
    assert rc == 2 and err.startswith("aac-caption: error: ") and "nope.wav: no such file" in err
    rc, _, err = run(capsys, [str(audio_dir), str(audio_dir / "b_mono.flac")])
    assert rc == 2 and err.startswith("aac-caption: error: ") and "config.yaml" in err
    assert err.count("\n") == 1


def test_windows_print_start_and_end(exp, tmp_path, capsys):
    long = np.random.default_rng(1).normal(0, 0.1, 16000 * 5).astype(np.float32)
    sf.write(tmp_path / "long.wav", long, 16000)
    out_file = tmp_path / "out" / "caps.tsv"
    rc, out, _ = run(
        capsys,
        [
            str(exp),
            str(tmp_path / "long.wav"),
            "--window",
            "2",
            "--hop",
            "1.5",
            "-o",
            str(out_file),
        ],
    )
    assert rc == 0 and out == ""
    lines = [line.split("\t") for line in out_file.read_text().splitlines()]
    assert [(s, e) for _, s, e, _ in lines] == [
        ("0.00", "2.00"),
        ("1.50", "3.50"),
        ("3.00", "5.00"),
    ]
    assert all(cap for *_, cap in lines)
    assert not list(out_file.parent.glob("*.tmp"))


def test_help_names_inputs_and_outputs(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    assert "Usage: aac-caption" in text and "--window" in text and "Exit status" in text
