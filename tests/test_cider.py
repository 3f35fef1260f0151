"""Our cached CIDEr-D equals aac-metrics' cider_d on the same tokenized input."""

import numpy as np
import pytest

from aac.metrics.cider import CiderD
from aac.metrics.scoring import import_aac_metrics
from aac.testing import cider_sentence_scores

cider_d = import_aac_metrics().functional.cider_d

REFS = [
    ["a dog barks loudly", "a dog is barking at a cat", "dog barking nearby", "the dog barks"],
    ["rain falls on a tin roof", "heavy rain is falling", "rain pours down on a roof"],
    [
        "a siren wails",
        "a police siren wails in the distance",
        "an emergency siren",
        "a siren is wailing",
        "siren wailing loudly as a car passes",
    ],
    ["birds chirp in the trees", "a bird is singing", "birds are chirping and a dog barks"],
]
CANDIDATES = [
    "a dog barks",
    "rain is falling on a roof",
    "a siren wails and a dog barks",
    "birds",
    "",
    "the the the the the the the the the the the the the the",
]


def test_sentence_scores_equal_aac_metrics():
    ours = cider_sentence_scores(CiderD(REFS), CANDIDATES[:4])
    _, sents = cider_d(CANDIDATES[:4], REFS)
    assert np.allclose(ours, sents["cider_d"].numpy(), atol=1e-6, rtol=0)
    assert ours.max() > 1.0  # a test where everything is 0 would prove nothing


@pytest.mark.parametrize("candidate", CANDIDATES)
def test_constant_score_equals_aac_metrics_corpus_score(candidate):
    corpus, _ = cider_d([candidate] * len(REFS), REFS)
    assert CiderD(REFS).constant_score(candidate) == pytest.approx(
        float(corpus["cider_d"]), abs=1e-6
    )


def test_one_clip_is_refused():
    with pytest.raises(ValueError, match="at least 2"):
        CiderD(REFS[:1])


def random_corpus(rng, clips, vocab=12, max_words=12):
    """Clips of 1..5 references drawn from a small vocabulary (repeated n-grams, varied
    lengths and counts, some empty references)."""
    words = [f"w{i}" for i in range(vocab)]

    def sentence():
        return " ".join(rng.choice(words, size=rng.integers(0, max_words)))

    return [[sentence() for _ in range(rng.integers(1, 6))] for _ in range(clips)], sentence


def straightforward_constant(cider, candidate):
    """Mean over clips of the per-reference pair scores: the formula read off directly."""
    per_clip = cider_sentence_scores(cider, [candidate] * len(cider.mult_refs))
    return float(per_clip.mean())


def test_grouped_constant_score_equals_the_straightforward_sum():
    rng = np.random.default_rng(0)
    refs, sentence = random_corpus(rng, clips=40)
    cider = CiderD(refs)
    cands = [sentence() for _ in range(60)] + [refs[3][0], "w1 w1 w1 w1 w1", "", "unseen words"]
    fast = np.array([cider.constant_score(c) for c in cands])
    slow = np.array([straightforward_constant(cider, c) for c in cands])
    assert np.allclose(fast, slow, rtol=1e-9, atol=1e-12)
    assert (fast > 0.1).sum() > 30  # most candidates share n-grams with the references
    corpus, _ = cider_d(cands[:5] * 8, refs)  # the order of clips does not matter here
    ours = cider_sentence_scores(CiderD(refs), cands[:5] * 8).mean()
    assert ours == pytest.approx(float(corpus["cider_d"]), abs=1e-6)


def test_constant_score_touches_only_matching_references():
    """A candidate sharing no n-gram with 10,000 references costs no array over them
    (before: five (R, 4) float64 arrays per candidate, 320 kB each here)."""
    import tracemalloc

    refs = [[f"word{c} and more{k}" for k in range(5)] for c in range(2000)]
    cider = CiderD(refs)
    cider.constant_score("warm up")
    tracemalloc.start()
    try:
        score = cider.constant_score("word7 barks")  # matches clip 7's five references
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert score > 0
    assert peak < 64_000
