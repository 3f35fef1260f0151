"""Retrieval R@k / mAP@10 and tagging AP checked against figures worked out by hand."""

import math

import numpy as np
import pytest

from aac.pretrain.metrics import (
    average_precision,
    ranks_of,
    recall_map,
    retrieval_metrics,
    tagging_map,
)


def test_text_to_audio_ranks_and_metrics_by_hand():
    # 4 captions query 3 clips; caption c belongs to clip owner[c]
    sim = np.array(
        [
            [0.9, 0.1, 0.2],  # clip 0 first: rank 1
            [0.5, 0.4, 0.6],  # own clip 1 scores below 0 and 2: rank 3
            [0.3, 0.2, 0.1],  # own clip 2 last: rank 3
            [0.0, 0.8, 0.7],
        ]
    )  # own clip 2 below clip 1: rank 2
    owner = [0, 1, 2, 2]
    m = retrieval_metrics(sim, owner)
    t2a = m["t2a"]
    assert t2a["R@1"] == pytest.approx(1 / 4)
    assert t2a["R@5"] == pytest.approx(1.0) and t2a["R@10"] == pytest.approx(1.0)
    assert t2a["mAP@10"] == pytest.approx((1 + 1 / 3 + 1 / 3 + 1 / 2) / 4)
    # audio-to-text: clip 0's only caption 0 is first in column 0 (rank 1); clip 1's
    # caption 1 (0.4) is beaten by caption 3 (0.8): rank 2; clip 2's best own caption is
    # 3 (0.7), beaten by nothing else (caption 1 scores 0.6): rank 1
    a2t = m["a2t"]
    assert a2t["R@1"] == pytest.approx(2 / 3)
    assert a2t["mAP@10"] == pytest.approx((1 + 1 / 2 + 1) / 3)
    assert m["num_clips"] == 3 and m["num_captions"] == 4


def test_map_at_10_ignores_ranks_past_10_and_ties_count_against_the_query():
    ranks = np.array([1, 4, 10, 11, 50])
    m = recall_map(ranks)
    assert m["R@1"] == pytest.approx(0.2) and m["R@5"] == pytest.approx(0.4)
    assert m["R@10"] == pytest.approx(0.6)
    assert m["mAP@10"] == pytest.approx((1 + 1 / 4 + 1 / 10) / 5)
    # all scores equal: the relevant item ranks last, not first
    flat = np.zeros((2, 5))
    relevant = np.eye(2, 5, dtype=bool)
    assert ranks_of(flat, relevant).tolist() == [5, 5]


def test_average_precision_by_hand():
    # ranked: 0.9 (+), 0.8 (-), 0.7 (+), 0.1 (-): AP = (1/1 + 2/3) / 2
    scores = np.array([0.1, 0.9, 0.7, 0.8])
    targets = np.array([0, 1, 1, 0])
    assert average_precision(scores, targets) == pytest.approx((1 + 2 / 3) / 2)
    # a tie between a positive and a negative at the top: precision 1/2 at recall 1
    assert average_precision(np.array([0.5, 0.5]), np.array([1, 0])) == pytest.approx(0.5)
    assert math.isnan(average_precision(scores, np.zeros(4)))


def test_tagging_map_is_the_macro_average_over_classes_with_positives():
    scores = np.array([[0.9, 0.2, 0.5], [0.1, 0.8, 0.4], [0.6, 0.3, 0.3]])
    targets = np.array([[1, 0, 0], [0, 0, 0], [0, 1, 0]])
    # class 0: positive ranked first -> AP 1; class 1: its positive (0.3) ranks second
    # behind 0.8 -> AP 1/2; class 2: no positive, left out
    m = tagging_map(scores, targets)
    assert m["mAP"] == pytest.approx(0.75)
    assert m["num_classes_scored"] == 2 and m["num_classes_without_positives"] == 1
