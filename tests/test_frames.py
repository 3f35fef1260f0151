import numpy as np
import pytest
import torch

from aac.frames import stride_frames


@pytest.mark.parametrize("k", [1, 2, 4, 8])
def test_stride_keeps_every_kth_frame(k):
    feats = torch.arange(2 * 9 * 3, dtype=torch.float).view(2, 9, 3)
    out, lengths = stride_frames(feats, torch.tensor([9, 5]), k)
    assert torch.equal(out, feats[:, ::k])
    assert lengths.tolist() == [-(-9 // k), -(-5 // k)]


def test_stride_on_numpy_without_lengths():
    frames = np.arange(10 * 2, dtype=np.float32).reshape(1, 10, 2)
    out, lengths = stride_frames(frames, None, 4)
    assert lengths is None and np.array_equal(out[0], frames[0, [0, 4, 8]])


def test_stride_rejects_other_factors():
    with pytest.raises(ValueError, match="1, 2, 4, 8"):
        stride_frames(torch.zeros(1, 4, 2), torch.tensor([4]), 3)
