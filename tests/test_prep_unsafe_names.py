"""Corpus file names never act: a name wav.scp would read as a pipe or an `ark:offset`
spec is refused by aac-prep-data before any audio is opened, and a FIFO in the corpus is
skipped with a warning instead of blocking the reader."""

import csv
import logging
import os

import numpy as np
import pytest
import soundfile as sf

from aac.bin import prep_data
from aac.datadir import read_kaldi_text
from aac.prep import clotho

CAPS = ["a dog barks", "rain falls", "a bell rings", "birds chirp", "wind blows"]


def _clotho(root, names):
    """A Clotho v2.1 tree whose three splits list `names` (WAV files unless made already)."""
    for split in clotho.SPLITS:
        folder = clotho.audio_dir(root, split)
        folder.mkdir(parents=True, exist_ok=True)
        for name in names:
            if not os.path.lexists(folder / name):
                sf.write(folder / name, 0.1 * np.ones(800), 8000, subtype="PCM_16", format="WAV")
        path = clotho.captions_csv(root, split)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["file_name"] + list(clotho.CAPTION_COLUMNS))
            writer.writerows([name] + CAPS for name in names)


def _prep(root, out):
    return prep_data.main(["--corpus", "clotho", "--root", str(root), "--output-dir", str(out)])


@pytest.mark.parametrize(
    "name, says",
    [
        ("clip;touch PWNED;|", "wav.scp would run it as a shell command"),
        ("clip.wav:12", "'ark:offset' spec"),
        ("clip.wav ", "ends with whitespace"),
    ],
)
def test_names_that_would_act_in_wav_scp_are_refused(tmp_path, monkeypatch, capsys, name, says):
    monkeypatch.chdir(tmp_path)  # where the planted command would create PWNED
    root = tmp_path / "corpus"
    _clotho(root, ["good.wav", name])
    rc = _prep(root, tmp_path / "data")
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1
    assert f"/development/{name}'" in err and says in err and "rename the file" in err
    assert not (tmp_path / "PWNED").exists()  # nothing ran
    assert not (tmp_path / "data" / "clotho_development" / "wav.scp").exists()


def test_fifo_in_the_corpus_is_skipped_with_a_warning(tmp_path, caplog):
    root = tmp_path / "corpus"
    for split in clotho.SPLITS:
        folder = clotho.audio_dir(root, split)
        folder.mkdir(parents=True)
        os.mkfifo(folder / "fifo.wav")  # opening it for reading would block forever
    _clotho(root, ["good.wav", "fifo.wav"])
    with caplog.at_level(logging.WARNING, logger="aac.prep"):
        clips = clotho.read_split(root, "evaluation")
    assert [os.path.basename(c.wav) for c in clips] == ["good.wav"]
    assert "fifo.wav: not a regular file (FIFO, device or directory), skipped" in caplog.text
    assert _prep(root, tmp_path / "data") == 0  # finishes instead of blocking
    wav = read_kaldi_text(tmp_path / "data" / "clotho_development" / "wav.scp")
    assert [os.path.basename(v) for v in wav.values()] == ["good.wav"]
