"""Time `aac-score` on a Clotho-evaluation-sized set: 1,045 clips x 5 references.

    OMP_NUM_THREADS=1 tools/venv/bin/python benchmarks/bench_score.py [--clips 1045] [--cache-dir DIR]

Captions are synthetic (a small random grammar), so only the timings and the list of
metrics that run are meaningful, not the metric values. Prints one line per figure.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

from aac.bin import score
from aac.datadir import write_kaldi_text

SUBJECTS = [
    "a dog",
    "a man",
    "a woman",
    "birds",
    "a car",
    "rain",
    "water",
    "people",
    "a bell",
    "wind",
]
VERBS = [
    "barks",
    "talks",
    "sings",
    "chirps",
    "passes by",
    "falls",
    "runs",
    "shouts",
    "rings",
    "blows",
]
PLACES = ["in the distance", "nearby", "on a roof", "in a park", "on the street", "indoors", ""]
ADVERBS = ["loudly", "softly", "repeatedly", "quickly", "", ""]


def sentence(rng: random.Random) -> str:
    words = [rng.choice(SUBJECTS), rng.choice(VERBS), rng.choice(ADVERBS), rng.choice(PLACES)]
    if rng.random() < 0.4:
        words += ["while", rng.choice(SUBJECTS), rng.choice(VERBS)]
    return " ".join(w for w in words if w)


def make_set(root: Path, clips: int, seed: int = 0):
    rng = random.Random(seed)
    ids = [f"clip{i:05d}" for i in range(clips)]
    data = root / "data"
    for k in range(1, 6):
        write_kaldi_text(data / f"text_spk{k}", [(c, sentence(rng)) for c in ids])
    write_kaldi_text(root / "hyp", [(c, sentence(rng)) for c in ids])
    write_kaldi_text(
        root / "train_text",
        [(f"t{i:05d}#{k}", sentence(rng)) for i in range(3000) for k in range(1, 6)],
    )
    return data


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clips", type=int, default=1045)
    p.add_argument("--cache-dir", default=None)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = make_set(root, args.clips)
        common = ["--hyp", str(root / "hyp"), "--ref-dir", str(data)]
        common += ["--cache-dir", args.cache_dir] if args.cache_dir else []
        start = time.perf_counter()
        score.main(common + ["--output-dir", str(root / "a")])
        plain = time.perf_counter() - start
        start = time.perf_counter()
        score.main(
            common
            + ["--output-dir", str(root / "b"), "--constant-baseline", str(root / "train_text")]
        )
        with_baseline = time.perf_counter() - start
        result = json.loads((root / "a" / "scores.json").read_text())
    computed = [k for k, v in result.items() if isinstance(v, float)]
    print(f"clips: {args.clips} x 5 references")
    print(f"java: {result['java']}")
    print(f"computed: {' '.join(computed)}")
    print(f"unavailable: {' '.join(result['unavailable'])}")
    print(f"score time: {plain:.1f} s")
    print(f"score + constant baseline time: {with_baseline:.1f} s")


if __name__ == "__main__":
    main()
