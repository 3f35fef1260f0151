"""Pre-training data: labels files, AudioSet CSVs, samplers, deterministic crops."""

from collections import Counter

import numpy as np
import pytest
import soundfile as sf

from aac.bin import prep_tagging
from aac.datadir import DataDirError
from aac.pretrain.audioset import read_class_indices, read_segments, tagging_entries
from aac.pretrain.data import (
    BalancedBatchSampler,
    EvenBatchSampler,
    WaveCrops,
    read_classes,
    read_clip_captions,
    read_labels,
)

SEGMENTS = """# Segments csv created Sun Mar  5 10:54:31 2017
# num_ytids=3, num_segs=3, num_unique_labels=3, num_positive_labels=4
# YTID, start_seconds, end_seconds, positive_labels
--PJHxphWEs, 30.000, 40.000, "/m/09x0r,/t/dd00088"
-0CamVQdP_Y, 0.000, 6.000, "/m/0dgw9r"
zzzzzzzzzzz, 10.000, 20.000, "/m/09x0r"
"""
CLASSES = 'index,mid,display_name\n0,/m/09x0r,"Speech"\n1,/t/dd00088,"Gargling"\n2,/m/0dgw9r,"Human sounds"\n'


def test_labels_commas_or_spaces_and_the_class_list(tmp_path):
    (tmp_path / "labels").write_text("a x,y\nb y z\nc z\n")
    labels = read_labels(tmp_path)
    assert labels == {"a": ["x", "y"], "b": ["y", "z"], "c": ["z"]}
    assert read_classes(tmp_path, labels) == ["x", "y", "z"]
    (tmp_path / "classes").write_text("z\ny\nx\nw\n")
    assert read_classes(tmp_path, labels) == ["z", "y", "x", "w"]
    with pytest.raises(DataDirError, match="labels not found"):
        read_labels(tmp_path / "none")


def test_captions_from_text_or_references(tmp_path):
    (tmp_path / "text").write_text("a#1 one\na#2 two\nb#1 three\n")
    assert read_clip_captions(tmp_path) == {"a": ["one", "two"], "b": ["three"]}


def test_audioset_csvs_to_a_tagging_dir(tmp_path):
    (tmp_path / "seg.csv").write_text(SEGMENTS)
    (tmp_path / "cls.csv").write_text(CLASSES)
    segs = read_segments(tmp_path / "seg.csv")
    assert segs[0] == ("--PJHxphWEs", "30", ["/m/09x0r", "/t/dd00088"])
    assert [m for m, _ in read_class_indices(tmp_path / "cls.csv")] == [
        "/m/09x0r",
        "/t/dd00088",
        "/m/0dgw9r",
    ]
    audio = tmp_path / "audio"
    audio.mkdir()
    for name in ("--PJHxphWEs_30.wav", "Y-0CamVQdP_Y.wav"):  # the third segment vanished
        sf.write(audio / name, np.zeros(1600, dtype=np.float32), 16000)
    out = tmp_path / "tags"
    assert (
        prep_tagging.main(
            [
                "--segments",
                str(tmp_path / "seg.csv"),
                "--class-labels",
                str(tmp_path / "cls.csv"),
                "--audio-dir",
                str(audio),
                "--output-dir",
                str(out),
            ]
        )
        == 0
    )
    labels = read_labels(out)
    assert labels == {"--PJHxphWEs_30": ["/m/09x0r", "/t/dd00088"], "Y-0CamVQdP_Y": ["/m/0dgw9r"]}
    assert (out / "classes").read_text().split() == ["/m/09x0r", "/t/dd00088", "/m/0dgw9r"]
    with pytest.raises(DataDirError, match="no segment"):
        tagging_entries(segs, {})


def test_balanced_sampler_draws_rare_classes_as_often_as_common_ones():
    labels = [[0]] * 90 + [[1]] * 9 + [[2]]  # class 2 has one example
    sampler = BalancedBatchSampler(labels, batch_size=10, seed=1)
    sampler.set_epoch(3)
    drawn = [i for b in sampler.global_batches() for i in b]
    assert len(drawn) == 100
    per_class = Counter(labels[i][0] for i in drawn)
    assert max(per_class.values()) - min(per_class.values()) <= 1
    again = BalancedBatchSampler(labels, batch_size=10, seed=1)
    again.set_epoch(3)
    assert list(again) == list(sampler)  # deterministic per (seed, epoch)
    shares = [BalancedBatchSampler(labels, 10, 1, rank, 2) for rank in (0, 1)]
    for s in shares:
        s.set_epoch(3)
    assert sorted(i for s in shares for b in s for i in b) == sorted(drawn)


def test_even_sampler_gives_every_rank_an_equal_share():
    samplers = [EvenBatchSampler(11, 4, seed=0, rank=r, world_size=2) for r in (0, 1)]
    batches = [list(s) for s in samplers]
    assert [len(b) for b in batches[0]] == [len(b) for b in batches[1]] == [2, 2, 1]
    assert len(samplers[0]) == 3


def test_crops_are_deterministic_per_epoch_and_padded(tmp_path):
    wave = np.arange(16000 * 2, dtype=np.float32) / 32000
    sf.write(tmp_path / "a.wav", wave, 16000, subtype="FLOAT")
    crops = WaveCrops([("a", str(tmp_path / "a.wav"))], 16000, 1.0, train=True, seed=0)
    crops.set_epoch(1)
    first = crops[0][1]
    assert np.array_equal(crops[0][1], first)
    crops.set_epoch(2)
    assert not np.array_equal(crops[0][1], first)
    full = WaveCrops([("a", str(tmp_path / "a.wav"))], 16000, 3.0, train=False, keep_in_memory=True)
    _, x, n = full[0]
    assert n == 32000 and len(x) == 48000 and not x[32000:].any()
    assert np.allclose(x[:32000], wave, atol=1e-6)
