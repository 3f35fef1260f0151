"""Re-ranking scorers and settings (aac.scorers): the caption model's own text-embedding head
and an ATCL experiment as scorers, aac-decode."""

import json

import pytest
import torch
import torch.nn.functional as F
import yaml
from caption_fixtures import make_audio_set, tiny_decoder, tiny_text_model
from transformers import AutoModel, AutoTokenizer

from aac.audio import load_mono
from aac.bin import decode, pretrain_encoder
from aac.captioning import generate_captions
from aac.datadir import read_kaldi_text
from aac.expdir import load_model_from_expdir
from aac.pretrain.data import WaveCrops
from aac.pretrain.evaluate import model_outputs
from aac.pretrain.expdir import load_task_run
from aac.pretrain.text_encoder import TextEncoder
from aac.rerank import CandidatesConf, DecodeConf, RerankConf, Reranker, candidate_logprobs
from aac.scorers import AtclScorer, HeadScorer, ScorerError, build_reranker
from aac.testing import make_random_exp_dir, speed_corpus


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


# ---- the head scorer: a real caption model with a text-embedding head ------------------
class Recording(Reranker):
    """A reranker that keeps the candidates it was given."""

    def choose(self, model, feats, mask, ids, texts, waves=None):
        self.ids, self.texts = ids.clone(), list(texts)
        return super().choose(model, feats, mask, ids, texts, waves)


def sentence_embeddings_by_hand(model_dir, texts):
    """Mean of BERT's last hidden states over the attention mask, L2-normalised. (C, H)"""
    tok = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    bert = AutoModel.from_pretrained(model_dir, local_files_only=True).eval()
    batch = tok(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = bert(**batch).last_hidden_state  # (C, L, H)
    m = batch["attention_mask"].unsqueeze(-1).float()
    return F.normalize((hidden * m).sum(1) / m.sum(1), dim=-1)


@pytest.fixture(scope="module")
def with_head(tmp_path_factory):
    """A random caption experiment whose model has a 16-dim text-embedding head, recorded
    with the tiny 16-dim BERT as its `text_embedding.model_dir`."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("head")
    words = " ".join(speed_corpus(64)).split()  # the caption vocabulary: few [UNK]s
    text_model = tiny_text_model(root / "bert", words)
    conf = tiny_decoder(max_length=16)
    conf.text_embedding_dim = 16
    exp = make_random_exp_dir(root / "exp", model_conf=conf, seed=3, text_model_dir=text_model)
    return load_model_from_expdir(exp), text_model


def test_head_scorer_similarity_is_cosine_of_embed_audio_and_text(with_head):
    loaded, text_model = with_head
    model = loaded.model
    assert model.text_head is not None  # the real head, loaded from best.pt
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(3, 12, model.proj.in_features, generator=g)  # (B, T, D)
    mask = torch.arange(12)[None] < torch.tensor([12, 7, 9])[:, None]  # (B, T)
    decode = DecodeConf(CandidatesConf(mode="beam"), RerankConf(0.3, 0.7, scorer="head"))
    reranker = build_reranker(decode, loaded)
    assert isinstance(reranker.scorer, HeadScorer)
    texts = ["a dog barks", "rain falls on a tin roof", "birds chirp in the trees"] * 3
    sim = reranker.similarity(model, feats, mask, texts)  # (B*N,), clip-major
    with torch.no_grad():
        audio = model.embed_audio(feats, mask)  # (B, E)
    text = sentence_embeddings_by_hand(text_model, texts[:3])  # (3, E)
    by_hand = F.cosine_similarity(audio[:, None], text[None], dim=-1).flatten()  # (B*3,)
    assert torch.allclose(sim, by_hand, atol=1e-5)
    assert sim.std() > 1e-3  # the candidates are told apart
    with pytest.raises(ScorerError, match="no text-embedding head"):
        no_head = load_model_from_expdir(make_random_exp_dir(text_model.parent / "plain"))
        build_reranker(decode, no_head)


@pytest.mark.parametrize("weights", [(0.3, 0.7), (0.0, 1.0)])
def test_rerank_with_the_head_picks_the_highest_combined_score(with_head, weights):
    loaded, text_model = with_head
    model, tok = loaded.model, loaded.tokenizer
    g = torch.Generator().manual_seed(1)
    lengths = torch.tensor([10, 6, 8])
    mask = torch.arange(10)[None] < lengths[:, None]
    feats = torch.randn(3, 10, model.proj.in_features, generator=g) * mask[..., None]
    decode = DecodeConf(CandidatesConf(mode="beam"), RerankConf(*weights, scorer="head"))
    recording = Recording(decode, build_reranker(decode, loaded).scorer)
    chosen = generate_captions(model, tok, feats, lengths, 4, None, 1, recording)
    with torch.no_grad():
        audio = model.embed_audio(feats, mask)  # (B, E)
    text = sentence_embeddings_by_hand(text_model, recording.texts).view(3, 4, -1)
    sim = (text * audio[:, None]).sum(-1)  # (B, 4)
    logprob = candidate_logprobs(model, feats, mask, recording.ids).view(3, 4)
    best = (weights[0] * logprob + weights[1] * sim).argmax(1)
    assert chosen == [recording.texts[b * 4 + int(i)] for b, i in enumerate(best)]
