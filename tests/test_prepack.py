"""aac.prepack: oneDNN-packed Linear layers equal nn.Linear, round-trip, and serve captioning."""

import copy

import numpy as np
import pytest
import torch
from caption_fixtures import tiny_decoder
from torch import nn

from aac import Captioner
from aac.prepack import (
    PrepackedLinear,
    packable_dtypes,
    prepack_linears,
    prepack_supported,
    unprepack_linears,
)
from aac.speed import decoder_weights_per_step
from aac.testing import make_random_exp_dir

pytestmark = pytest.mark.skipif(not prepack_supported(), reason="torch without oneDNN")
BF16 = torch.bfloat16 in packable_dtypes()


def stack(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(48, 96), nn.GELU(), nn.Linear(96, 24, bias=False)).eval()


@pytest.mark.parametrize("rows", [(1, 48), (4, 48), (2, 7, 48), (300, 48)])
def test_packed_linear_equals_linear(rows):
    ref = stack()
    packed = prepack_linears(copy.deepcopy(ref))
    assert packed == 2
    model = copy.deepcopy(ref)
    prepack_linears(model)
    assert all(type(m) is not nn.Linear for m in model.modules())
    x = torch.randn(*rows)
    with torch.inference_mode():
        want, got = ref(x), model(x)
    assert got.shape == want.shape
    # another summation order: fp32 rounding only, far below a trained model's logit gaps
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_bf16_weights_pack_as_bf16_where_the_cpu_has_the_bf16_path():
    ref = stack().to(torch.bfloat16)
    model = copy.deepcopy(ref)
    assert prepack_linears(model) == (2 if BF16 else 0)  # else torch's default path runs
    if not BF16:
        assert all(type(m) is nn.Linear for m in (model[0], model[2]))
        return
    x = torch.randn(4, 48)
    with torch.inference_mode():
        got = model(x)  # fp32 input cast to the weights' dtype, as autocast would
        want = ref(x.to(torch.bfloat16))
    assert got.dtype == torch.bfloat16
    torch.testing.assert_close(got.float(), want.float(), rtol=2e-2, atol=2e-2)


def test_round_trip_state_dict_and_deepcopy_keep_the_weights():
    ref = stack()
    model = copy.deepcopy(ref)
    prepack_linears(model)
    assert model.state_dict().keys() == ref.state_dict().keys()
    for key, value in ref.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    twin = copy.deepcopy(model)  # packed tensors are opaque: the copy repacks dense weights
    assert isinstance(twin[0], PrepackedLinear)
    unprepack_linears(twin)
    assert [type(m) for m in twin] == [type(m) for m in ref]
    for key, value in ref.state_dict().items():
        assert torch.equal(twin.state_dict()[key], value), key


def test_training_modules_and_gradients_are_refused():
    model = stack().train()
    assert prepack_linears(model) == 0  # a module being trained is never packed
    model.eval()
    prepack_linears(model)
    x = torch.randn(2, 48, requires_grad=True)
    with pytest.raises(RuntimeError, match="inference"):
        model(x)


def test_quantised_linears_are_left_alone():
    from torch.ao.quantization import quantize_dynamic

    model = quantize_dynamic(stack(), {nn.Linear}, torch.qint8)
    assert prepack_linears(model) == 0


@pytest.fixture(scope="module")
def exp(tmp_path_factory):
    torch.set_num_threads(1)
    conf = tiny_decoder(d_model=32, layers=2, max_length=10)
    return make_random_exp_dir(tmp_path_factory.mktemp("exp"), model_conf=conf, seed=3)


def waves(n=4, rate=16000):
    rng = np.random.default_rng(1)
    return [
        rng.normal(0, 0.1 + 0.2 * i, int(rate * (0.5 + 0.3 * i))).astype(np.float32)
        for i in range(n)
    ]


def test_captioner_packs_at_first_use_and_captions_as_unpacked(exp):
    packed = Captioner.from_pretrained(exp)
    plain = packed.variant(prepack=False)
    clips = waves()
    got = packed.caption_waves(clips)
    assert any(isinstance(m, PrepackedLinear) for m in packed.loaded.model.modules())
    assert not any(isinstance(m, PrepackedLinear) for m in plain.loaded.model.modules())
    assert got == plain.caption_waves(clips)
    assert len(set(got)) >= 2, "captions should depend on the clip for this test to bite"
    # the decoder's weight count reads the same packed or not (aac-benchmark's floor)
    assert decoder_weights_per_step(packed.loaded.model) == decoder_weights_per_step(
        plain.loaded.model
    )


def test_dtype_and_quantised_variants_of_a_packed_captioner(exp):
    packed = Captioner.from_pretrained(exp)
    packed.caption_waves(waves(1))  # packs
    bf16 = packed.variant(dtype="bfloat16")
    bf16.caption_waves(waves(1))
    linears = [m for m in bf16.loaded.model.modules() if isinstance(m, PrepackedLinear)]
    assert all(m.dtype == torch.bfloat16 for m in linears)
    assert bool(linears) == BF16
    int8 = packed.variant(quantize="int8")
    int8.caption_waves(waves(1))
    kinds = {type(m).__name__ for m in int8.loaded.model.modules()}
    assert "PrepackedLinear" not in kinds and "Linear" in kinds  # torch.ao's dynamic Linear
    assert all(type(m) is not nn.Linear for m in int8.loaded.model.modules())
