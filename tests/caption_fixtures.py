"""Tiny synthetic captioning data for the training/decoding tests.

Each clip belongs to one of a few sound classes; its frames carry a class-specific
pattern plus noise and its captions name the class, so a tiny model can learn it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from aac.features import FeatureWriter

CLASSES = [
    [
        "a dog barks loudly",
        "a dog is barking",
        "dog barking nearby",
        "a loud dog barks",
        "the dog barks",
    ],
    [
        "rain falls on a roof",
        "heavy rain is falling",
        "rain pours down",
        "rain falling on a roof",
        "the rain falls",
    ],
    [
        "a siren wails",
        "a police siren wails",
        "an emergency siren",
        "a siren is wailing",
        "siren wailing loudly",
    ],
]
DIM = 8
ENCODER_ATTRS = {
    "encoder": "logmel",
    "checkpoint": "",
    "checkpoint_sha256": "",
    "random_init": False,
    "sample_rate": 16000,
    "frame_rate": 50.0,
    "extract_stride": 1,
    "dim": DIM,
    "dtype": "float32",
}


def clip_frames(rng, cls: int, n_frames: int) -> np.ndarray:
    base = np.zeros(DIM, dtype=np.float32)
    base[cls * 2 : cls * 2 + 2] = 3.0
    return (base + 0.3 * rng.standard_normal((n_frames, DIM))).astype(np.float32)  # (T, D)


def write_feats(path: Path, feats: dict, attrs: dict = ENCODER_ATTRS) -> Path:
    """A finished cache of `feats` {clip id: (T, D)}, written as aac-extract-feats writes."""
    if path.exists():  # the tests rewrite caches in place
        path.unlink()
    with FeatureWriter(path, attrs) as w:
        for clip, arr in feats.items():
            w.write(clip, arr)
        w.finish()
    return path


def make_set(
    root: Path, name: str, n_clips: int, seed: int, training: bool, frames=(6, 14)
) -> tuple:
    """data/<name>/{wav.scp,utt2dur,text or text_spk1..5} and feats/<name>.h5."""
    rng = np.random.default_rng(seed)
    data = root / "data" / name
    data.mkdir(parents=True, exist_ok=True)
    feats, text, spk = {}, [], {k: [] for k in range(1, 6)}
    for i in range(n_clips):
        clip, cls = f"{name}_{i:03d}", i % len(CLASSES)
        n = int(rng.integers(frames[0], frames[1] + 1))
        feats[clip] = clip_frames(rng, cls, n)
        for k, cap in enumerate(CLASSES[cls], 1):
            text.append(f"{clip}#{k} {cap.capitalize()}.")
            spk[k].append(f"{clip} {cap}")
    (data / "wav.scp").write_text("".join(f"{c} /nonexistent/{c}.wav\n" for c in feats))
    (data / "utt2dur").write_text("".join(f"{c} {len(v) / 50:.2f}\n" for c, v in feats.items()))
    if training:
        (data / "text").write_text("\n".join(text) + "\n")
    for k, lines in spk.items():
        (data / f"text_spk{k}").write_text("\n".join(lines) + "\n")
    return data, write_feats(root / "feats" / f"{name}.h5", feats)


TINY_YAML = """\
model:
  d_model: 16
  decoder_layers: 1
  decoder_attention_heads: 2
  decoder_ffn_dim: 32
  dropout: {dropout}
  attention_dropout: 0.0
  max_target_length: 12
optim:
  lr: 0.01
  warmup_steps: 2
  epochs: {epochs}
  batch_size: {batch_size}
  grad_clip: 1.0
valid:
  metric: cider_d_simple
  keep_nbest: 2
  beam: 1
seed: 3
log_interval: 1
"""


def write_yaml(path: Path, epochs=2, batch_size=8, dropout=0.0) -> Path:
    path.write_text(TINY_YAML.format(epochs=epochs, batch_size=batch_size, dropout=dropout))
    return path


def make_experiment_inputs(root: Path, n_train=12, n_valid=6):
    """Train/valid sets, features and a tokenizer; returns a dict of paths."""
    from aac.tokenizer import train_tokenizer

    train_data, train_feats = make_set(root, "train", n_train, seed=1, training=True)
    valid_data, valid_feats = make_set(root, "valid", n_valid, seed=2, training=False)
    tok = train_tokenizer([train_data / "text"], root / "tok", vocab_size=40)
    return {
        "train_data": train_data,
        "train_feats": train_feats,
        "valid_data": valid_data,
        "valid_feats": valid_feats,
        "tokenizer": tok,
    }


def train_argv(paths: dict, config: Path, out: Path, *extra) -> list:
    return [
        "--config",
        str(config),
        "--train-data",
        str(paths["train_data"]),
        "--train-feats",
        str(paths["train_feats"]),
        "--valid-data",
        str(paths["valid_data"]),
        "--valid-feats",
        str(paths["valid_feats"]),
        "--tokenizer",
        str(paths["tokenizer"]),
        "--output-dir",
        str(out),
        *map(str, extra),
    ]


def class_wave(rng, cls: int, seconds: float, rate: int = 16000) -> np.ndarray:
    """A clip whose spectrum names its class: a low tone, noise, or a high tone."""
    t = np.arange(int(seconds * rate)) / rate
    if cls == 1:
        wave = 0.3 * rng.standard_normal(t.shape)
    else:
        wave = 0.5 * np.sin(2 * np.pi * (300 if cls == 0 else 3000) * t)
        wave = wave + 0.02 * rng.standard_normal(t.shape)
    return wave.astype(np.float32)


def make_audio_set(root: Path, name: str, n_clips: int, seed: int, training: bool) -> Path:
    """data/<name>/ of real wav files (16 kHz) whose sound follows the caption's class."""
    import soundfile as sf

    rng = np.random.default_rng(seed)
    data, wavs = root / "data" / name, root / "wav" / name
    data.mkdir(parents=True, exist_ok=True)
    wavs.mkdir(parents=True, exist_ok=True)
    scp, durs, text, spk = [], [], [], {k: [] for k in range(1, 6)}
    for i in range(n_clips):
        clip, cls = f"{name}_{i:03d}", i % len(CLASSES)
        seconds = round(float(rng.uniform(0.4, 1.2)), 2)
        path = wavs / f"{clip}.wav"
        sf.write(path, class_wave(rng, cls, seconds), 16000, subtype="FLOAT")
        scp.append(f"{clip} {path}\n")
        durs.append(f"{clip} {seconds}\n")
        for k, cap in enumerate(CLASSES[cls], 1):
            text.append(f"{clip}#{k} {cap}\n")
            spk[k].append(f"{clip} {cap}\n")
    (data / "wav.scp").write_text("".join(scp))
    (data / "utt2dur").write_text("".join(durs))
    if training:
        (data / "text").write_text("".join(text))
    for k, lines in spk.items():
        (data / f"text_spk{k}").write_text("".join(lines))
    return data


def tiny_decoder(d_model: int = 32, layers: int = 2, max_length: int = 10):
    """A ModelConf small enough for tests: 2 heads, FFN 2 x d_model, no dropout."""
    from aac.model import ModelConf

    return ModelConf(
        d_model=d_model,
        decoder_layers=layers,
        decoder_attention_heads=2,
        decoder_ffn_dim=2 * d_model,
        dropout=0.0,
        attention_dropout=0.0,
        max_target_length=max_length,
    )


def tiny_text_model(path: Path, words=()) -> Path:
    """A one-layer BERT sentence-embedding model dir (16 dims), for tests that need a text
    encoder without the 90 MB all-MiniLM-L6-v2."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    path.mkdir(parents=True, exist_ok=True)
    words = sorted({w for c in CLASSES for cap in c for w in cap.split()} | set(words))
    (path / "vocab.txt").write_text(
        "\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + words)
    )
    BertTokenizerFast(vocab_file=str(path / "vocab.txt")).save_pretrained(path)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=5 + len(words),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
    )
    BertModel(config).save_pretrained(path)
    return path
