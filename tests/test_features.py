"""HDF5 feature cache: atomic writer, resume, streaming reader, merge."""

import os
import pickle

import h5py
import numpy as np
import pytest

from aac.features import FeatureCacheError, FeatureReader, FeatureWriter, merge_feature_files
from aac.locking import OutputLockedError

ATTRS = {"encoder": "logmel", "checkpoint": "", "random_init": False, "dim": 4, "frame_rate": 25.0}


def feats(i):
    return np.random.default_rng(i).standard_normal((3 + i, 4)).astype(np.float32)


def test_write_is_atomic_and_reader_streams(tmp_path):
    out = str(tmp_path / "f.h5")
    with FeatureWriter(out, ATTRS) as w:
        w.write("a", feats(0))
        w.flush()
        assert not os.path.exists(out) and os.path.exists(out + ".partial")
        w.write("b", feats(1))
        w.finish()
    assert not os.path.exists(out + ".partial")
    r = FeatureReader(out)
    assert r._h5 is None  # nothing opened or loaded until a clip is read
    assert len(r) == 2 and r.keys() == ["a", "b"] and "a" in r and "c" not in r
    assert r.attrs["encoder"] == "logmel" and r.attrs["random_init"] is False
    np.testing.assert_array_equal(r["b"], feats(1))
    assert r.shape("a") == (3, 4)
    clone = pickle.loads(pickle.dumps(r))  # what a DataLoader worker receives
    assert clone._h5 is None
    np.testing.assert_array_equal(clone["a"], feats(0))
    with pytest.raises(KeyError, match="f.h5.*'zz'"):
        r["zz"]


def test_resume_after_kill(tmp_path):
    out = str(tmp_path / "f.h5")
    w = FeatureWriter(out, ATTRS)
    w.write("a", feats(0))
    w.flush()
    del w  # process dies: no finish(), the partial file stays
    w = FeatureWriter(out, ATTRS)
    assert w.resumed and "a" in w
    w.write("b", feats(1))
    w.finish()
    assert FeatureReader(out).keys() == ["a", "b"]


def test_resume_with_other_options_is_refused(tmp_path):
    out = str(tmp_path / "f.h5")
    FeatureWriter(out, ATTRS).close()
    with pytest.raises(FeatureCacheError, match=r"f\.h5\.partial.*'dim'"):
        FeatureWriter(out, dict(ATTRS, dim=8))


def test_corrupt_partial_is_set_aside(tmp_path):
    out = str(tmp_path / "f.h5")
    with open(out + ".partial", "wb") as f:
        f.write(b"\x89HDF garbage")
    w = FeatureWriter(out, ATTRS)
    assert not w.resumed and os.path.exists(out + ".partial.corrupt")
    w.close()


def test_missing_file_mentions_partial(tmp_path):
    out = str(tmp_path / "f.h5")
    FeatureWriter(out, ATTRS).close()
    with pytest.raises(FeatureCacheError, match="partial"):
        FeatureReader(out)


def _write(path, ids, attrs=ATTRS):
    with FeatureWriter(path, attrs) as w:
        for i in ids:
            w.write(f"c{i}", feats(i))
        w.finish()


def test_merge_equals_single_file(tmp_path):
    single, p1, p2, merged = (str(tmp_path / n) for n in ("s.h5", "p1.h5", "p2.h5", "m.h5"))
    _write(single, range(5))
    _write(p1, [0, 2, 4])
    _write(p2, [1, 3])
    assert merge_feature_files([p1, p2], merged) == 5
    with h5py.File(single, "r") as a, h5py.File(merged, "r") as b:
        assert sorted(a.keys()) == sorted(b.keys())
        for k in a:
            assert a[k].dtype == b[k].dtype
            assert a[k][()].tobytes() == b[k][()].tobytes()
    assert FeatureReader(merged).attrs == FeatureReader(single).attrs


def test_merge_refuses_mismatch_and_duplicates(tmp_path):
    p1, p2, p3 = (str(tmp_path / n) for n in ("p1.h5", "p2.h5", "p3.h5"))
    _write(p1, [0, 1])
    _write(p2, [1, 2])
    _write(p3, [5], dict(ATTRS, encoder="beats"))
    with pytest.raises(FeatureCacheError, match=r"p2\.h5.*'c1'"):
        merge_feature_files([p1, p2], str(tmp_path / "m.h5"))
    with pytest.raises(FeatureCacheError, match=r"p3\.h5.*'encoder'"):
        merge_feature_files([p1, p3], str(tmp_path / "m.h5"))
    assert not os.path.exists(tmp_path / "m.h5")


def test_reader_refuses_a_file_without_the_completeness_mark(tmp_path):
    old = str(tmp_path / "old.h5")
    with h5py.File(old, "w") as h5:  # what an older aac (or a copied partial) looks like
        for key, value in ATTRS.items():
            h5.attrs[key] = value
        h5.create_dataset("a", data=feats(0))
    with pytest.raises(FeatureCacheError, match="'complete'.*re-extract"):
        FeatureReader(old)
    with pytest.raises(FeatureCacheError, match="'complete'"):
        merge_feature_files([old], str(tmp_path / "m.h5"))
    assert not os.path.exists(tmp_path / "m.h5")


def test_reader_refuses_a_file_missing_clips(tmp_path):
    out = str(tmp_path / "f.h5")
    with FeatureWriter(out, ATTRS) as w:
        w.write("a", feats(0))
        w.write("b", feats(1))
        w.finish({"num_listed": 3, "num_skipped": 0})
    with pytest.raises(FeatureCacheError, match="2 clips.*listed 3.*1 missing"):
        FeatureReader(out)
    with h5py.File(out, "a") as h5:  # a clip lost after publishing
        h5.attrs["num_listed"] = 2
        del h5["b"]
    reader = FeatureReader(out)  # the index still lists b: found when b is read
    np.testing.assert_array_equal(reader["a"], feats(0))
    with pytest.raises(FeatureCacheError, match="the index lists clip 'b' but the file does not"):
        reader["b"]
    reader.close()
    with h5py.File(out, "a") as h5:
        h5.attrs["num_clips"], h5.attrs["num_listed"] = 1, 1
    with pytest.raises(FeatureCacheError, match="num_clips is 1 but its index lists 2 clips"):
        FeatureReader(out)


def test_merged_file_carries_the_mark(tmp_path):
    p1, p2, merged = (str(tmp_path / n) for n in ("p1.h5", "p2.h5", "m.h5"))
    for path, ids in ((p1, [0, 1]), (p2, [2])):
        with FeatureWriter(path, ATTRS) as w:
            for i in ids:
                w.write(f"c{i}", feats(i))
            w.finish({"num_listed": len(ids) + 1, "num_skipped": 1})
    merge_feature_files([p1, p2], merged)
    attrs = FeatureReader(merged).attrs
    assert attrs["complete"] is True and attrs["num_clips"] == 3
    assert attrs["num_listed"] == 5 and attrs["num_skipped"] == 2
    with h5py.File(merged, "r") as h5:
        assert all(h5[k].attrs["written"] for k in FeatureReader(merged))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_writer_refuses_non_finite_features(tmp_path, bad):
    out = str(tmp_path / "f.h5")
    x = feats(0)
    x[1, 2] = bad
    with FeatureWriter(out, ATTRS) as w:
        with pytest.raises(FeatureCacheError, match="clip 'a'.*non-finite"):
            w.write("a", x)
        assert "a" not in w


def test_second_writer_on_the_same_output_is_refused(tmp_path):
    out = str(tmp_path / "f.h5")
    first = FeatureWriter(out, ATTRS)
    first.write("a", feats(0))
    first.flush()
    with pytest.raises(OutputLockedError, match=f"another run holds the output.*pid {os.getpid()}"):
        FeatureWriter(out, ATTRS)
    assert not os.path.exists(out + ".partial.corrupt")  # the live file was left alone
    first.write("b", feats(1))
    first.finish()
    assert FeatureReader(out).keys() == ["a", "b"]
    FeatureWriter(out + "2", ATTRS).close()  # the lock ends with the writer
    FeatureWriter(out, ATTRS).close()


def test_incomplete_clip_is_redone_on_resume(tmp_path):
    out = str(tmp_path / "f.h5")
    w = FeatureWriter(out, ATTRS)
    w.write("a", feats(0))
    w.flush()
    w.write("b", feats(1))  # written but never flushed+marked: the crash came first
    w._h5.flush()
    del w
    w = FeatureWriter(out, ATTRS)
    assert "a" in w and "b" not in w
    w.close()


def _published(tmp_path, n=3) -> str:
    out = str(tmp_path / "f.h5")
    with FeatureWriter(out, ATTRS) as w:
        for i in range(n):
            w.write(f"c{i}", feats(i) + 5.0)  # no zeros in the data
        w.finish()
    return out


def test_a_block_zeroed_after_publishing_is_refused_naming_the_clip(tmp_path):
    out = _published(tmp_path)
    with h5py.File(out, "r") as h5:  # where clip c1's data lies in the file
        offset, size = h5["c1"].id.get_offset(), h5["c1"].id.get_storage_size()
    with open(out, "r+b") as f:  # another tool (or a bad disk) zeroes the block
        f.seek(offset)
        f.write(b"\0" * size)
    reader = FeatureReader(out)
    np.testing.assert_array_equal(reader["c0"], feats(0) + 5.0)  # the others still read
    with pytest.raises(FeatureCacheError, match=r"f\.h5: clip 'c1' fails its checksum"):
        reader["c1"]


def test_values_changed_by_another_tool_are_refused(tmp_path):
    out = _published(tmp_path)
    with h5py.File(out, "a") as h5:
        h5["c2"][0, 0] = 1.0  # a finite value: only the checksum can tell
        h5["c0"][1, 1] = np.nan
    reader = FeatureReader(out)
    with pytest.raises(FeatureCacheError, match="clip 'c2' fails its checksum"):
        reader["c2"]
    with pytest.raises(FeatureCacheError, match="clip 'c0' has 1 non-finite"):
        reader["c0"]


def test_a_clip_without_a_checksum_is_refused(tmp_path):
    out = _published(tmp_path)
    with h5py.File(out, "a") as h5:
        del h5["c0"].attrs["crc32"]
    with pytest.raises(FeatureCacheError, match="clip 'c0' has no checksum.*FeatureWriter"):
        FeatureReader(out)["c0"]


def _clips_by_listing(path) -> dict:
    """{clip id: frames} as listing the file finds them (what the index must say)."""
    with h5py.File(path, "r") as h5:
        return {k: h5[k].shape[0] for k in h5 if k != "#index"}


def test_the_index_lists_every_clip_with_its_frames(tmp_path):
    single, p1, p2, merged = (str(tmp_path / n) for n in ("s.h5", "p1.h5", "p2.h5", "m.h5"))
    _write(single, [4, 0, 3, 1, 2])  # written out of order, frames 3 + i
    _write(p1, [3, 0])
    _write(p2, [4, 1, 2])
    merge_feature_files([p1, p2], merged)
    for path in (single, merged):
        reader = FeatureReader(path)
        listed = _clips_by_listing(path)
        assert reader.keys() == sorted(listed) == [f"c{i}" for i in range(5)]
        assert {c: reader.shape(c) for c in reader} == {c: (n, 4) for c, n in listed.items()}
        assert all(reader[c].shape == reader.shape(c) for c in reader)
    with h5py.File(single, "r") as a, h5py.File(merged, "r") as b:
        assert a["#index"][()].tobytes() == b["#index"][()].tobytes()


def test_opening_and_reading_never_list_the_files_keys(tmp_path, monkeypatch):
    out = _published(tmp_path, n=4)

    def listing(self, *args):
        raise AssertionError(f"listed the keys of {self.name}")

    for name in ("keys", "__iter__", "items", "values"):
        monkeypatch.setattr(h5py.Group, name, listing)
    reader = FeatureReader(out)
    assert reader.keys() == ["c0", "c1", "c2", "c3"] and len(reader) == 4 and "c2" in reader
    assert reader.shape("c3") == (6, 4)
    np.testing.assert_array_equal(reader["c1"], feats(1) + 5.0)
    merge_feature_files([out], str(tmp_path / "m.h5"))  # the merge reads parts' indexes
    assert FeatureReader(tmp_path / "m.h5").keys() == reader.keys()


def test_a_cache_without_an_index_says_to_rerun_stage_3(tmp_path):
    out = _published(tmp_path)
    with h5py.File(out, "a") as h5:  # what a cache from before the index looks like
        del h5["#index"]
    with pytest.raises(FeatureCacheError, match="no clip index.*re-run stage 3"):
        FeatureReader(out)
    with pytest.raises(FeatureCacheError, match="no clip index"):
        merge_feature_files([out], str(tmp_path / "m.h5"))


def test_a_clip_changed_against_its_index_row_is_refused(tmp_path):
    out = _published(tmp_path)
    with h5py.File(out, "a") as h5:  # same count, other clips: the index no longer fits
        data = h5["c1"][()]
        del h5["c1"], h5["c2"]
        h5["c1"], h5["c9"] = data[:2], data
    reader = FeatureReader(out)
    with pytest.raises(FeatureCacheError, match=r"clip 'c1' has shape \(2, 4\) but its index"):
        reader["c1"]
    with pytest.raises(FeatureCacheError, match="the index lists clip 'c2' but the file does not"):
        reader["c2"]
    with pytest.raises(KeyError, match="'c9'"):
        reader["c9"]


def test_a_clip_id_with_the_index_mark_or_whitespace_is_refused(tmp_path):
    with FeatureWriter(str(tmp_path / "f.h5"), ATTRS) as w:
        for bad in ("#index", "a b", "a\nb", " a", ""):
            with pytest.raises(FeatureCacheError, match="empty or contains '#' or whitespace"):
                w.write(bad, feats(0))


def test_a_kill_inside_finish_leaves_a_resumable_partial(tmp_path):
    out = str(tmp_path / "f.h5")
    w = FeatureWriter(out, ATTRS)
    w.write("a", feats(0))
    w.flush()
    from aac.features.index import write_index

    write_index(w._h5, ["a"], [3])  # the index was written, then the process died
    w._h5.close()
    w._lock.release()
    w = FeatureWriter(out, ATTRS)
    assert w.keys() == ["a"] and len(w) == 1
    w.write("b", feats(1))
    w.finish()
    assert {c: FeatureReader(out).shape(c)[0] for c in ("a", "b")} == {"a": 3, "b": 4}
