from dataclasses import dataclass, field
from typing import List, Optional

import pytest

from aac.config import (
    ConfigError,
    apply_overrides,
    build,
    choice,
    dump_yaml,
    load_config,
    load_yaml,
)


@dataclass
class OptimConf:
    lr: float = 2e-4
    epochs: int = 10
    amp: bool = True


@dataclass
class TrainConf:
    optim: OptimConf = field(default_factory=OptimConf)
    encoder: str = "pann_cnn14"
    encoder_conf: dict = field(default_factory=dict)
    layers: List[int] = field(default_factory=lambda: [1, 2])
    checkpoint: Optional[str] = None


def write(tmp_path, text):
    p = tmp_path / "conf.yaml"
    p.write_text(text)
    return p


def test_precedence_defaults_yaml_overrides(tmp_path):
    p = write(tmp_path, "optim:\n  lr: 1.0e-3\n  epochs: 3\nencoder: beats\n")
    conf = load_config(TrainConf, p, ["optim.epochs=7", "checkpoint=/x.pt"])
    assert conf.optim.lr == 1e-3  # YAML beats default
    assert conf.optim.epochs == 7  # override beats YAML
    assert conf.optim.amp is True  # default kept
    assert conf.encoder == "beats" and conf.checkpoint == "/x.pt"


def test_unknown_key_names_key_and_file(tmp_path):
    p = write(tmp_path, "optim:\n  lrr: 1.0\n")
    with pytest.raises(ConfigError, match=r"conf.yaml.*optim\.lrr"):
        load_config(TrainConf, p)


def test_duplicate_key_names_line(tmp_path):
    p = write(tmp_path, "encoder: a\nencoder: b\n")
    with pytest.raises(ConfigError, match=r"conf.yaml:2: duplicate key 'encoder'"):
        load_yaml(p)


@pytest.mark.parametrize(
    "text, key",
    [
        ("optim:\n  epochs: 2.5\n", "optim.epochs"),
        ("optim:\n  amp: 1\n", "optim.amp"),
        ("optim:\n  lr: fast\n", "optim.lr"),
        ("layers: 3\n", "layers"),
        ("optim: 3\n", "optim"),
    ],
)
def test_wrong_types_are_errors(tmp_path, text, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(TrainConf, write(tmp_path, text))


def test_int_accepted_for_float_and_free_dict_passes(tmp_path):
    conf = load_config(TrainConf, write(tmp_path, "optim:\n  lr: 1\nencoder_conf: {a: 1}\n"))
    assert conf.optim.lr == 1.0 and isinstance(conf.optim.lr, float)
    assert conf.encoder_conf == {"a": 1}


def test_bad_override_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="key.sub=value"):
        apply_overrides({}, ["novalue"])
    with pytest.raises(ConfigError, match="not found"):
        load_config(TrainConf, tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_yaml(write(tmp_path, "- a\n- b\n"))


def test_dump_roundtrip(tmp_path):
    conf = build(TrainConf, {"optim": {"lr": 0.5}})
    dump_yaml(conf, tmp_path / "out.yaml")
    assert load_config(TrainConf, tmp_path / "out.yaml") == conf
    assert not list(tmp_path.glob("*.tmp"))


@dataclass
class Chosen:
    mode: str = choice("a", ("a", "b"))


def test_choice_fields_take_only_their_values(tmp_path):
    assert load_config(Chosen).mode == "a"
    assert load_config(Chosen, write(tmp_path, "mode: b\n")).mode == "b"
    with pytest.raises(ConfigError, match=r"conf\.yaml: mode must be one of a, b, got 'c'$"):
        load_config(Chosen, write(tmp_path, "mode: c\n"))
    with pytest.raises(ValueError, match="not one of"):
        choice("z", ("a", "b"))  # a default outside its own choices is a bug
