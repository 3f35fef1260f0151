"""Seconds of the constant-caption baseline (`aac-score --constant-baseline`) against corpus size.

    OMP_NUM_THREADS=1 tools/venv/bin/python benchmarks/bench_scale.py [--clips 500 2500 5000] [--top N]

For each size N: N validation clips x 5 references and the captions of 10 N training
clips x 5 (a small random grammar, as benchmarks/bench_score.py), every distinct training
caption tried as the constant (`--top` caps them as `aac-score --constant-top` does).
Times the references' index (CiderD) and the search over candidates; the one Java PTB
tokenizer run of aac-score is left out (captions are normalised text already), so the
figure is the part that grew with candidates x references. Prints the CPU, then one line
per size.
Other scale figures: benchmarks/bench_cache.py (feature cache open and reads against
its clip count), benchmarks/bench_stages.py (every stage against corpus size).
"""

from __future__ import annotations

import argparse
import random
import resource
import time

from bench_score import sentence

from aac.metrics.cider import CiderD
from aac.metrics.scoring import constant_candidates
from aac.speed import cpu_name


def run(clips: int, top: int, seed: int = 0) -> dict:
    rng = random.Random(seed)
    refs = [[sentence(rng) for _ in range(5)] for _ in range(clips)]
    train = [sentence(rng) for _ in range(10 * clips * 5)]
    candidates = constant_candidates(train, top)
    start = time.perf_counter()
    cider = CiderD(refs)
    built = time.perf_counter()
    best = max(candidates, key=cider.constant_score)
    done = time.perf_counter()
    return {
        "candidates": len(candidates),
        "index_s": built - start,
        "search_s": done - built,
        "best": best,
    }


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clips", type=int, nargs="+", default=[500, 2500, 5000])
    p.add_argument("--top", type=int, default=0, help="as aac-score --constant-top (0: all)")
    args = p.parse_args(argv)
    print(f"cpu: {cpu_name()}")
    for clips in args.clips:
        r = run(clips, args.top)
        total = r["index_s"] + r["search_s"]
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"clips {clips} x 5 refs, {10 * clips * 5} training captions, "
            f"{r['candidates']} candidates: {total:.1f} s (index {r['index_s']:.1f} s, "
            f"search {r['search_s']:.1f} s, {1e6 * r['search_s'] / r['candidates']:.0f} us "
            f"per candidate), peak RSS {rss:.0f} MiB; best {r['best']!r}"
        )


if __name__ == "__main__":
    main()
