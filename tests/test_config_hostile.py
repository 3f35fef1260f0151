"""Hostile configs fail fast: alias bombs are refused while composing, values in error
messages are cut short, oversized files are refused before they are read."""

import pytest

from aac import config as config_mod
from aac.config import ConfigError, apply_overrides, build, load_config, load_yaml
from aac.expconf import TrainConf
from aac.limits import REPR_CHARS


def laughs(levels: int = 9, width: int = 10) -> str:
    """A value whose aliases expand to width**levels nodes, as one YAML flow list."""
    items = ["&l0 [" + ", ".join(["lol"] * width) + "]"]
    for k in range(1, levels):
        items.append(f"&l{k} [" + ", ".join([f"*l{k - 1}"] * width) + "]")
    return "[" + ", ".join(items) + "]"


def test_alias_bomb_config_is_refused_naming_file_and_line(tmp_path):
    text = f"model: {{}}\noptim:\n  epochs: 3\n  lr: {laughs()}\n"
    assert len(text.encode()) < 600  # the crafted file: about 500 bytes
    path = tmp_path / "bomb.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(TrainConf, path)
    message = str(err.value)
    assert len(message) < 400
    assert f"{path}:4:" in message and "aliases expand" in message


def test_aliases_below_the_bound_still_load(tmp_path):
    path = tmp_path / "shared.yaml"
    path.write_text("base: &b {lr: 1.0e-3, epochs: 2}\nother: *b\n")
    assert load_yaml(path)["other"] == {"lr": 1e-3, "epochs": 2}


def test_recursive_alias_is_refused(tmp_path):
    path = tmp_path / "loop.yaml"
    path.write_text("optim:\n  lr: &a [1, *a]\n")
    with pytest.raises(ConfigError, match=r"loop.yaml:2: recursive YAML alias"):
        load_yaml(path)


def test_alias_bound_applies_to_overrides():
    with pytest.raises(ConfigError, match="aliases expand"):
        apply_overrides({}, [f"optim.lr={laughs()}"])


@pytest.mark.parametrize(
    "value",
    [list(range(200_000)), "x" * 1_000_000, {f"k{i}": [i] * 10 for i in range(50_000)}],
    ids=["list", "string", "mapping"],
)
def test_wrong_type_message_shows_a_short_prefix(value):
    with pytest.raises(ConfigError) as err:
        build(TrainConf, {"optim": {"lr": value}}, source="conf.yaml")
    message = str(err.value)
    assert message.startswith("conf.yaml: optim.lr must be a number, got ")
    assert len(message) < len("conf.yaml: optim.lr must be a number, got ") + REPR_CHARS + 1


def test_long_unknown_key_is_cut():
    with pytest.raises(ConfigError, match="unknown key 'yyy") as err:
        build(TrainConf, {"y" * 100_000: 1}, source="conf.yaml")
    assert len(str(err.value)) < 1000


def test_mixed_type_unknown_keys_are_a_config_error():
    with pytest.raises(ConfigError, match="unknown key '1'"):
        build(TrainConf, {1: "a", "zz": 2}, source="conf.yaml")


def test_oversized_config_file_is_refused_before_parsing(tmp_path, monkeypatch):
    monkeypatch.setattr(config_mod, "CONFIG_BYTES", 1000)
    path = tmp_path / "big.yaml"
    path.write_text("seed: 1\n" + "#" * 2000 + "\n")
    with pytest.raises(ConfigError, match=r"big.yaml: config file is 2009 bytes, more than"):
        load_yaml(path)
