"""Re-ranking scorers and settings (aac.scorers): an ATCL experiment as scorer, aac-decode."""

import json

import pytest
import torch
import torch.nn.functional as F
import yaml
from caption_fixtures import make_audio_set, tiny_decoder, tiny_text_model

from aac.audio import load_mono
from aac.bin import decode, pretrain_encoder
from aac.datadir import read_kaldi_text
from aac.pretrain.data import WaveCrops
from aac.pretrain.evaluate import model_outputs
from aac.pretrain.expdir import load_task_run
from aac.pretrain.text_encoder import TextEncoder
from aac.scorers import AtclScorer
from aac.testing import make_random_exp_dir


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A tiny ATCL experiment (1 epoch), a random caption experiment, an audio data set."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("scorers")
    text_model = tiny_text_model(root / "bert")
    train = make_audio_set(root, "train", 8, seed=1, training=True)
    test = make_audio_set(root, "test", 5, seed=2, training=False)
    atcl = root / "atcl"
    argv = ["--task", "atcl", "--train-data", train, "--valid-data", train, "--output-dir", atcl]
    argv += ["--text-encoder", text_model, "--override", "optim.epochs=1", "optim.batch_size=4"]
    argv += ["crop_seconds=1.0", "head.embed_dim=8", "head.hidden_dim=0"]
    assert pretrain_encoder.main(list(map(str, argv))) == 0
    exp = make_random_exp_dir(root / "exp", model_conf=tiny_decoder(max_length=16), seed=3)
    return {"root": root, "atcl": atcl, "exp": exp, "test": test, "text_model": text_model}


def test_atcl_scorer_embeds_as_the_retrieval_evaluation(setup):
    scorer = AtclScorer(str(setup["atcl"]))
    _, conf, model = load_task_run(setup["atcl"], "atcl", "x")
    clips = sorted(read_kaldi_text(setup["test"] / "wav.scp").items())
    waves = [load_mono(spec, scorer.sample_rate) for _, spec in clips]
    ours = scorer.audio(None, None, None, waves)  # (B, E)
    crops = WaveCrops(clips, model.encoder.sample_rate, conf.crop_seconds, train=False)
    theirs = F.normalize(model_outputs(model, crops, "cpu"), dim=-1)
    assert ours.shape == (5, 8) and torch.allclose(ours, theirs, atol=1e-5)
    texts = ["a dog barks", "a siren wails"]
    emb = TextEncoder(str(setup["text_model"])).embed(texts)
    with torch.no_grad():
        expected = F.normalize(model.embed_text(emb), dim=-1)
    assert torch.allclose(scorer.text(texts), expected, atol=1e-6)


def run_decode(setup, out, *extra):
    argv = ["--exp-dir", setup["exp"], "--data-dir", setup["test"], "--from-audio"]
    argv += ["--output-dir", out, "--rtf-clips", "0", "--batch-size", "2", *extra]
    return decode.main(list(map(str, argv)))


def test_decode_with_sampled_candidates_reranked_by_atcl(setup):
    out = setup["root"] / "dec_atcl"
    flags = ["--candidates", "sampling", "--num-candidates", "6", "--rerank-scorer", "atcl"]
    assert run_decode(setup, out, *flags, "--atcl-exp", setup["atcl"]) == 0
    text = read_kaldi_text(out / "text")
    assert sorted(text) == sorted(read_kaldi_text(setup["test"] / "utt2dur"))
    decoding = json.loads((out / "rtf.json").read_text())["decoding"]
    assert decoding["candidates"]["mode"] == "sampling" and decoding["candidates"]["num"] == 6
    assert decoding["rerank"]["scorer"] == "atcl"
    assert run_decode(setup, setup["root"] / "dec_plain") == 0
    plain = json.loads((setup["root"] / "dec_plain" / "rtf.json").read_text())
    assert plain["decoding"] is None  # off by default: the paper's beam search


def test_decode_config_file_and_flags(setup, tmp_path, capsys):
    config = tmp_path / "decode.yaml"
    config.write_text(
        yaml.safe_dump({"candidates": {"mode": "beam"}, "rerank": {"similarity_weight": 0.0}})
    )
    assert run_decode(setup, tmp_path / "a", "--decode-config", config) == 0
    decoding = json.loads((tmp_path / "a" / "rtf.json").read_text())["decoding"]
    assert decoding["candidates"]["mode"] == "beam" and decoding["rerank"]["logprob_weight"] == 0.3
    # a flag replaces its key of the file
    assert (
        run_decode(setup, tmp_path / "b", "--decode-config", config, "--num-candidates", "2") == 0
    )
    assert (
        json.loads((tmp_path / "b" / "rtf.json").read_text())["decoding"]["candidates"]["num"] == 2
    )


@pytest.mark.parametrize(
    "extra,message",
    [
        (
            ["--candidates", "beam", "--num-candidates", "9"],
            "candidates.num 9 is more than the beam",
        ),
        (["--candidates", "beam", "--rerank-scorer", "head"], "no text-embedding head"),
        (["--candidates", "sampling", "--rerank-scorer", "atcl"], "needs rerank.atcl_exp"),
        (["--candidates", "beam", "--atcl-exp", "/nonexistent"], "no such directory"),
    ],
)
def test_bad_rerank_settings_are_one_error_line(setup, tmp_path, capsys, extra, message):
    assert run_decode(setup, tmp_path / "x", *extra) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_unknown_decode_config_key_is_named(setup, tmp_path, capsys):
    config = tmp_path / "decode.yaml"
    config.write_text("candidates:\n  mode: sampling\n  nucleus: 0.9\n")
    assert run_decode(setup, tmp_path / "x", "--decode-config", config) == 2
    assert "unknown key 'candidates.nucleus'" in capsys.readouterr().err
