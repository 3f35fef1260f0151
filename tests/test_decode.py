import json

import h5py
import numpy as np
import pytest
import soundfile as sf
import torch
from caption_fixtures import make_experiment_inputs, make_set, train_argv, write_feats, write_yaml

from aac.bin.decode import main as decode_main
from aac.bin.merge_decodes import main as merge_main
from aac.bin.train import main as train_main
from aac.datadir import read_kaldi_text
from aac.features import FeatureReader


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("dec")
    inputs = make_experiment_inputs(root)
    cfg = write_yaml(root / "train.yaml", epochs=12)
    train_main(train_argv(inputs, cfg, root / "exp"))
    test_data, test_feats = make_set(root, "test", 7, seed=5, training=False)
    return root, test_data, test_feats


def decode(root, data, feats, out, *extra):
    assert (
        decode_main(
            [
                "--exp-dir",
                str(root / "exp"),
                "--data-dir",
                str(data),
                "--feats",
                str(feats),
                "--output-dir",
                str(out),
                *map(str, extra),
            ]
        )
        == 0
    )
    return read_kaldi_text(out / "text"), json.loads((out / "rtf.json").read_text())


def test_decode_writes_sorted_text_and_rtf(trained):
    root, data, feats = trained
    text, rtf = decode(root, data, feats, root / "d1", "--batch-size", 3)
    assert list(text) == sorted(text) and len(text) == 7
    batched = rtf["batched"]
    assert batched["mode"] == "features" and len(batched["warmup_clips"]) == 3
    assert len(batched["per_clip"]) == 4 and set(batched["per_clip"]).isdisjoint(
        batched["warmup_clips"]
    )
    assert batched["p10"] <= batched["median"] and batched["mean"] > 0
    assert batched["throughput"] == pytest.approx(batched["audio_s"] / batched["wall_s"])
    # the fixture's wav.scp points nowhere: the paper RTF says why it is missing
    assert "unavailable" in rtf["paper"] and rtf["downsample"] == 1


def test_batched_equals_one_at_a_time(trained):
    root, data, feats = trained
    batched, _ = decode(root, data, feats, root / "b", "--batch-size", 7)
    single, _ = decode(root, data, feats, root / "s", "--batch-size", 1)
    assert batched == single
    assert len(set(batched.values())) > 1  # a model that says one thing would prove nothing


def test_keys_parts_merge_to_single_job(trained, tmp_path, capsys):
    root, data, feats = trained
    whole, _ = decode(root, data, feats, tmp_path / "all", "--batch-size", 2)
    ids = sorted(whole)
    parts = []
    for i, chunk in enumerate([ids[:3], ids[3:]]):
        keys = tmp_path / f"keys{i}"
        keys.write_text("".join(f"{k}\n" for k in chunk))
        parts.append(tmp_path / f"part{i}")
        decode(root, data, feats, parts[-1], "--batch-size", 2, "--keys", keys)
    merge_main(["--output-dir", str(tmp_path / "merged"), *map(str, parts)])
    assert (tmp_path / "merged/text").read_text() == (tmp_path / "all/text").read_text()
    merged_rtf = json.loads((tmp_path / "merged/rtf.json").read_text())
    assert "decoding" in merged_rtf and merged_rtf["decoding"] is None  # kept: beam search
    merged = merged_rtf["batched"]
    assert len(merged["per_clip"]) + len(merged["warmup_clips"]) == len(ids)
    assert merge_main(["--output-dir", str(tmp_path / "dup"), str(parts[0]), str(parts[0])]) != 0
    assert "also in another part" in capsys.readouterr().err


def test_unknown_key_is_an_error(trained, tmp_path, capsys):
    root, data, feats = trained
    keys = tmp_path / "keys"
    keys.write_text("no_such_clip\n")
    rc = decode_main(
        [
            "--exp-dir",
            str(root / "exp"),
            "--data-dir",
            str(data),
            "--feats",
            str(feats),
            "--output-dir",
            str(tmp_path / "x"),
            "--keys",
            str(keys),
        ]
    )
    assert rc != 0 and "no_such_clip" in capsys.readouterr().err


def test_from_audio_runs_the_encoder(tmp_path):
    """A logmel experiment decoded from wav.scp (features must fit the model's enc_dim).

    The cache was made with non-default encoder options: decoding from audio must rebuild
    the encoder with them, or the feature dimension would not fit the model.
    """
    from aac.encoders import build_encoder
    from aac.expdir import load_model_from_expdir

    enc = build_encoder("logmel", conf={"n_mels": 40})
    rate = enc.sample_rate
    data = tmp_path / "data"
    data.mkdir()
    rng = np.random.default_rng(0)
    lines, durs = [], []
    for i, seconds in enumerate([1.0, 0.5, 2.0]):
        path = tmp_path / f"clip {i}.wav"
        sf.write(path, 0.1 * rng.standard_normal(int(seconds * rate)), rate)
        lines.append(f"c{i} {path}\n")
        durs.append(f"c{i} {seconds}\n")
    (data / "wav.scp").write_text("".join(lines))
    (data / "utt2dur").write_text("".join(durs))
    root = tmp_path / "exp_root"
    wave = torch.zeros(1, rate)
    feats, _ = enc(wave, torch.tensor([rate]))
    dim = feats.shape[-1]
    attrs = {
        "encoder": "logmel",
        "checkpoint": "",
        "checkpoint_sha256": "",
        "random_init": False,
        "sample_rate": rate,
        "frame_rate": 0.0,
        "extract_stride": 1,
        "dim": dim,
        "dtype": "float32",
        "encoder_conf": json.dumps({"n_mels": 40}),
    }
    inputs = make_experiment_inputs(root)
    for key in ("train_feats", "valid_feats"):  # widen the 8-dim fixture features to dim
        f = FeatureReader(inputs[key])
        clips = {k: np.tile(f[k], (1, dim // 8 + 1))[:, :dim] for k in f}
        write_feats(inputs[key], clips, attrs)
    cfg = write_yaml(root / "train.yaml", epochs=1)
    train_main(train_argv(inputs, cfg, root / "exp"))
    out = tmp_path / "dec"
    decode_main(
        [
            "--exp-dir",
            str(root / "exp"),
            "--data-dir",
            str(data),
            "--from-audio",
            "--output-dir",
            str(out),
            "--batch-size",
            "1",
            "--beam",
            "2",
            "--rtf-clips",
            "2",
        ]
    )
    rtf = json.loads((out / "rtf.json").read_text())
    assert sorted(read_kaldi_text(out / "text")) == ["c0", "c1", "c2"]
    assert rtf["batched"]["mode"] == "audio" and len(rtf["batched"]["per_clip"]) == 2
    paper = rtf["paper"]  # the stated sample: first 2 ids, one clip at a time, beam 4
    assert sorted(paper["per_clip"]) == ["c0", "c1"] and paper["beam"] == 4
    assert paper["batch_size"] == 1 and paper["audio_s"] == pytest.approx(1.5)
    assert "first 2 clip ids" in paper["sample"]
    assert load_model_from_expdir(root / "exp").encoder_info["name"] == "logmel"
    # stage 6's serial step: the whole sample in one process, into the merged rtf.json
    rtf["paper"] = None  # as merged from parts decoded with --rtf-clips 0
    (out / "rtf.json").write_text(json.dumps(rtf))
    text_before = (out / "text").read_text()
    argv = ["--exp-dir", str(root / "exp"), "--data-dir", str(data), "--output-dir", str(out)]
    threads = torch.get_num_threads()
    assert decode_main(argv + ["--paper-rtf-only", "--rtf-clips", "-1", "--threads", "1"]) == 0
    serial = json.loads((out / "rtf.json").read_text())
    assert serial["batched"] == rtf["batched"] and (out / "text").read_text() == text_before
    paper = serial["paper"]
    assert sorted(paper["per_clip"]) == ["c0", "c1", "c2"] and paper["beam"] == 4
    assert paper["threads"] == 1 and paper["timed"].startswith("serial")
    assert paper["sample"] == "all clips of data" and paper["audio_s"] == pytest.approx(3.5)
    assert paper["encoder_s"] > 0 and paper["decoder_s"] > 0
    assert paper["encoder_s"] + paper["decoder_s"] == pytest.approx(paper["wall_s"])
    env = paper["environment"]
    assert env["threads"] == 1 and env["torch"] == torch.__version__ and env["cpu"]
    assert (env["device"], env["dtype"], env["gpu"]) == ("cpu", "float32", None)
    torch.set_num_threads(threads)


def test_beam_shared_cross_attention_gives_the_default_tokens(trained):
    """Cross-attention keys/values held once per clip change speed, never tokens."""
    from aac.expdir import load_model_from_expdir
    from aac.model import beam_shared_attention, generate_cache_kwarg

    root, data, feats = trained
    model = load_model_from_expdir(root / "exp").model
    f = FeatureReader(feats)
    clips = [torch.from_numpy(f[k]) for k in f]  # sorted by clip id
    frames = torch.nn.utils.rnn.pad_sequence(clips, batch_first=True)  # (B, T, D)
    mask = torch.arange(frames.size(1))[None] < torch.tensor([len(c) for c in clips])[:, None]
    inputs = model.generation_inputs(frames, mask, num_beams=4)
    cross = inputs[generate_cache_kwarg(model.bart)].cross_attention_cache
    assert cross.layers[0].keys.shape[0] == len(clips)  # (B, H, T, d): not x4 beams
    with beam_shared_attention(model.bart):
        ours = model.bart.generate(**inputs)
    assert model.bart.config._attn_implementation == "sdpa"  # restored after the block
    enc = model.encode(frames, mask)
    default = model.bart.generate(
        encoder_outputs=enc,
        attention_mask=mask.long(),
        num_beams=4,
        max_length=model.conf.max_target_length + 1,
        decoder_start_token_id=model.bos_id,
        bos_token_id=model.bos_id,
        eos_token_id=model.eos_id,
        pad_token_id=model.pad_id,
        do_sample=False,
    )
    assert torch.equal(ours, default)
    assert len({tuple(row.tolist()) for row in ours}) > 1


def refused(root, data, feats, out, capsys) -> str:
    rc = decode_main(
        ["--exp-dir", str(root / "exp"), "--data-dir", str(data), "--feats", str(feats)]
        + ["--output-dir", str(out), "--rtf-clips", "0"]
    )
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("aac-decode: error: ") and err.count("\n") == 1, err
    assert not (out / "text").exists()
    return err


@pytest.mark.parametrize(
    "key, value",
    [("extract_stride", 2), ("checkpoint_sha256", "ab" * 32), ("random_init", True)],
)
def test_a_cache_made_otherwise_is_refused_naming_the_attribute(
    trained, tmp_path, capsys, key, value
):
    """Same dimension, other features: only the attributes can tell, and decoding must."""
    from caption_fixtures import ENCODER_ATTRS

    root, data, feats = trained
    f = FeatureReader(feats)
    clips = {k: f[k] for k in f}
    other = write_feats(tmp_path / "other.h5", clips, dict(ENCODER_ATTRS, **{key: value}))
    err = refused(root, data, other, tmp_path / "out", capsys)
    config = root / "exp" / "config.yaml"
    assert (
        f"{other} was made with {key}={value!r}, but {config} (encoder:) has "
        f"{key}={ENCODER_ATTRS[key]!r}"
    ) in err


def test_non_finite_and_damaged_clips_are_refused(trained, tmp_path, capsys):
    root, data, feats = trained
    copy = tmp_path / "copy.h5"
    copy.write_bytes(feats.read_bytes())
    with h5py.File(copy, "a") as h5:  # NaN written in by another tool
        h5["test_003"][2, 1] = np.nan
    err = refused(root, data, copy, tmp_path / "out", capsys)
    assert "clip 'test_003' has 1 non-finite (NaN/Inf) feature values" in err
    copy.write_bytes(feats.read_bytes())
    with h5py.File(copy, "r") as h5:
        offset, size = h5["test_005"].id.get_offset(), h5["test_005"].id.get_storage_size()
    with open(copy, "r+b") as f:  # a block overwritten with zeros after publishing
        f.seek(offset)
        f.write(b"\0" * size)
    err = refused(root, data, copy, tmp_path / "out", capsys)
    assert f"{copy}: clip 'test_005' fails its checksum" in err
