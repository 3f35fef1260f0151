"""Stage 1 data prep on tiny Clotho / AudioCaps layouts with the quirks of real collections."""

import csv
import logging
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from aac.bin import prep_data
from aac.datadir import read_kaldi_text, read_references
from aac.prep import PrepError, write_utt2dur
from aac.prep.common import make_clip_ids

ID_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
CAPS = [
    "A dog barks, then a car passes.",
    'Someone says "hello" twice.',
    "Rain falls; wind blows.",
    "Birds chirp",
    "A bell rings loudly",
]


def tone(rate, seconds, channels=1):
    t = np.arange(int(rate * seconds)) / rate
    x = 0.3 * np.sin(2 * np.pi * 440 * t)
    return np.stack([x] * channels, axis=1) if channels > 1 else x


def write_csv(path, header, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


# (file name, rate, seconds, channels): spaces, `&`, `#`, quotes, parentheses, non-ASCII,
# stereo and odd sample rates.
GOOD_CLOTHO = [
    ("dog bark (take 2).wav", 44100, 0.5, 1),
    ("rain & wind #3.wav", 8000, 0.4, 1),
    ('bird\'s "song".wav', 8012, 0.3, 1),
    ("Straße café.wav", 11025, 0.25, 1),
    ("stereo_48k.wav", 48000, 0.2, 2),
]


@pytest.fixture
def clotho_root(tmp_path):
    root = tmp_path / "corpora"
    base = root / "CLOTHO_v2.1"
    for split in ("development", "validation", "evaluation"):
        folder = base / "clotho_audio_files" / split
        folder.mkdir(parents=True)
        rows = []
        clips = GOOD_CLOTHO if split == "development" else GOOD_CLOTHO[:1]
        for name, rate, seconds, channels in clips:
            sf.write(folder / name, tone(rate, seconds, channels), rate, subtype="PCM_16")
            rows.append([name] + CAPS)
        if split == "development":
            (folder / "empty.wav").write_bytes(b"")
            (folder / "corrupt.wav").write_bytes(b"RIFF\x00\x01garbage" * 10)
            rows += [
                ["empty.wav"] + CAPS,
                ["corrupt.wav"] + CAPS,
                ["missing.wav"] + CAPS,
                ["short_row.wav", "only one caption"],  # malformed: 2 fields
                ["empty_caption.wav", "a", "", "c", "d", "e"],
            ]
        header = ["file_name"] + [f"caption_{k}" for k in range(1, 6)]
        write_csv(base / "clotho_csv_files" / f"clotho_captions_{split}.csv", header, rows)
    return root


@pytest.fixture
def audiocaps_root(tmp_path):
    root = tmp_path / "ac"
    audio = root / "AUDIOCAPS" / "audio_32000Hz"
    csvs = root / "AUDIOCAPS" / "csv_files_v1"
    header = ["audiocap_id", "youtube_id", "start_time", "caption"]
    for split in ("train", "val", "test"):
        (audio / split).mkdir(parents=True)
    for yt, start in [("-abc_DEF12", 30), ("xyz0123456", 0)]:
        sf.write(audio / "train" / f"{yt}_{start}.flac", tone(32000, 0.3), 32000)
    write_csv(
        csvs / "train.csv",
        header,
        [
            ["1", "-abc_DEF12", "30", "A man speaks, then a dog barks"],
            ["2", "xyz0123456", "0.0", 'A "loud" engine'],
            ["3", "vanished123", "10", "This video was removed"],  # audio never downloaded
            ["4", "badrow"],  # malformed
        ],
    )
    sf.write(audio / "val" / "valclip0001_20.flac", tone(32000, 0.2), 32000)
    write_csv(
        csvs / "val.csv",
        header,
        [[str(10 + k), "valclip0001", "20", c] for k, c in enumerate(CAPS)],
    )
    sf.write(audio / "test" / "testclip001_0.flac", tone(32000, 0.2), 32000)
    write_csv(
        csvs / "test.csv",
        header,
        [[str(20 + k), "testclip001", "0", c] for k, c in enumerate(CAPS)],
    )
    return root


def test_clotho_prep_quirks(clotho_root, tmp_path, caplog):
    out = tmp_path / "data"
    with caplog.at_level(logging.INFO, logger="aac.prep"):
        rc = prep_data.main(
            ["--corpus", "clotho", "--root", str(clotho_root), "--output-dir", str(out)]
        )
    assert rc == 0
    dev = out / "clotho_development"
    wav = read_kaldi_text(dev / "wav.scp")
    assert len(wav) == len(GOOD_CLOTHO)
    assert list(wav) == sorted(wav)
    assert all(ID_RE.match(k) for k in wav)
    names = {Path(v).name for v in wav.values()}
    assert names == {name for name, *_ in GOOD_CLOTHO}
    assert all(Path(v).is_absolute() and Path(v).is_file() for v in wav.values())
    durs = {Path(wav[k]).name: float(v) for k, v in read_kaldi_text(dev / "utt2dur").items()}
    for name, _rate, seconds, _ in GOOD_CLOTHO:
        assert durs[name] == pytest.approx(seconds, abs=2e-3)
    text = read_kaldi_text(dev / "text")
    assert len(text) == 5 * len(GOOD_CLOTHO)
    some_id = next(iter(wav))
    assert [text[f"{some_id}#{k}"] for k in range(1, 6)] == CAPS  # commas, quotes kept
    refs = read_references(dev)
    assert all(r == CAPS for r in refs.values())
    for split in ("validation", "evaluation"):
        assert not (out / f"clotho_{split}" / "text").exists()
        assert len(read_references(out / f"clotho_{split}")) == 1
    log = caplog.text
    assert "missing.wav" in log and "skipped 1 row(s) whose audio file is missing" in log
    assert "clotho_captions_development.csv:" in log and "2 fields, expected 6" in log
    assert "empty caption_2" in log
    assert re.search(r"skipped 2 unreadable clip\(s\)", log)


def test_clotho_ids_are_stable(clotho_root, tmp_path):
    for run in ("a", "b"):
        prep_data.main(
            [
                "--corpus",
                "clotho",
                "--root",
                str(clotho_root),
                "--output-dir",
                str(tmp_path / run),
                "--splits",
                "development",
            ]
        )
    a = (tmp_path / "a" / "clotho_development" / "wav.scp").read_bytes()
    assert a == (tmp_path / "b" / "clotho_development" / "wav.scp").read_bytes()
    # An id depends on its own name only, not on the other names in the set.
    assert make_clip_ids(["café", "cafe"])["café"] == make_clip_ids(["café"])["café"]
    assert make_clip_ids(["café", "cafe"])["cafe"] == "cafe"
    ids = make_clip_ids(["a b", "a_b", "a#b", "ok-1.x"])
    assert len(set(ids.values())) == 4 and ids["ok-1.x"] == "ok-1.x"


def test_clotho_missing_csv_is_clear_error(clotho_root, tmp_path, capsys):
    (clotho_root / "CLOTHO_v2.1" / "clotho_csv_files" / "clotho_captions_validation.csv").unlink()
    rc = prep_data.main(
        [
            "--corpus",
            "clotho",
            "--root",
            str(clotho_root),
            "--output-dir",
            str(tmp_path / "data"),
            "--splits",
            "validation",
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("aac-prep-data: error: ") and err.count("\n") == 1
    assert "clotho_captions_validation.csv" in err and "--download" in err


def test_verify_audio_catches_nan(clotho_root, tmp_path):
    folder = clotho_root / "CLOTHO_v2.1" / "clotho_audio_files" / "evaluation"
    name = GOOD_CLOTHO[0][0]
    bad = tone(44100, 0.1).astype(np.float32)
    bad[10] = np.nan
    sf.write(folder / name, bad, 44100, subtype="FLOAT", format="WAV")
    args = ["--corpus", "clotho", "--root", str(clotho_root), "--splits", "evaluation"]
    assert prep_data.main(args + ["--output-dir", str(tmp_path / "a")]) == 0  # header only
    assert prep_data.main(args + ["--output-dir", str(tmp_path / "b"), "--verify-audio"]) == 2


def test_audiocaps_prep(audiocaps_root, tmp_path, caplog):
    out = tmp_path / "data"
    with caplog.at_level(logging.INFO, logger="aac.prep"):
        assert (
            prep_data.main(
                ["--corpus", "audiocaps", "--root", str(audiocaps_root), "--output-dir", str(out)]
            )
            == 0
        )
    train = out / "audiocaps_train"
    wav = read_kaldi_text(train / "wav.scp")
    assert set(wav) == {"-abc_DEF12_30", "xyz0123456_0"}
    assert read_kaldi_text(train / "text")["xyz0123456_0#1"] == 'A "loud" engine'
    assert (train / "text_spk1").exists() and not (train / "text_spk2").exists()
    assert "skipped 1 of 3 clip(s) whose audio is not in" in caplog.text
    assert "train.csv:" in caplog.text and "2 fields, expected 4" in caplog.text
    val = out / "audiocaps_val"
    assert not (val / "text").exists()
    assert read_references(val) == {"valclip0001_20": CAPS}
    assert read_references(out / "audiocaps_test") == {"testclip001_0": CAPS}


def test_audiocaps_download_without_aac_datasets(tmp_path, monkeypatch, capsys):
    import builtins

    real_import = builtins.__import__

    def no_aac_datasets(name, *args, **kwargs):
        if name.startswith("aac_datasets"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_aac_datasets)
    rc = prep_data.main(
        [
            "--corpus",
            "audiocaps",
            "--root",
            str(tmp_path / "empty"),
            "--output-dir",
            str(tmp_path / "data"),
            "--download",
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and "aac-datasets" in err and "AUDIOCAPS/audio_32000Hz" in err


def test_utt2dur_for_pipes_and_ark(tmp_path):
    import kaldiio

    rate = 8000
    plain = tmp_path / "a file with spaces.wav"
    sf.write(plain, tone(rate, 0.5), rate, subtype="PCM_16")
    ark = tmp_path / "audio.ark"
    kaldiio.save_ark(
        str(ark),
        {"arkclip": (rate, (tone(rate, 0.25) * 32767).astype(np.int16))},
        scp=str(tmp_path / "ark.scp"),
        write_function="soundfile",
    )
    ark_value = read_kaldi_text(tmp_path / "ark.scp")["arkclip"]
    assert re.search(r"\.ark:\d+$", ark_value)
    entries = {
        "plain": str(plain),
        "arkclip": ark_value,
        "catpipe": f"cat '{plain}' |",
        "broken": str(tmp_path / "nope.wav"),
    }
    if shutil.which("sox"):
        entries["soxpipe"] = f"sox '{plain}' -t wav - speed 2.0 |"
    data = tmp_path / "data"
    data.mkdir()
    (data / "wav.scp").write_text("".join(f"{k} {v}\n" for k, v in sorted(entries.items())))
    assert prep_data.main(["--utt2dur-for", str(data)]) == 0
    durs = {k: float(v) for k, v in read_kaldi_text(data / "utt2dur").items()}
    assert durs["plain"] == pytest.approx(0.5) and durs["catpipe"] == pytest.approx(0.5)
    assert durs["arkclip"] == pytest.approx(0.25)
    assert "broken" not in durs
    if "soxpipe" in entries:
        assert durs["soxpipe"] == pytest.approx(0.25, abs=0.01)
    with pytest.raises(PrepError, match="wav.scp"):
        write_utt2dur(tmp_path / "no_such_dir")


def test_unknown_split_and_missing_args():
    with pytest.raises(SystemExit):
        prep_data.main(["--corpus", "clotho", "--root", "x", "--splits", "train"])
    with pytest.raises(SystemExit):
        prep_data.main(["--corpus", "clotho"])
