import numpy as np
import pytest
import torch
from caption_fixtures import make_set

from aac.captioning import length_sorted_batches
from aac.dataset import (
    CaptionDataset,
    collate_captions,
    keep_available,
    lengths_to_mask,
    read_caption_pairs,
)
from aac.tokenizer import CaptionTokenizer, train_tokenizer


@pytest.fixture
def corpus(tmp_path):
    data, feats = make_set(tmp_path, "train", 4, seed=0, training=True)
    tok = CaptionTokenizer(train_tokenizer([data / "text"], tmp_path / "tok", 40))
    return data, feats, tok


def test_caption_pairs_from_text_or_references(tmp_path, corpus):
    data, _, _ = corpus
    pairs = read_caption_pairs(data)
    assert len(pairs) == 20 and pairs[0] == ("train_000", "A dog barks loudly.")
    (data / "text").unlink()  # a valid set: captions from text_spk1..5
    assert sorted(read_caption_pairs(data)) == sorted(
        (c, cap.lower().rstrip(".")) for c, cap in pairs
    )


def test_items_stride_and_collate(corpus):
    data, feats, tok = corpus
    pairs = read_caption_pairs(data)
    full = CaptionDataset(pairs, feats, tok, max_target_length=3)
    strided = CaptionDataset(pairs, feats, tok, max_target_length=12, downsample=4)
    frames, ids = full[0]
    assert ids[-1] == tok.eos_id and len(ids) <= 3
    assert np.array_equal(strided[0][0], frames[::4])
    batch = collate_captions([strided[0], strided[7]], tok.pad_id)
    lengths = [len(strided[0][0]), len(strided[7][0])]
    assert batch["feats"].shape == (2, max(lengths), 8)
    assert batch["feat_mask"].sum(1).tolist() == lengths
    assert (batch["labels"] == tok.pad_id).sum() == abs(len(strided[0][1]) - len(strided[7][1]))


def test_missing_features_are_skipped_with_a_count(corpus, caplog):
    data, feats, _ = corpus
    pairs = read_caption_pairs(data) + [("ghost", "a ghost moans")]
    kept = keep_available(pairs, feats, "train set")
    assert len(kept) == 20 and "1 clips have no features" in caplog.text
    with pytest.raises(ValueError, match="none of its clips"):
        keep_available([("ghost", "x")], feats, "train set")


def test_length_batches_and_mask():
    batches = length_sorted_batches({"a": 1.0, "b": 9.0, "c": 5.0, "d": 8.0}, 2)
    assert batches == [["b", "d"], ["c", "a"]]
    assert lengths_to_mask(torch.tensor([2, 0, 3])).tolist() == [
        [True, True, False],
        [False, False, False],
        [True, True, True],
    ]
