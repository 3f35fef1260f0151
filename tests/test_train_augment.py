"""Training levers of CaptionTask: masking (training only), the InfoNCE text-embedding
loss, mix-up items (aac.train.augment, aac.train.trainer, aac.dataset)."""

import math

import numpy as np
import torch
from caption_fixtures import make_experiment_inputs
from test_adapters import build

from aac.dataset import CaptionDataset, GlobalBatchSampler, collate_captions, mix_frames
from aac.expconf import SpecAugmentConf, TrainConf
from aac.feature_info import open_features
from aac.tokenizer import CaptionTokenizer
from aac.train.augment import spec_augment
from aac.train.trainer import CaptionTask


def test_spec_augment_zeroes_spans_within_the_widths_and_real_frames():
    torch.manual_seed(0)
    feats = torch.rand(4, 20, 10) + 1.0  # never 0 by itself
    mask = torch.ones(4, 20, dtype=torch.bool)
    mask[1, 12:] = False
    feats[1, 12:] = 0.0  # padding
    conf = SpecAugmentConf(time_masks=1, time_width=5, channel_masks=1, channel_width=3)
    out = spec_augment(feats, mask, conf)
    assert out.shape == feats.shape and not torch.equal(out, feats)
    zero = out == 0
    for i in range(4):
        real = zero[i, : int(mask[i].sum())]  # (T_i, D)
        whole_frames = real.all(dim=1).sum()  # time masks zero every channel of a frame
        whole_channels = real.all(dim=0).sum()  # channel masks zero every frame
        assert whole_frames <= 5 and whole_channels <= 3
        # every zero is inside a masked frame or a masked channel, nothing else changed
        explained = real.all(dim=1, keepdim=True) | real.all(dim=0, keepdim=True)
        assert torch.equal(real, explained & real)
        kept = ~zero[i]
        assert torch.equal(out[i][kept], feats[i][kept])
    assert spec_augment(feats, mask, SpecAugmentConf()) is feats  # off: untouched


def caption_task(tmp_path, text_table=None, **conf_keys):
    paths = make_experiment_inputs(tmp_path, n_train=6, n_valid=3)
    tok = CaptionTokenizer(str(paths["tokenizer"]))
    conf = TrainConf()
    for block, values in conf_keys.items():
        for k, v in values.items():
            setattr(getattr(conf, block), k, v)
    pairs = [
        (c, f"caption {i}")
        for i, c in enumerate(sorted(open_features(paths["train_feats"]).keys()))
    ]
    train = CaptionDataset(pairs, paths["train_feats"], tok, 12)
    valid = CaptionDataset(pairs[:3], paths["train_feats"], tok, 12)
    sampler = GlobalBatchSampler(len(train), 4, 0)
    refs = {c: [cap] for c, cap in pairs[:3]}
    conf.valid.metric = "loss"
    task = CaptionTask(conf, train, sampler, valid, refs, tok, text_table)
    return task, tok, paths


class Spy(torch.nn.Module):
    """Records the frames the task hands the model; NLL 0 from one parameter."""

    def __init__(self):
        super().__init__()
        self.w, self.seen = torch.nn.Parameter(torch.zeros(())), []

    def forward(self, feats, mask, labels, reduce=True, embed=False):
        self.seen.append(feats.clone())
        return self.w * feats.sum(), torch.tensor(1.0)


def test_masking_reaches_training_batches_only(tmp_path):
    masks = {"time_masks": 2, "time_width": 3, "channel_masks": 2, "channel_width": 2}
    task, _, _ = caption_task(tmp_path, spec_augment=masks)
    spy = Spy()
    b = next(iter(torch.utils.data.DataLoader(task.train_set, 4, collate_fn=task.collate_fn)))
    torch.manual_seed(0)
    task.loss(spy, spy, b, 1)
    assert (spy.seen[0] == 0).sum() > (b["feats"] == 0).sum()  # training: masked
    spy.seen.clear()
    task.validate(spy)
    loader = torch.utils.data.DataLoader(task.valid_set, 32, collate_fn=task.collate_fn)
    assert torch.equal(spy.seen[0], next(iter(loader))["feats"])  # validation: as cached


def hand_info_nce(a, t, tau):
    """Symmetric InfoNCE written out: rows (audio->text) and columns (text->audio)."""

    def unit(rows):
        return [[v / math.sqrt(sum(u * u for u in x)) for v in x] for x in rows.tolist()]

    a, t = unit(a), unit(t)
    n = len(a)
    s = [[sum(p * q for p, q in zip(a[i], t[j])) / tau for j in range(n)] for i in range(n)]
    rows = sum(-s[i][i] + math.log(sum(math.exp(v) for v in s[i])) for i in range(n)) / n
    cols = sum(-s[j][j] + math.log(sum(math.exp(s[i][j]) for i in range(n))) for j in range(n)) / n
    return 0.5 * (rows + cols)


def test_text_embedding_loss_is_info_nce_and_trains_the_head(tmp_path):
    table = torch.nn.functional.normalize(
        torch.randn(6, 12, generator=torch.Generator().manual_seed(1)), dim=-1
    )
    te = {"weight": 0.5, "temperature": 0.1}
    task, tok, _ = caption_task(tmp_path, text_table=table, text_embedding=te)
    model = build(vocab=tok.vocab_size, text_embedding_dim=12)
    b = next(iter(torch.utils.data.DataLoader(task.train_set, 4, collate_fn=task.collate_fn)))
    assert torch.equal(b["index"], torch.arange(4))
    total, count = task.loss(model, model, b, 1)
    nll, _, audio = model(b["feats"], b["feat_mask"], b["labels"], reduce=False, embed=True)
    expected = hand_info_nce(audio.detach(), table[:4], 0.1)
    assert abs(task.last_infonce - expected) < 1e-4
    assert torch.allclose(total, nll + 0.5 * expected * count, atol=1e-3)
    assert task.log_values(model) == {"text_infonce": task.last_infonce}
    total.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.text_head.parameters())


def test_mixture_items_read_both_clips_and_carry_the_mixture_caption(tmp_path):
    paths = make_experiment_inputs(tmp_path, n_train=4, n_valid=2)
    tok = CaptionTokenizer(str(paths["tokenizer"]))
    reader = open_features(paths["train_feats"])
    a, b = sorted(reader.keys())[:2]
    raw_a, raw_b = np.asarray(reader[a]), np.asarray(reader[b])
    pairs = [(a, "a dog barks"), (f"{a}+{b}", "a dog barks and then rain falls")]
    for mode in ("concat", "sum"):
        data = CaptionDataset(pairs, paths["train_feats"], tok, 64, mix_mode=mode)
        frames, ids = data[1]
        np.testing.assert_array_equal(frames, mix_frames(raw_a, raw_b, mode))
        assert len(frames) == (
            len(raw_a) + len(raw_b) if mode == "concat" else max(len(raw_a), len(raw_b))
        )
        out = collate_captions([data[0], data[1]], tok.pad_id)
        labels = out["labels"][1][out["labels"][1] != tok.pad_id].tolist()
        assert tok.decode(labels[:-1]) == "a dog barks and then rain falls"
    np.testing.assert_array_equal(mix_frames(raw_a, raw_b, "concat")[len(raw_a) :], raw_b)
    short = min(len(raw_a), len(raw_b))
    np.testing.assert_allclose(
        mix_frames(raw_a, raw_b, "sum")[:short], raw_a[:short] + raw_b[:short]
    )
