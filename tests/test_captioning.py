import pytest
import torch

from aac.bin.train import main as train_main
from aac.captioning import CaptionEngine, generate_captions
from aac.expdir import load_model_from_expdir
from aac.frames import stride_frames
from caption_fixtures import make_experiment_inputs, train_argv, write_yaml


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
