"""Strict YAML configuration on top of dataclasses.

Precedence: dataclass defaults < YAML file < command-line overrides (`key.sub=value`).
Unknown keys, duplicate keys and wrong types are errors naming the key and the file, so a
typo can never silently become a default.

    @dataclass
    class OptimConf:
        lr: float = 2e-4
    conf = load_config(TrainConf, "conf/train.yaml", ["optim.lr=1e-3"])

Fields typed `dict` (e.g. `encoder_conf`) are passed through unchecked: the component
selected by the registry validates them with its own dataclass via `build()`.

A field with a fixed set of values declares it beside its default, and `build()` refuses
any other value, naming the key and the file:

    decay: str = choice("linear", LR_DECAYS)
"""

from __future__ import annotations

import dataclasses
import io
import os
import typing
from typing import Any, Iterable, Optional, Type, TypeVar

import yaml

from aac.atomic import write_text_atomic
from aac.errors import AacError
from aac.limits import CONFIG_BYTES, InputTooLarge, read_text_capped, short_repr

T = TypeVar("T")
CHOICES = "choices"  # dataclass field metadata key: the allowed values of the field
# Enumerations that flags (aac.cli) and the code behind them share, defined once here at the
# bottom layer so that a light CLI parser does not import torch to list them.
COMPUTE_DTYPES = ("float32", "bfloat16")  # --compute-dtype: what the model computes in
STORAGE_DTYPES = ("float32", "float16")  # --storage-dtype: what a feature cache stores


def choice(default: Any, options: Iterable[Any]) -> Any:
    """A dataclass field that only takes one of `options` (checked by `build`)."""
    options = tuple(options)
    if default not in options:
        raise ValueError(f"default {default!r} is not one of {options}")
    return dataclasses.field(default=default, metadata={CHOICES: options})


def _check_choice(f: dataclasses.Field, value: Any, key: str, source: str) -> Any:
    options = f.metadata.get(CHOICES)
    if options is not None and value not in options:
        allowed = ", ".join(map(str, options))
        raise ConfigError(f"{source}: {key} must be one of {allowed}, got {value!r}")
    return value


class ConfigError(AacError, ValueError):
    """Bad configuration; the message names the key and where it came from."""


# Nodes a document may hold once its aliases are expanded (configs hold a few hundred). The
# safe loader builds `&a [x, x]`, `&b [*a, *a]`, ... as shared references in microseconds,
# but anything that walks the value (repr, copying, type checks) pays for the expansion:
# nine such lines of ten aliases are a billion nodes.
MAX_EXPANDED_NODES = 100_000


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate mapping keys (PyYAML silently keeps the last) and
    documents whose aliases expand to more than MAX_EXPANDED_NODES nodes."""

    def __init__(self, stream):
        super().__init__(stream)
        self._expanded: dict = {}  # node -> its node count with aliases expanded

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            node = super().compose_node(parent, index)
            if node not in self._expanded:  # the alias points into its own anchor
                raise ConfigError(f"{mark.name}:{mark.line + 1}: recursive YAML alias")
            return node
        node = super().compose_node(parent, index)
        if isinstance(node, yaml.SequenceNode):
            size = 1 + sum(self._expanded[child] for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            size = 1 + sum(self._expanded[k] + self._expanded[v] for k, v in node.value)
        else:
            size = 1
        if size > MAX_EXPANDED_NODES:
            mark = node.start_mark
            raise ConfigError(
                f"{mark.name}:{mark.line + 1}: refused: YAML aliases expand this value to "
                f"{size} nodes, more than the {MAX_EXPANDED_NODES} a config may hold"
            )
        self._expanded[node] = size
        return node


def _construct_mapping(loader, node, deep=False):
    seen = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if not isinstance(key, typing.Hashable):
            continue  # the base constructor refuses it with its own message
        if key in seen:
            mark = key_node.start_mark
            raise ConfigError(f"{mark.name}:{mark.line + 1}: duplicate key {short_repr(key)}")
        seen[key] = True
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def parse_yaml(text: str, name: str) -> Any:
    """One YAML document through the strict loader; `name` is what error marks show."""
    stream = io.StringIO(text)
    stream.name = name  # PyYAML's marks name the stream by this attribute
    try:
        return yaml.load(stream, Loader=_StrictLoader)
    except yaml.YAMLError as e:
        raise ConfigError(f"{name}: invalid YAML: {e}") from None


def load_yaml(path: str | os.PathLike) -> dict:
    """Load a YAML mapping of at most CONFIG_BYTES; duplicate keys, alias expansion past
    MAX_EXPANDED_NODES and non-mapping documents are errors."""
    try:
        text = read_text_capped(path, CONFIG_BYTES, "config file")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except InputTooLarge as e:
        raise ConfigError(str(e)) from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    data = parse_yaml(text, str(path))
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    return data


def apply_overrides(data: dict, overrides: Iterable[str], source: str = "command line") -> dict:
    """Apply `a.b.c=value` overrides (value parsed as YAML) to a nested dict, in place."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"{source}: override {short_repr(item)} must look like key.sub=value")
        dotted, raw = item.split("=", 1)
        keys = dotted.strip().split(".")
        if not all(keys):
            raise ConfigError(f"{source}: override {short_repr(item)} has an empty key")
        node = data
        for k in keys[:-1]:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                raise ConfigError(
                    f"{source}: override {short_repr(item)}: {short_repr(k)} is not a section"
                )
        node[keys[-1]] = parse_yaml(raw, f"{source}: {dotted.strip()}") if raw.strip() else None
    return data


def _check_type(value: Any, tp: Any, key: str, source: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin is typing.Union:
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _check_type(value, arg, key, source)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(
            errors[0] if errors else f"{source}: {key}: bad value {short_repr(value)}"
        )
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: {key} must be a mapping, got {short_repr(value)}")
        return build(tp, value, source, prefix=key + ".")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{source}: {key} must be a list, got {short_repr(value)}")
        inner = args[0] if args else Any
        return [_check_type(v, inner, f"{key}[{i}]", source) for i, v in enumerate(value)]
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: {key} must be a mapping, got {short_repr(value)}")
        return dict(value)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{source}: {key} must be a number, got {short_repr(value)}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{source}: {key} must be an integer, got {short_repr(value)}")
        return value
    if tp in (str, bool):
        if not isinstance(value, tp):
            raise ConfigError(f"{source}: {key} must be {tp.__name__}, got {short_repr(value)}")
        return value
    return value


def build(cls: Type[T], data: Optional[dict], source: str = "<dict>", prefix: str = "") -> T:
    """Build dataclass `cls` from a nested dict, rejecting unknown keys and wrong types."""
    data = dict(data or {})
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names, key=str)
    if unknown:
        raise ConfigError(
            f"{source}: unknown key '{short_repr(prefix + str(unknown[0]))[1:-1]}' "
            f"(known: {', '.join(sorted(names))})"
        )
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            value = _check_type(data[f.name], hints[f.name], prefix + f.name, source)
            kwargs[f.name] = _check_choice(f, value, prefix + f.name, source)
    return cls(**kwargs)


def load_config(
    cls: Type[T], path: Optional[str | os.PathLike] = None, overrides: Iterable[str] = ()
) -> T:
    """Defaults < YAML at `path` < `overrides`; returns a validated `cls` instance."""
    data = load_yaml(path) if path else {}
    source = str(path) if path else "defaults"
    overrides = list(overrides)
    if overrides:
        apply_overrides(data, overrides)
        source += " + command-line overrides"
    return build(cls, data, source)


def to_dict(conf: Any) -> dict:
    return dataclasses.asdict(conf)


def dump_yaml(data: Any, path: str | os.PathLike) -> None:
    """Write YAML atomically; `data` may be a dataclass."""
    if dataclasses.is_dataclass(data):
        data = dataclasses.asdict(data)
    write_text_atomic(path, yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
