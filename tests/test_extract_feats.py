"""aac-extract-feats / aac-merge-feats end to end on tiny synthetic clips."""

import h5py
import numpy as np
import pytest
import soundfile as sf

from aac.bin import extract_feats, merge_feats
from aac.features import FeatureReader
from aac.features import extract as extract_mod


@pytest.fixture()
def data_dir(tmp_path):
    audio = tmp_path / "audio dir"
    audio.mkdir()
    rng = np.random.default_rng(0)
    lines = []
    for i, seconds in enumerate([1.0, 0.6, 1.4, 0.8, 0.03]):  # the last is shorter than min_samples
        path = audio / f"clip {i}.wav"
        rate = 22050 if i == 2 else 16000  # one clip needs resampling
        stereo = rng.standard_normal((int(rate * seconds), 2)).astype(np.float32) * 0.1
        sf.write(path, stereo, rate)
        lines.append(f"c{i} {path}")
    (audio / "broken.wav").write_bytes(b"RIFF not audio")
    lines.append(f"c5 {audio / 'broken.wav'}")
    d = tmp_path / "data"
    d.mkdir()
    (d / "wav.scp").write_text("\n".join(lines) + "\n")
    return d


def run(data_dir, out, *extra):
    return extract_feats.main(
        [
            "--encoder",
            "logmel",
            "--data-dir",
            str(data_dir),
            "--output",
            str(out),
            "--batch-size",
            "2",
            *extra,
        ]
    )


def test_extract_skips_pads_and_records(data_dir, tmp_path, caplog, capsys):
    out = tmp_path / "feats.h5"
    assert run(data_dir, out, "--extract-stride", "2") == 0
    r = FeatureReader(out)
    assert r.keys() == ["c0", "c1", "c2", "c3", "c4"]
    assert (
        r["c0"].shape == (12, 64) and r["c0"].dtype == np.float32
    )  # 24 frames at 25 Hz, every 2nd kept
    assert r.attrs["extract_stride"] == 2 and r.attrs["frame_rate"] == 12.5
    assert "downsample" not in r.attrs  # one meaning: the training-time stride
    assert (
        r.attrs["num_skipped"] == 1
        and r.attrs["num_padded"] == 1
        and r.attrs["random_init"] is False
    )
    assert "skipping c5" in caplog.text and "broken.wav" in caplog.text  # reason per clip
    assert "5 written, 0 resumed, 1 padded, 1 skipped" in capsys.readouterr().out


def test_split_jobs_merge_equal_single_run(data_dir, tmp_path):
    single = tmp_path / "single.h5"
    assert run(data_dir, single) == 0
    lines = (data_dir / "wav.scp").read_text().splitlines()
    parts = []
    for j, chunk in enumerate([lines[:3], lines[3:]]):
        scp = tmp_path / f"wav.{j}.scp"
        scp.write_text("\n".join(chunk) + "\n")
        parts.append(tmp_path / f"feats.{j}.h5")
        assert run(data_dir, parts[-1], "--wav-scp", str(scp)) == 0
    merged = tmp_path / "merged.h5"
    assert merge_feats.main(["--output", str(merged), *map(str, parts)]) == 0
    with h5py.File(single, "r") as a, h5py.File(merged, "r") as b:
        assert dict(a.attrs) == dict(b.attrs)
        assert sorted(a) == sorted(b)
        assert all(a[k][()].tobytes() == b[k][()].tobytes() for k in a)


def test_resume_after_interruption(data_dir, tmp_path, monkeypatch):
    full = tmp_path / "full.h5"
    assert run(data_dir, full) == 0
    out = tmp_path / "feats.h5"
    real, calls = extract_mod._encode, []

    def dying(*args, **kwargs):
        if len(calls) == 1:
            raise KeyboardInterrupt  # killed during the second batch
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(extract_mod, "_encode", dying)
    assert run(data_dir, out) == 130  # run_main: "interrupted"
    assert not out.exists()
    with h5py.File(str(out) + ".partial", "r") as h5:
        done = sorted(h5.keys())
    assert len(done) == 2
    monkeypatch.setattr(extract_mod, "_encode", real)
    assert run(data_dir, out) == 0
    a, b = FeatureReader(full), FeatureReader(out)
    assert a.keys() == b.keys()
    assert all(np.array_equal(a[k], b[k]) for k in a.keys())


def test_all_failed_exits_nonzero(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    (d / "wav.scp").write_text(f"x {tmp_path / 'missing.wav'}\n")
    out = tmp_path / "f.h5"
    assert run(d, out) == 1
    assert not out.exists() and not (tmp_path / "f.h5.partial").exists()


def test_random_init_flagged_in_attrs(data_dir, tmp_path):
    (data_dir / "wav.scp").write_text((data_dir / "wav.scp").read_text().splitlines()[1] + "\n")
    out = tmp_path / "r.h5"
    rc = extract_feats.main(
        [
            "--encoder",
            "pann_cnn14_16k",
            "--random-init",
            "--data-dir",
            str(data_dir),
            "--output",
            str(out),
            "--storage-dtype",
            "float16",
        ]
    )
    assert rc == 0
    r = FeatureReader(out)
    assert r.attrs["random_init"] is True and "RANDOM INIT" in r.attrs["warning"]
    assert r["c1"].dtype == np.float16 and r["c1"].shape[1] == 2048


def test_missing_checkpoint_flag_is_an_error(data_dir, tmp_path):
    assert (
        extract_feats.main(
            ["--encoder", "beats", "--data-dir", str(data_dir), "--output", str(tmp_path / "x.h5")]
        )
        == 2
    )


def test_full_disk_mid_write_then_rerun_equals_uninterrupted(
    data_dir, tmp_path, monkeypatch, capsys
):
    import errno

    full = tmp_path / "full.h5"
    assert run(data_dir, full) == 0
    out = tmp_path / "feats.h5"
    real, calls = h5py.Group.create_dataset, []

    def disk_full(self, name, shape=None, dtype=None, data=None, **kw):
        calls.append(name)
        if len(calls) == 3:  # the dataset exists, its data never arrives
            real(self, name, shape=np.shape(data), dtype=np.asarray(data).dtype)
            raise OSError(errno.ENOSPC, "No space left on device", str(out) + ".partial")
        return real(self, name, shape=shape, dtype=dtype, data=data, **kw)

    monkeypatch.setattr(h5py.Group, "create_dataset", disk_full)
    assert run(data_dir, out) == 2
    err = capsys.readouterr().err
    assert "writing clip" in err and "no space left on device" in err.lower()
    assert not out.exists()
    monkeypatch.setattr(h5py.Group, "create_dataset", real)
    assert run(data_dir, out) == 0
    a, b = FeatureReader(full), FeatureReader(out)
    assert a.keys() == b.keys()
    assert all(a[k].tobytes() == b[k].tobytes() for k in a.keys())
    assert b.attrs["num_clips"] == 5 and b.attrs["num_listed"] == 6


def test_second_extraction_on_the_same_output_stops(data_dir, tmp_path):
    import subprocess
    import sys

    from aac.features.cache import OutputLock

    out = tmp_path / "feats.h5"
    lock = OutputLock(str(out))  # a first run in progress
    (tmp_path / "feats.h5.partial").write_bytes(b"the first run's live partial file")
    try:
        res = subprocess.run(
            [
                sys.executable,
                "-m",
                "aac.bin.extract_feats",
                "--encoder",
                "logmel",
                "--data-dir",
                str(data_dir),
                "--output",
                str(out),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        lock.release()
    assert res.returncode == 2, res.stderr
    errors = [line for line in res.stderr.splitlines() if "error" in line.lower()]
    assert "Traceback" not in res.stderr and len(errors) == 1
    assert errors[0].startswith("aac-extract-feats: error:")
    assert "another run holds the output" in errors[0] and "pid" in errors[0]
    assert (tmp_path / "feats.h5.partial").read_bytes() == b"the first run's live partial file"
    assert not (tmp_path / "feats.h5.partial.corrupt").exists() and not out.exists()


def test_non_finite_features_are_refused_naming_the_clip(data_dir, tmp_path, monkeypatch, capsys):
    real = extract_mod._encode

    def nan_encode(encoder, waves, *args):
        feats, lengths = real(encoder, waves, *args)
        if any(len(w) == 16000 for w in waves):  # clip c0 (1 s at 16 kHz)
            feats[[len(w) == 16000 for w in waves].index(True), 0, 0] = float("nan")
        return feats, lengths

    monkeypatch.setattr(extract_mod, "_encode", nan_encode)
    assert run(data_dir, tmp_path / "f.h5") == 2
    err = capsys.readouterr().err
    assert "clip 'c0'" in err and "non-finite" in err
    assert not (tmp_path / "f.h5").exists()


def test_flag_spellings(data_dir, tmp_path, capsys):
    assert run(data_dir, tmp_path / "f.h5", "--storage-dtype", "float16") == 0
    assert FeatureReader(tmp_path / "f.h5")["c0"].dtype == np.float16
    for old in ("--dtype", "--checkpoint", "--downsample"):  # never released: gone
        with pytest.raises(SystemExit):
            run(data_dir, tmp_path / "g.h5", old, "2")
        assert "unrecognized arguments" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:  # argparse's usage error
        run(data_dir, tmp_path / "g.h5", "--storage-dtype", "float16", "--device", "gpu")
    assert exit_info.value.code == 2
    assert "'gpu' is not cpu, cuda or cuda:N" in capsys.readouterr().err
    assert run(data_dir, tmp_path / "g.h5", "--encoder-checkpoint", "x.pth") == 2
    assert "has no weights" in capsys.readouterr().err


def test_merge_refuses_an_unfinished_part(data_dir, tmp_path, capsys):
    part = tmp_path / "feats.1.h5"
    assert run(data_dir, part) == 0
    assert FeatureReader(part).attrs["chunk_seconds"] == 60.0
    with h5py.File(part, "a") as h5:  # what a part copied from a .partial looks like
        del h5.attrs["complete"]
    capsys.readouterr()
    assert merge_feats.main(["--output", str(tmp_path / "m.h5"), str(part)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("aac-merge-feats: error:") and "'complete'" in err[-1]
    assert "Traceback" not in "\n".join(err) and not (tmp_path / "m.h5").exists()


@pytest.mark.parametrize(
    "extra",
    [[], ["--storage-dtype", "float16", "--extract-stride", "2", "--encoder-conf", "n_mels=40"]],
)
def test_a_cache_is_what_aac_provenance_expects_of_its_options(data_dir, tmp_path, capsys, extra):
    """The cache's own attributes match the identity the recipe names its directory by."""
    from aac.bin import provenance

    out = tmp_path / "feats.h5"
    assert run(data_dir, out, *extra) == 0
    capsys.readouterr()
    asked = ["--encoder", "logmel", *extra]
    assert provenance.main(["check-feats", str(out), *asked]) == 0
    assert provenance.main(["check-feats", str(out), *asked, "--chunk-seconds", "30"]) == 1
    assert capsys.readouterr().out == (
        f"{out} was made with chunk_seconds=60.0, but this run has chunk_seconds=30.0\n"
    )
