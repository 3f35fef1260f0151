"""BEATs frames equal those of an independent port of the official code.

The reference is SpeechBrain's `speechbrain/lobes/models/beats.py`, a port of
microsoft/unilm `beats/BEATs.py` + `backbone.py` (a test-only pin in
tools/requirements.txt; the tests skip without it). The reference model is built from a
small cfg with the structure of BEATs_iter3 (16x16 patch conv, deep norm, gated relative
position bias shared by all layers), given seeded random weights, saved as an official
`{"cfg": ..., "model": ...}` checkpoint and loaded into ours with strict key checks.
Run with `-s` to see the measured differences.
"""

import pytest
import torch

from aac.encoders import CheckpointError, build_encoder
from aac.testing import official_token_mask

ref_beats = pytest.importorskip(
    "speechbrain.lobes.models.beats",
    reason="speechbrain (test-only BEATs reference, see tools/requirements.txt) is not installed",
)

# BEATs_iter3 structure, small sizes. Training-only keys as in the released cfg.
ITER3_LIKE = dict(
    input_patch_size=16,
    embed_dim=32,
    conv_bias=False,
    encoder_layers=3,
    encoder_embed_dim=48,
    encoder_ffn_embed_dim=96,
    encoder_attention_heads=4,
    activation_fn="gelu",
    layer_norm_first=False,
    deep_norm=True,
    conv_pos=16,
    conv_pos_groups=4,
    relative_position_embedding=True,
    num_buckets=320,
    max_distance=800,
    gru_rel_pos=True,
    finetuned_model=False,
    dropout=0.0,
    attention_dropout=0.0,
    activation_dropout=0.0,
    encoder_layerdrop=0.05,
    layer_wise_gradient_decay_ratio=0.6,
)
CFGS = {
    "iter3_like": ITER3_LIKE,
    "finetuned": dict(ITER3_LIKE, finetuned_model=True, predictor_class=7),
    # The other branches the cfg selects: pre-norm, no relative bias, no post_extract_proj,
    # conv bias, odd positional kernel, ReLU.
    "pre_norm": dict(
        ITER3_LIKE,
        layer_norm_first=True,
        deep_norm=False,
        relative_position_embedding=False,
        gru_rel_pos=False,
        embed_dim=48,
        conv_bias=True,
        conv_pos=9,
        activation_fn="relu",
    ),
}
# The README's bound, relative to the largest reference output. Measured (AMD EPYC, 1
# thread): 1.4e-6 to 2.4e-6 absolute at outputs of 2.6 to 3.9, at most 9.4e-7 relative
# (the padded batch's 1.23 s clip).
REL_TOL = 3e-6


def reference_model(cfg, seed=0):
    """The reference BEATs for `cfg` with seeded random weights, in eval mode.

    The port takes its cfg only from a checkpoint file, so its config class is swapped for
    the one call that builds the model before any checkpoint exists.
    """
    full_config = ref_beats.BEATsConfig
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ref_beats, "BEATsConfig", lambda _cfg=None: full_config(cfg))
        ref = ref_beats.BEATs(ckp_path=None, freeze=True)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # the shared position table is written once per layer: harmless
        for key, value in ref.state_dict().items():
            centre = 1.0 if "norm" in key and key.endswith(".weight") else 0.0
            value.copy_(centre + 0.2 * torch.randn(value.shape, generator=g))
    return ref.eval()


def save_official(path, cfg, ref, legacy_weight_norm):
    """Write `{"cfg", "model"}`; the official code names the weight-normed conv weight_g/_v."""
    state = ref.state_dict()
    if legacy_weight_norm:
        state = {
            k.replace("parametrizations.weight.original0", "weight_g").replace(
                "parametrizations.weight.original1", "weight_v"
            ): v
            for k, v in state.items()
        }
    torch.save({"cfg": cfg, "model": state}, path)
    return str(path)


def reference_frames(ref, wave):
    """(N,) -> (8 T', C) from the reference, one clip, no padding."""
    with torch.no_grad():
        # wav_lens is required by the port (relative lengths); 1.0 means no padding.
        x = ref.extract_features(wave[None], torch.ones(1))[0][0]
        if ref.cfg.layer_norm_first:
            # The official TransformerEncoder.forward ends with its LayerNorm in pre-norm
            # mode; the port (1.1.2) applies it only when returning all hidden states.
            x = ref.encoder.layer_norm(x)
    return x


def fixed_waves(seconds, seed=1):
    g = torch.Generator().manual_seed(seed)
    return [0.1 * torch.randn(int(16000 * s), generator=g) for s in seconds]


@pytest.mark.parametrize("legacy", [True, False], ids=["weight_g_v", "parametrizations"])
@pytest.mark.parametrize("name", list(CFGS))
def test_single_clip_matches_reference(tmp_path, name, legacy):
    cfg = CFGS[name]
    path = save_official(tmp_path / "beats.pt", cfg, reference_model(cfg), legacy)
    ref = ref_beats.BEATs(ckp_path=path)  # the reference reads the same file back
    enc = build_encoder("beats", checkpoint=path)
    (wave,) = fixed_waves([10.0])
    expected = reference_frames(ref, wave)  # (496, 48)
    with torch.no_grad():
        got, lengths = enc(wave[None])
    diff, scale = (got[0] - expected).abs().max().item(), expected.abs().max().item()
    print(
        f"beats {name} ({'weight_g/v' if legacy else 'parametrizations'}): max abs diff "
        f"{diff:.3g} vs reference (scale {scale:.3g})"
    )
    assert got.shape == (1, 496, 48) and lengths.tolist() == [496] == [expected.shape[0]]
    assert diff <= REL_TOL * scale


@pytest.mark.parametrize("padding", ["group", "mask"])
def test_padded_batch_matches_reference_clip_by_clip(tmp_path, padding):
    """A padded batch equals the reference run on each clip alone (the exact answer).

    1.23 s ends inside a 16-frame patch, so the partial-patch handling is exercised.
    """
    ref = reference_model(ITER3_LIKE, seed=2)
    path = save_official(tmp_path / "beats.pt", ITER3_LIKE, ref, legacy_weight_norm=True)
    enc = build_encoder("beats", checkpoint=path, conf={"padding": padding})
    waves = fixed_waves([2.0, 1.23], seed=3)
    batch = torch.nn.utils.rnn.pad_sequence(waves, batch_first=True)  # (2, 32000)
    with torch.no_grad():
        got, lengths = enc(batch, torch.tensor([len(w) for w in waves]))
    for i, wave in enumerate(waves):
        expected = reference_frames(ref, wave)
        n = int(lengths[i])
        diff, scale = (got[i, :n] - expected).abs().max().item(), expected.abs().max().item()
        print(
            f"beats padded batch ({padding}) clip {i}: {n} tokens, max abs diff {diff:.3g} "
            f"(scale {scale:.3g})"
        )
        assert n == expected.shape[0] and diff <= REL_TOL * scale
        assert torch.all(got[i, n:] == 0)


def test_official_token_mask_matches_reference():
    """`official_token_mask` documents the official padding-mask mapping: check it."""
    ref = reference_model(ITER3_LIKE)
    n_samples = 32000
    sample_mask = torch.zeros(2, n_samples, dtype=torch.bool)
    sample_mask[1, 19680:] = True  # clip 1 is 1.23 s
    frames = 1 + (n_samples - 400) // 160  # 198 fbank frames -> 12 patches -> 96 tokens
    mask = ref.forward_padding_mask(torch.empty(2, frames, 128), sample_mask)
    mask = ref.forward_padding_mask(torch.empty(2, 96, 48), mask)
    assert torch.equal(official_token_mask(sample_mask, frames, 96), mask)


@pytest.mark.parametrize(
    "change,match",
    [
        (dict(activation_fn="glu"), "activation_fn='glu'"),
        (dict(layer_norm_first=True), "deep_norm and layer_norm_first"),
    ],
)
def test_cfg_we_cannot_follow_is_refused(tmp_path, change, match):
    """cfg values the reference would honour must not be silently run another way."""
    ref = reference_model(ITER3_LIKE)
    path = save_official(tmp_path / "beats.pt", dict(ITER3_LIKE, **change), ref, True)
    with pytest.raises(CheckpointError, match=match):
        build_encoder("beats", checkpoint=path)
