import pytest

from aac.bin.train_tokenizer import main as train_tokenizer_main
from aac.tokenizer import BOS_ID, EOS_ID, PAD_ID, CaptionTokenizer, train_tokenizer


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "text"
    path.write_text(
        "c1#1 A dog barks, loudly!\nc1#2 The dog's bark echoes.\n"
        "c2#1 Rain falls on a tin roof\nc2#2 a car passes by quickly\n"
    )
    return path


@pytest.mark.parametrize("model_type", ["unigram", "bpe"])
def test_train_and_roundtrip(tmp_path, text_file, model_type):
    path = train_tokenizer([text_file], tmp_path / "tok", vocab_size=5000, model_type=model_type)
    assert path.name == "tokenizer.model" and (tmp_path / "tok" / "tokenizer.vocab").is_file()
    tok = CaptionTokenizer(path)
    assert (tok.bos_id, tok.pad_id, tok.eos_id) == (BOS_ID, PAD_ID, EOS_ID)
    assert tok.vocab_size < 5000  # clamped to what the tiny corpus allows
    ids = tok.encode("A DOG, barks!")
    assert ids == tok.encode("a dog barks")  # normalised before encoding
    assert all(i not in (tok.bos_id, tok.pad_id, tok.eos_id) for i in ids)
    assert tok.decode([tok.bos_id] + ids + [tok.eos_id, tok.pad_id]) == "a dog barks"


def test_deterministic(tmp_path, text_file):
    a = train_tokenizer([text_file], tmp_path / "a", vocab_size=30)
    b = train_tokenizer([text_file], tmp_path / "b", vocab_size=30)
    # the .model embeds the temporary training path, so compare the learnt pieces
    assert a.with_suffix(".vocab").read_text() == b.with_suffix(".vocab").read_text()


def test_cli_multiple_texts_and_no_leftovers(tmp_path, text_file):
    other = tmp_path / "text2"
    other.write_text("x#1 Thunder rumbles in the distance\n")
    out = tmp_path / "tok"
    train_tokenizer_main(
        [
            "--text",
            str(text_file),
            "--text",
            str(other),
            "--output-dir",
            str(out),
            "--vocab-size",
            "40",
        ]
    )
    tok = CaptionTokenizer(out / "tokenizer.model")
    assert tok.decode(tok.encode("thunder rumbles")) == "thunder rumbles"
    assert sorted(p.name for p in out.iterdir()) == ["tokenizer.model", "tokenizer.vocab"]


def test_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing_text"):
        train_tokenizer([tmp_path / "missing_text"], tmp_path / "tok", 10)
    with pytest.raises(FileNotFoundError, match="nope.model"):
        CaptionTokenizer(tmp_path / "nope.model")
