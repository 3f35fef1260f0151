"""Caption metrics (aac-metrics 0.6.0 wrapper), their offline assets, and results tables.

from aac.metrics import score_captions
scores = score_captions(["a dog barks"] * 2, [["a dog is barking"], ["rain falls"]])
scores.corpus["cider_d"], scores.unavailable
"""

from aac.metrics.scoring import (  # noqa: F401
    ALL_METRICS,
    HypothesisError,
    Scores,
    constant_baseline,
    constant_candidates,
    read_hypotheses,
    score_captions,
)
