"""The training dataset keeps captions as token ids in one flat array with offsets, and
the tokenizer trains from a stream of captions."""

import tracemalloc

import numpy as np

from aac.dataset import CaptionDataset
from aac.tokenizer import iter_caption_texts


class WordTokenizer:
    """encode: one id per word (ids >= 4), as a SentencePiece model would give."""

    eos_id = 2

    def encode(self, text):
        return [4 + len(w) for w in text.split()]


def captions(n):
    return [(f"clip{i // 5}", f"a dog number {i} barks at a passing car") for i in range(n)]


def test_items_come_from_the_flat_arrays():
    ds = CaptionDataset(captions(12), "unused.h5", WordTokenizer(), max_target_length=5)
    assert len(ds) == 12 and ds.clip_ids == ["clip0", "clip1", "clip2"]
    assert ds.clip_id(7) == "clip1"
    assert ds.tokens(0) == [5, 7, 10, 5, 2]  # cut to max_target_length, eos last
    assert ds.token_ids.dtype == np.int32 and ds.offsets[-1] == len(ds.token_ids) == 12 * 5


def test_retained_memory_per_caption_is_a_few_bytes_per_token():
    pairs = captions(20_000)  # 9 tokens + eos each
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        ds = CaptionDataset(pairs, "unused.h5", WordTokenizer(), max_target_length=32)
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    per_caption = (after - before) / len(ds)
    assert per_caption < 80  # 10 int32 ids + an offset + a clip index: ~52 bytes


def test_caption_texts_stream_one_at_a_time(tmp_path):
    (tmp_path / "text").write_text("c1#1 A dog barks!\nc1#2 !!!\nc2#1 Rain falls\n")
    stream = iter_caption_texts([tmp_path / "text"])
    assert next(stream) == "a dog barks"
    assert list(stream) == ["rain falls"]
