"""Symmetric InfoNCE against its formula written out on a 3x3 example."""

import math

import torch

from aac.pretrain.losses import gather_with_grad, info_nce


def test_info_nce_equals_the_direct_formula_on_3x3():
    audio = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 2.0]])
    text = torch.tensor([[0.8, 0.6], [0.0, 1.0], [-1.0, 0.0]])
    tau = 0.5
    a = [[x / math.hypot(*v) for x in v] for v in audio.tolist()]
    t = [[x / math.hypot(*v) for x in v] for v in text.tolist()]
    s = [[(ai[0] * tj[0] + ai[1] * tj[1]) / tau for tj in t] for ai in a]
    rows = [-(s[i][i] - math.log(sum(math.exp(x) for x in s[i]))) for i in range(3)]
    cols = [-(s[j][j] - math.log(sum(math.exp(s[i][j]) for i in range(3)))) for j in range(3)]
    expected = 0.5 * (sum(rows) / 3 + sum(cols) / 3)
    assert abs(float(info_nce(audio, text, tau)) - expected) < 1e-6


def test_info_nce_rewards_aligned_pairs_and_learns_through_tau():
    x = torch.eye(3)
    low = info_nce(x, x, 0.1)
    assert float(low) < float(info_nce(x, x.flip(0), 0.1))
    tau = torch.tensor(0.5, requires_grad=True)
    info_nce(x, x, tau).backward()
    assert tau.grad is not None and float(tau.grad) > 0  # a sharper tau lowers the loss here
    assert gather_with_grad(x, enabled=False) is x
