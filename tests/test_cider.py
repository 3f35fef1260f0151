"""Our cached CIDEr-D equals aac-metrics' cider_d on the same tokenized input."""

import numpy as np
import pytest

from aac.metrics.cider import CiderD
from aac.metrics.scoring import import_aac_metrics

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
    ours = CiderD(REFS).sentence_scores(CANDIDATES[:4])
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
