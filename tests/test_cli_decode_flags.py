"""aac-decode's --encoder-checkpoint and --compute-dtype reach the one captioning path."""

import json
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml
from caption_fixtures import tiny_decoder

from aac.bin.decode import main as decode_main
from aac.captioning import CaptionEngine
from aac.checkpoint_io import file_sha256
from aac.testing import make_random_exp_dir

TINY = tiny_decoder(d_model=16, layers=1, max_length=4)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A cnn_small experiment whose encoder checkpoint has moved, and a 2-clip data dir."""
    from aac.encoders import build_encoder

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("decflags")
    exp = make_random_exp_dir(root / "exp", encoder="cnn_small", model_conf=TINY)
    weights = root / "enc.pt"
    torch.save(build_encoder("cnn_small", random_init=True).state_dict(), weights)
    conf = yaml.safe_load((exp / "config.yaml").read_text())
    conf["encoder"].update(
        random_init=False,
        checkpoint=str(root / "moved_away.pt"),
        checkpoint_sha256=file_sha256(weights),
    )
    (exp / "config.yaml").write_text(yaml.safe_dump(conf))
    data = root / "data"
    data.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        sf.write(root / f"c{i}.wav", 0.1 * rng.standard_normal(16000), 16000)
    (data / "wav.scp").write_text("".join(f"c{i} {root / f'c{i}.wav'}\n" for i in range(2)))
    (data / "utt2dur").write_text("c0 1.0\nc1 1.0\n")
    return root, exp, data, weights


def run(exp, data, out, *extra):
    argv = ["--exp-dir", str(exp), "--data-dir", str(data), "--from-audio"]
    argv += ["--output-dir", str(out), "--rtf-clips", "1", "--beam", "1", *map(str, extra)]
    return decode_main(argv)


def test_encoder_checkpoint_replaces_a_moved_path_and_is_hash_checked(setup, tmp_path, capsys):
    root, exp, data, weights = setup
    assert run(exp, data, tmp_path / "none") == 2  # the recorded path is gone
    assert "--encoder-checkpoint PATH" in capsys.readouterr().err
    assert run(exp, data, tmp_path / "ok", "--encoder-checkpoint", weights) == 0
    rtf = json.loads((tmp_path / "ok" / "rtf.json").read_text())
    assert "mean" in rtf["paper"]  # the paper RTF found the encoder through the flag too
    other = tmp_path / "other.pt"
    shutil.copy(weights, other)
    with open(other, "ab") as f:
        f.write(b"\0")
    assert run(exp, data, tmp_path / "bad", "--encoder-checkpoint", other) == 2
    assert "does not match this model" in capsys.readouterr().err


def test_compute_dtype_reaches_the_engine_and_rtf_json(setup, tmp_path, monkeypatch):
    root, exp, data, weights = setup
    seen = []
    real = CaptionEngine.caption_features

    def spy(self, feats, lengths, *waves):
        seen.append(self.dtype)
        return real(self, feats, lengths, *waves)

    monkeypatch.setattr(CaptionEngine, "caption_features", spy)
    out = tmp_path / "bf16"
    assert run(exp, data, out, "--encoder-checkpoint", weights, "--compute-dtype", "bfloat16") == 0
    assert seen and set(seen) == {"bfloat16"}  # batched decode and paper RTF alike
    assert json.loads((out / "rtf.json").read_text())["compute_dtype"] == "bfloat16"
