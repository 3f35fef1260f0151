"""BEATs: official key set from cfg, legacy/new weight-norm names, padding, pins."""

import numpy as np
import pytest
import torch

from aac.encoders import build_encoder
from aac.testing import official_token_mask

# A small cfg: the model must follow ckpt["cfg"], not constants.
CFG = dict(
    input_patch_size=16,
    embed_dim=32,
    conv_bias=False,
    encoder_layers=2,
    encoder_embed_dim=48,
    encoder_ffn_embed_dim=64,
    encoder_attention_heads=4,
    activation_fn="gelu",
    layer_norm_first=False,
    deep_norm=True,
    conv_pos=8,
    conv_pos_groups=4,
    relative_position_embedding=True,
    num_buckets=32,
    max_distance=100,
    gru_rel_pos=True,
    finetuned_model=False,
    dropout=0.0,
    layer_wise_gradient_decay_ratio=0.6,
)


def official_beats_keys(cfg, legacy_weight_norm=True):
    """Key -> shape table written from microsoft/unilm beats/BEATs.py and backbone.py."""
    e, d, f, h = (
        cfg["embed_dim"],
        cfg["encoder_embed_dim"],
        cfg["encoder_ffn_embed_dim"],
        cfg["encoder_attention_heads"],
    )
    p, k = cfg["input_patch_size"], cfg["conv_pos"]
    t = {
        "patch_embedding.weight": (e, 1, p, p),
        "layer_norm.weight": (e,),
        "layer_norm.bias": (e,),
        "post_extract_proj.weight": (d, e),
        "post_extract_proj.bias": (d,),
        "encoder.pos_conv.0.bias": (d,),
        "encoder.layer_norm.weight": (d,),
        "encoder.layer_norm.bias": (d,),
    }
    g, v = (
        ("weight_g", "weight_v")
        if legacy_weight_norm
        else ("parametrizations.weight.original0", "parametrizations.weight.original1")
    )
    t[f"encoder.pos_conv.0.{g}"] = (1, 1, k)
    t[f"encoder.pos_conv.0.{v}"] = (d, d // cfg["conv_pos_groups"], k)
    for i in range(cfg["encoder_layers"]):
        a = f"encoder.layers.{i}."
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            t[a + f"self_attn.{proj}.weight"], t[a + f"self_attn.{proj}.bias"] = (d, d), (d,)
        t[a + "self_attn.relative_attention_bias.weight"] = (cfg["num_buckets"], h)
        t[a + "self_attn.grep_linear.weight"], t[a + "self_attn.grep_linear.bias"] = (
            (8, d // h),
            (8,),
        )
        t[a + "self_attn.grep_a"] = (1, h, 1, 1)
        for ln in ("self_attn_layer_norm", "final_layer_norm"):
            t[a + f"{ln}.weight"], t[a + f"{ln}.bias"] = (d,), (d,)
        t[a + "fc1.weight"], t[a + "fc1.bias"] = (f, d), (f,)
        t[a + "fc2.weight"], t[a + "fc2.bias"] = (d, f), (d,)
    if cfg.get("finetuned_model"):
        t["predictor.weight"], t["predictor.bias"] = (527, d), (527,)
    return t


def synthetic_state(table, seed=0):
    g = torch.Generator().manual_seed(seed)
    state = {k: torch.randn(s, generator=g) * 0.1 for k, s in table.items()}
    table_keys = [k for k in state if "relative_attention_bias" in k]
    for k in table_keys[1:]:  # one shared table, stored once per layer
        state[k] = state[table_keys[0]]
    return state


def save(tmp_path, cfg, state, name="beats.pt"):
    path = tmp_path / name
    torch.save({"cfg": cfg, "model": state}, path)
    return str(path)


def wave(seconds, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(int(16000 * seconds), generator=g) * 0.1


@pytest.mark.parametrize("legacy", [True, False])
@pytest.mark.parametrize("finetuned", [False, True])
def test_official_keys_strict_both_ways(tmp_path, legacy, finetuned):
    cfg = dict(CFG, finetuned_model=finetuned)
    table = official_beats_keys(cfg, legacy)
    enc = build_encoder("beats", checkpoint=save(tmp_path, cfg, synthetic_state(table)))
    got = {k: tuple(v.shape) for k, v in enc.state_dict().items()}
    assert got == official_beats_keys(cfg, legacy_weight_norm=True)
    assert enc.output_dim == 48 and enc.frame_rate == 50.0


def test_table_stored_only_in_layer0_accepted(tmp_path):
    table = official_beats_keys(CFG)
    state = synthetic_state(table)
    del state["encoder.layers.1.self_attn.relative_attention_bias.weight"]
    enc = build_encoder("beats", checkpoint=save(tmp_path, CFG, state))
    assert (
        enc.encoder.layers[1].self_attn.relative_attention_bias
        is enc.encoder.layers[0].self_attn.relative_attention_bias
    )


def test_wrong_shape_names_key(tmp_path):
    state = synthetic_state(official_beats_keys(CFG))
    state["encoder.layers.1.fc1.weight"] = torch.zeros(3, 3)
    path = save(tmp_path, CFG, state)
    with pytest.raises(Exception, match=r"beats\.pt.*encoder\.layers\.1\.fc1\.weight.*\(3, 3\)"):
        build_encoder("beats", checkpoint=path)


def test_tokens_order_pool_and_pins(tmp_path):
    path = save(tmp_path, CFG, synthetic_state(official_beats_keys(CFG), seed=5))
    enc = build_encoder("beats", checkpoint=path)
    pooled = build_encoder("beats", checkpoint=path, conf={"freq_pool": True})
    x = wave(1.0, 0)[None]
    with torch.no_grad():
        tokens, n = enc(x)
        steps, m = pooled(x)
    assert tokens.shape == (1, 48, 48) and n.tolist() == [48] and m.tolist() == [6]
    torch.testing.assert_close(steps[0], tokens[0].view(6, 8, 48).mean(1))
    np.testing.assert_allclose(
        [tokens.mean().item(), tokens.std().item(), tokens[0, 0, :4].sum().item()],
        PINNED,
        rtol=1e-3,
        atol=1e-5,
    )


PINNED = [-0.003777, 0.102547, -0.120218]


def test_fbank_float32_under_autocast():
    enc = build_encoder("beats", random_init=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        fb = enc.fbank(wave(0.5, 1)[None])
    assert fb.dtype == torch.float32 and fb.shape == (1, 48, 128)


@pytest.mark.parametrize("padding", ["group", "mask"])
def test_padded_batch_equals_one_at_a_time(tmp_path, padding):
    path = save(tmp_path, CFG, synthetic_state(official_beats_keys(CFG), seed=2))
    enc = build_encoder("beats", checkpoint=path, conf={"padding": padding})
    a, b = wave(1.2, 3), wave(0.75, 4)
    batch = torch.nn.utils.rnn.pad_sequence([a, b], batch_first=True)
    with torch.no_grad():
        feats, lengths = enc(batch, torch.tensor([len(a), len(b)]))
        alone, n = enc(b[None])
    assert lengths[1] == n[0]
    torch.testing.assert_close(feats[1, : n[0]], alone[0], atol=1e-4, rtol=1e-4)
    assert torch.all(feats[1, n[0] :] == 0)


def test_official_mask_half_masks_a_partial_patch():
    """Documents the official padding-mask mapping: tokens treated as a time sequence."""
    n_samples, valid = 16000, 9000
    sample_mask = torch.zeros(1, n_samples, dtype=torch.bool)
    sample_mask[:, valid:] = True
    frames = 1 + (n_samples - 400) // 160  # 98 -> 6 patches -> 48 tokens
    mask = official_token_mask(sample_mask, frames, 48)
    patch = mask[0].view(6, 8)
    assert patch[0].sum() == 0 and patch[-1].all()
    partial = [row for row in patch if 0 < row.sum() < 8]
    assert partial, "a patch straddling the end gets some but not all of its 8 tokens masked"


def test_unknown_padding_is_a_config_error_listing_the_choices():
    from aac.config import ConfigError

    with pytest.raises(ConfigError, match=r"padding must be one of group, mask, got 'pad'"):
        build_encoder("beats", random_init=True, conf={"padding": "pad"})
