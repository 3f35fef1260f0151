"""Open time and random clip reads of an HDF5 feature cache against its number of clips.

    OMP_NUM_THREADS=2 tools/venv/bin/python benchmarks/bench_cache.py [--clips 500 25000]

For each size N a cache of N clips (FRAMES x DIM float16 each, as a 1 s BEATs-like clip
after stride) is written through `FeatureWriter` (flushed every 64 clips, as extraction
flushes every batch), then timed: opening it with `FeatureReader` (best of 5), listing
and sorting the file's keys as readers did before the clip index (best of 5, the same
file, so both figures share the machine's load), and reading `--reads` clips in random
order (checksum, shape and finiteness checks included, as training reads them). Prints
the CPU, then one line per size.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

from aac.features import FeatureReader, FeatureWriter
from aac.speed import cpu_name

FRAMES, DIM = 32, 64


def make_cache(path: Path, clips: int, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    ids = [f"clip{i:07d}" for i in range(clips)]
    with FeatureWriter(path, {"encoder": "bench", "frame_rate": 25.0, "dim": DIM}) as w:
        for start in range(0, clips, 64):
            for clip_id in ids[start : start + 64]:
                frames = int(rng.integers(FRAMES // 2, FRAMES + 1))
                w.write(clip_id, rng.standard_normal((frames, DIM)).astype(np.float16))
            w.flush()
        w.finish()
    return ids


def run(clips: int, reads: int, workdir: Path) -> dict:
    path = workdir / f"feats_{clips}.h5"
    start = time.perf_counter()
    ids = make_cache(path, clips)
    write_s = time.perf_counter() - start
    opens, listings = [], []
    for _ in range(5):
        start = time.perf_counter()
        reader = FeatureReader(path)
        opens.append(time.perf_counter() - start)
        start = time.perf_counter()
        with h5py.File(path, "r") as h5:
            set(sorted(h5.keys()))
        listings.append(time.perf_counter() - start)
    order = random.Random(0).choices(ids, k=reads)
    reader[order[0]]  # the first read opens the file
    start = time.perf_counter()
    for clip_id in order:
        reader[clip_id]
    read_s = time.perf_counter() - start
    reader.close()
    path.unlink()
    return {
        "write_s": write_s,
        "open_s": min(opens),
        "listing_s": min(listings),
        "read_ms": 1e3 * read_s / reads,
    }


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clips", type=int, nargs="+", default=[500, 25000])
    p.add_argument("--reads", type=int, default=5000, help="random clip reads per size")
    args = p.parse_args(argv)
    print(f"cpu: {cpu_name()}")
    with tempfile.TemporaryDirectory() as tmp:
        for clips in args.clips:
            r = run(clips, args.reads, Path(tmp))
            print(
                f"clips {clips}: write {r['write_s']:.1f} s, open {r['open_s'] * 1e3:.1f} ms "
                f"(listing the keys: {r['listing_s'] * 1e3:.1f} ms), "
                f"random read {r['read_ms']:.3f} ms per clip ({args.reads} reads)"
            )


if __name__ == "__main__":
    main()
