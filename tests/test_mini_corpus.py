"""The synthetic mini corpus: determinism, held-out novelty, caption variety, real layout."""

import csv
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from aac.bin import make_mini_corpus, prep_data
from aac.datadir import mixture_parts, read_kaldi_text, read_mixture_captions, read_references
from aac.mini.captions import PHRASES, Event, Scene, captions_for
from aac.mini.corpus import DEFAULT_CLIPS, SETS, MiniConf, assign_scenes, make_corpus
from aac.sounds import GENERATORS, render_level

TINY = [
    "clotho_development=14",
    "clotho_validation=2",
    "clotho_evaluation=3",
    "audiocaps_train=3",
    "audiocaps_val=2",
    "audiocaps_test=1",
]


def generate(root, seed=0):
    args = [
        "--output-dir",
        str(root),
        "--seed",
        str(seed),
        "--min-dur",
        "1",
        "--max-dur",
        "1.5",
        "--num-clips",
        *TINY,
    ]
    assert make_mini_corpus.main(args) == 0


def tree(root):
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(Path(root).rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("mini") / "a"
    generate(root)
    return root


def test_same_seed_gives_identical_bytes(corpus, tmp_path):
    generate(tmp_path / "b")
    generate(tmp_path / "c", seed=1)
    a, b, c = tree(corpus), tree(tmp_path / "b"), tree(tmp_path / "c")
    assert a == b
    assert a.keys() != c.keys() or any(a[k] != c[k] for k in a)


def test_layout_and_formats(corpus):
    clotho = corpus / "CLOTHO_v2.1"
    wavs = sorted((clotho / "clotho_audio_files" / "development").iterdir())
    assert len(wavs) == 14
    info = sf.info(wavs[0])
    assert (info.samplerate, info.channels, info.subtype, info.format) == (
        44100,
        1,
        "PCM_16",
        "WAV",
    )
    flacs = list((corpus / "AUDIOCAPS" / "audio_32000Hz" / "val").iterdir())
    info = sf.info(flacs[0])
    assert (info.samplerate, info.channels, info.format) == (32000, 1, "FLAC")
    assert 1.0 <= info.duration <= 1.5
    names = [p.name for p in wavs]
    assert any(" " in n for n in names) and any(set(n) & set("&#()'\"") for n in names)
    with open(clotho / "clotho_csv_files" / "clotho_captions_development.csv", newline="") as f:
        header = next(csv.reader(f))
    assert header == ["file_name"] + [f"caption_{k}" for k in range(1, 6)]
    assert (corpus / ".mini_corpus.done").is_file()
    assert not list(corpus.rglob("*.partial"))


def test_five_different_captions_per_clip(corpus):
    for split in ("development", "validation", "evaluation"):
        path = corpus / "CLOTHO_v2.1" / "clotho_csv_files" / f"clotho_captions_{split}.csv"
        for row in csv.DictReader(open(path, newline="", encoding="utf-8")):
            caps = [row[f"caption_{k}"] for k in range(1, 6)]
            assert len(set(caps)) == 5, caps
            assert all(c[0].isupper() and c.endswith(".") for c in caps)


def test_prep_runs_on_the_mini_corpus(corpus, tmp_path):
    out = tmp_path / "data"
    for name in ("clotho", "audiocaps"):
        assert (
            prep_data.main(["--corpus", name, "--root", str(corpus), "--output-dir", str(out)]) == 0
        )
    assert len(read_kaldi_text(out / "clotho_development" / "wav.scp")) == 14
    assert len(read_kaldi_text(out / "clotho_development" / "text")) == 70
    assert len(read_kaldi_text(out / "audiocaps_train" / "wav.scp")) == 3  # vanished rows skipped
    refs = read_references(out / "audiocaps_val")
    assert len(refs) == 2 and all(len(set(r)) == 5 for r in refs.values())


def test_held_out_scenes_are_new_combinations():
    scenes = assign_scenes(MiniConf(), np.random.default_rng(0))
    train = {s for name, (_, _, held) in SETS.items() if not held for s in scenes[name]}
    held_out = [s for name, (_, _, held) in SETS.items() if held for s in scenes[name]]
    assert len(held_out) == sum(DEFAULT_CLIPS[n] for n, (_, _, h) in SETS.items() if h)
    assert len(set(held_out)) == len(held_out)
    assert not train & set(held_out)
    sizes = {len(s.events) for s in train}
    assert sizes == {1, 2, 3}


def test_rerun_skips_and_foreign_corpus_is_refused(corpus, tmp_path):
    counts = dict(DEFAULT_CLIPS)
    counts.update((k, int(v)) for k, v in (item.split("=") for item in TINY))
    conf = MiniConf(num_clips=counts, min_dur=1.0, max_dur=1.5)
    before = (corpus / ".mini_corpus.done").stat().st_mtime_ns
    assert make_corpus(corpus, conf) is False
    assert (corpus / ".mini_corpus.done").stat().st_mtime_ns == before
    real = tmp_path / "real"
    (real / "CLOTHO_v2.1").mkdir(parents=True)
    with pytest.raises(RuntimeError, match="refusing to overwrite"):
        make_corpus(real, conf)


def test_captions_name_every_event_and_attribute():
    scene = Scene((Event("siren", "loud"), Event("dog", "normal", 3)), Event("rain", "distant"))
    rng = np.random.default_rng(0)
    for caption in captions_for(scene, rng):
        low = caption.lower()
        for event in scene.events:
            assert any(subject in low for subject, *_ in PHRASES[event.kind]), (event, caption)
        assert "loud" in low and ("three times" in low or "a few times" in low)
        assert any(w in low for w in ("distant", "faint", "far away", "in the distance"))
        # order is kept: the siren is mentioned before the dog
        assert low.index("siren") < low.index("dog")


def _centroid(x, sr):
    mag = np.abs(np.fft.rfft(x))
    return float((np.fft.rfftfreq(len(x), 1 / sr) * mag).sum() / mag.sum())


def test_sounds_differ_and_distance_is_quieter():
    rng = np.random.default_rng(0)
    sr = 16000
    cent = {k: _centroid(fn(rng, sr, 1.5, 2), sr) for k, fn in GENERATORS.items()}
    assert cent["engine"] < 300 < cent["siren"] < 2000 < cent["birds"]
    assert cent["wind"] < cent["rain"]
    x = GENERATORS["bell"](rng, sr, 1.5)
    loud = render_level(x, sr, "loud", rng)
    far = render_level(x, sr, "distant", rng)
    assert np.sqrt(np.mean(far**2)) < 0.3 * np.sqrt(np.mean(loud**2))
    assert _centroid(far, sr) < _centroid(loud, sr)


RECIPES = Path(__file__).resolve().parent.parent / "egs2"


def _run_data_sh(recipe, root, *args):
    import os
    import subprocess
    import sys

    env = dict(
        os.environ,
        CLOTHO=str(root),
        AUDIOCAPS=str(root),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    )
    return subprocess.run(
        ["bash", "local/data.sh", *args],
        cwd=RECIPES / recipe / "aac1",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_mini_recipe_data_sh(tmp_path):
    counts = " ".join(TINY)
    res = _run_data_sh(
        "mini_clotho",
        tmp_path / "corpus",
        "--datadir",
        str(tmp_path / "data"),
        "--num_clips",
        counts,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    for name in SETS:
        assert (tmp_path / "data" / name / "wav.scp").is_file(), name
    res = _run_data_sh(
        "mini_clotho",
        tmp_path / "corpus",
        "--datadir",
        str(tmp_path / "data"),
        "--num_clips",
        counts,
    )
    assert res.returncode == 0 and "already complete" in res.stderr + res.stdout


@pytest.mark.parametrize("recipe", ["clotho", "mini_clotho"])
def test_data_sh_rejects_unknown_option(recipe, tmp_path):
    res = _run_data_sh(recipe, tmp_path, "--no_such_option", "1")
    assert res.returncode != 0 and "unknown option" in res.stderr


def test_mixture_captions_name_two_clips_of_the_prepared_training_sets(corpus, tmp_path):
    out = tmp_path / "data"
    for name in ("clotho", "audiocaps"):
        prep_data.main(["--corpus", name, "--root", str(corpus), "--output-dir", str(out)])
    for set_name in ("clotho_development", "audiocaps_train"):
        clips = set(read_kaldi_text(out / set_name / "wav.scp"))
        mixtures = read_mixture_captions(corpus / "mixup" / f"{set_name}.txt")
        assert len(mixtures) >= 2
        for mix_id, caption in mixtures:
            a, b = mixture_parts(mix_id)
            assert a != b and {a, b} <= clips
            # the mixture caption is a caption of A, then one of B ("..., and then ...")
            assert ", and then " in caption
    assert not (corpus / "mixup" / "clotho_validation.txt").exists()  # held out: none
