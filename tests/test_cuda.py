"""On a CUDA device: beam search with shared cross-attention gives HF's default tokens, and
an AMP training step of the caption model is finite (benchmarks/gpu_check.py runs these)."""

import pytest
import torch
from test_model_beam_search import (
    default_beam_search,
    padded_clips,
    random_model,
    shared_beam_search,
)

from aac.model import CaptionModel

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def test_shared_cross_attention_gives_the_default_tokens_on_cuda():
    feats, mask = (t.cuda() for t in padded_clips())
    model = random_model().cuda()
    ours = shared_beam_search(model, feats, mask)
    assert torch.equal(ours, default_beam_search(model, feats, mask))
    assert len({tuple(row.tolist()) for row in ours}) == 3


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_amp_training_step_is_finite(dtype):
    from caption_fixtures import tiny_decoder

    torch.manual_seed(0)
    model = CaptionModel(8, 30, tiny_decoder(), 1, 0, 2).cuda()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler("cuda", enabled=dtype == torch.float16)
    feats = torch.randn(4, 12, 8, device="cuda")
    mask = torch.ones(4, 12, dtype=torch.bool, device="cuda")
    labels = torch.randint(3, 30, (4, 6), device="cuda")
    losses = []
    for _ in range(5):
        opt.zero_grad()
        with torch.autocast("cuda", dtype=dtype):
            loss = model(feats, mask, labels)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        losses.append(loss.item())
    assert all(torch.isfinite(torch.tensor(losses))) and losses[-1] < losses[0]
