"""HDF5 feature cache: atomic writer, resume, streaming reader, merge."""

import os
import pickle

import h5py
import numpy as np
import pytest

from aac.features import FeatureCacheError, FeatureReader, FeatureWriter, merge_feature_files

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
    assert FeatureReader(merged).attrs == dict(FeatureReader(single).attrs, num_skipped=0, num_padded=0)


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
