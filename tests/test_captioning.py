import pytest
import torch
from caption_fixtures import make_experiment_inputs, train_argv, write_yaml

from aac.bin.train import main as train_main
from aac.captioning import CaptionEngine, generate_captions
from aac.expdir import load_model_from_expdir
from aac.frames import stride_frames


@pytest.fixture(scope="module")
def exp_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("inf")
    inputs = make_experiment_inputs(root)
    cfg = write_yaml(root / "train.yaml", epochs=1)
    out = root / "exp"
    train_main(train_argv(inputs, cfg, out, "--override", "downsample=2"))
    return out


def test_load_from_expdir_alone(exp_dir, tmp_path):
    moved = tmp_path / "moved"
    for name in ("config.yaml", "tokenizer.model", "best.pt"):  # nothing else is needed
        moved.mkdir(exist_ok=True)
        (moved / name).write_bytes((exp_dir / name).read_bytes())
    loaded = load_model_from_expdir(moved)
    assert loaded.downsample == 2 and loaded.encoder_info["name"] == "logmel"
    assert loaded.config["enc_dim"] == 8 and not loaded.model.training
    last = load_model_from_expdir(exp_dir, checkpoint="last")
    assert isinstance(last.model, torch.nn.Module)
    epoch1 = load_model_from_expdir(exp_dir, checkpoint="epoch1")  # as aac-pack names them
    assert epoch1.checkpoint == str(exp_dir / "checkpoints" / "epoch1.pt")
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        load_model_from_expdir(exp_dir, checkpoint=str(tmp_path / "nope.pt"))


def test_generate_captions_padding_and_stride(exp_dir):
    loaded = load_model_from_expdir(exp_dir)
    feats = torch.randn(2, 9, 8)
    lengths = torch.tensor([9, 5])
    padded = feats.clone()
    padded[1, 5:] = 100.0  # padding content must not matter
    engine = CaptionEngine.from_loaded(loaded, beam=2)
    assert engine.stride == 2  # config.yaml downsample
    a = engine.caption_features(feats, lengths)
    b = engine.caption_features(padded, lengths)
    assert a == b and all(isinstance(c, str) and c for c in a)
    assert engine.caption_features(feats[1:, :5], lengths[1:]) == a[1:]
    strided, new_len = stride_frames(feats, lengths, 2)
    assert generate_captions(loaded.model, loaded.tokenizer, strided, new_len, beam=2) == a


def test_decode_validation_and_captioner_write_the_same_captions(tmp_path, monkeypatch):
    """Features mode, audio mode, training validation and the Captioner: one path, one answer.

    A tiny model is trained on log-mel features of real audio at downsample 2; the last
    validation's captions must equal what decoding (from the cache and from the audio) and
    the Captioner write for the same clips with the same weights (checkpoints/last.pt).
    """
    from caption_fixtures import make_audio_set

    import aac.train.trainer as trainer_mod
    from aac import Captioner
    from aac.bin.decode import main as decode_main
    from aac.bin.extract_feats import main as extract_main
    from aac.datadir import read_kaldi_text
    from aac.tokenizer import train_tokenizer

    torch.set_num_threads(1)
    train = make_audio_set(tmp_path, "train", 12, seed=1, training=True)
    valid = make_audio_set(tmp_path, "valid", 7, seed=2, training=False)
    feats = {}
    for data in (train, valid):
        feats[data.name] = tmp_path / "feats" / f"{data.name}.h5"
        assert (
            extract_main(
                ["--encoder", "logmel", "--data-dir", str(data), "--output", str(feats[data.name])]
            )
            == 0
        )
    tok = train_tokenizer([train / "text"], tmp_path / "tok", vocab_size=40)
    paths = {
        "train_data": train,
        "train_feats": feats["train"],
        "valid_data": valid,
        "valid_feats": feats["valid"],
        "tokenizer": tok,
    }
    seen = []  # each validation's captions, in sorted clip order
    real_score = trainer_mod.cider_d_score
    monkeypatch.setattr(
        trainer_mod,
        "cider_d_score",
        lambda hyps, refs: seen.append(list(hyps)) or real_score(hyps, refs),
    )
    exp = tmp_path / "exp"
    cfg = write_yaml(tmp_path / "train.yaml", epochs=15)
    train_main(train_argv(paths, cfg, exp, "--override", "downsample=2", "valid.batch_size=3"))
    validation = dict(zip(sorted(read_kaldi_text(valid / "utt2dur")), seen[-1]))
    assert len(set(validation.values())) > 1, "a model that says one thing proves nothing"

    common = [
        "--exp-dir",
        str(exp),
        "--data-dir",
        str(valid),
        "--beam",
        "1",
        "--checkpoint",
        "last",
        "--batch-size",
        "4",
        "--rtf-clips",
        "0",
    ]
    decode_main([*common, "--feats", str(feats["valid"]), "--output-dir", str(tmp_path / "f")])
    decode_main([*common, "--from-audio", "--output-dir", str(tmp_path / "a")])
    assert read_kaldi_text(tmp_path / "f" / "text") == validation
    assert read_kaldi_text(tmp_path / "a" / "text") == validation
    captioner = Captioner.from_pretrained(exp, checkpoint="last", beam=1, batch_size=2)
    wavs = read_kaldi_text(valid / "wav.scp")
    results = captioner.caption([wavs[c] for c in sorted(wavs)])
    assert [r.caption for r in results] == [validation[c] for c in sorted(wavs)]
