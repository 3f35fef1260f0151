import torch

from aac.model import CaptionModel, ModelConf, beam_shared_attention

PAD, BOS, EOS = 1, 0, 2


def tiny_model(seed=0, **kw):
    torch.manual_seed(seed)
    conf = ModelConf(
        d_model=16,
        decoder_layers=1,
        decoder_attention_heads=2,
        decoder_ffn_dim=32,
        dropout=0.0,
        attention_dropout=0.0,
        max_target_length=8,
        **kw,
    )
    return CaptionModel(6, 20, conf, PAD, BOS, EOS)


def batch():
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(2, 5, 6, generator=g)  # (B, T, D)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], dtype=torch.bool)
    labels = torch.tensor([[5, 6, 7, EOS], [8, EOS, PAD, PAD]])
    return feats, mask, labels


def test_bart_has_no_encoder_layers_and_projects():
    model = tiny_model()
    assert model.bart.config.encoder_layers == 0
    assert model.proj.in_features == 6 and model.proj.out_features == 16


def test_loss_ignores_pad_and_padded_frames():
    model = tiny_model().eval()
    feats, mask, labels = batch()
    loss = model(feats, mask, labels)
    nll, count = model(feats, mask, labels, reduce=False)
    assert int(count) == 6 and torch.isclose(loss, nll / 6)
    # garbage in padded frames must not change anything
    noisy = feats.clone()
    noisy[1, 3:] = 1e3
    assert torch.allclose(model(noisy, mask, labels), loss, atol=1e-6)
    # loss of the short caption equals its loss alone (pad positions ignored)
    alone = model(feats[1:, :3], mask[1:, :3], labels[1:, :2], reduce=False)
    both_2nd = (
        model(feats, mask, labels, reduce=False)[0]
        - model(feats[:1], mask[:1], labels[:1], reduce=False)[0]
    )
    assert torch.allclose(alone[0], both_2nd, atol=1e-4)


def test_training_reduces_loss_and_label_smoothing_raises_it():
    model = tiny_model()
    feats, mask, labels = batch()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = model(feats, mask, labels).item()
    for _ in range(30):
        opt.zero_grad()
        model(feats, mask, labels).backward()
        opt.step()
    assert model(feats, mask, labels).item() < 0.3 * first
    smooth = tiny_model(label_smoothing=0.1)
    smooth.load_state_dict(model.state_dict())
    assert smooth(feats, mask, labels).item() > model(feats, mask, labels).item()
    with beam_shared_attention(model.bart):
        out = model.bart.generate(**model.generation_inputs(feats, mask, num_beams=4))
    assert out[0, 0] == BOS and out.shape[1] <= 9
    assert out[0, 1:5].tolist() == [5, 6, 7, EOS] and out[1, 1:3].tolist() == [8, EOS]


def test_unused_encoder_parameters_frozen():
    model = tiny_model()
    enc = model.bart.model.encoder
    assert not enc.embed_positions.weight.requires_grad
    assert model.bart.model.shared.weight.requires_grad


def test_audio_positions_make_the_model_order_sensitive():
    feats, _, _ = batch()
    mask = torch.ones(2, 5, dtype=torch.bool)

    def order_blind(model):
        # cross-attention is blind to frame order when reversing the frames only reverses
        # the memory it attends to; positions are what let "then" be learnt
        fwd = model.encode(feats, mask).last_hidden_state
        rev = model.encode(feats.flip(1), mask).last_hidden_state
        return torch.allclose(fwd, rev.flip(1), atol=1e-6)

    assert order_blind(tiny_model(audio_positions="none").eval())
    assert not order_blind(tiny_model(audio_positions="sinusoidal").eval())
