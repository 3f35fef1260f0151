"""The flag contract: every entry point's parser against README.md's flag table.

Entry points come from setup.py's console scripts; each module's parser factory is
`get_parser`. A flag in two or more tools must be in the table, the table's tools column
must be exactly the tools whose parser has the flag, the contract flags must come from
their helper in aac.cli (so they parse alike everywhere), and no tool keeps a hidden
(deprecated) spelling.
"""

import argparse
import ast
import importlib
import re
from pathlib import Path

import pytest

from aac import cli

ROOT = Path(__file__).resolve().parents[1]


def entry_points() -> dict:
    """console script name -> aac.bin module name, read from setup.py without running it."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "STAGES":
            return ast.literal_eval(node.value)
    raise AssertionError("setup.py: no STAGES table of console scripts")


def parsers() -> dict:
    out = {}
    for script, module in entry_points().items():
        mod = importlib.import_module(f"aac.bin.{module}")
        assert not hasattr(mod, "build_parser"), f"aac.bin.{module}: the factory is get_parser"
        parser = mod.get_parser()
        assert parser.prog == script, f"aac.bin.{module}: prog {parser.prog!r} != {script!r}"
        out[script] = parser
    return out


def options(parser) -> dict:
    """--flag -> its argparse action (every option string; -h/--help left out)."""
    return {
        o: a
        for a in parser._actions
        if not isinstance(a, argparse._HelpAction)
        for o in a.option_strings
        if o.startswith("--")
    }


def readme_table() -> dict:
    """README.md '## Flags' table: --flag -> set of tools named in its tools column."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Flags\n", 1)[1].split("\n## ", 1)[0]
    table = {}
    for line in section.splitlines():
        m = re.match(r"\| `(--[a-z0-9-]+)` \|(.*)\|(.*)\|$", line)
        if m:
            assert m.group(1) not in table, f"README flag table: {m.group(1)} twice"
            table[m.group(1)] = set(re.findall(r"`(aac-[a-z-]+)`", m.group(3)))
    assert table, "README.md has no flag table"
    return table


def contract_actions() -> dict:
    """--flag -> action, as the aac.cli helpers make them."""
    p = argparse.ArgumentParser()
    cli.add_model_options(p)
    cli.add_device(p)
    cli.add_storage_dtype(p, "x")
    cli.add_exp_dir(p)
    cli.add_downsample(p, "x")
    cli.add_launch_options(p)
    cli.add_rerank_options(p)
    return options(p)


@pytest.fixture(scope="module")
def tools():
    return {script: options(p) for script, p in parsers().items()}


def test_readme_table_names_exactly_the_tools_of_each_flag(tools):
    table = readme_table()
    for flag, listed in table.items():
        having = {t for t, opts in tools.items() if flag in opts}
        assert having, f"README lists {flag}, which no tool has"
        assert listed == having, (
            f"{flag}: README lists {sorted(listed)}, parsers have {sorted(having)}"
        )
    shared = {f for opts in tools.values() for f in opts}
    shared = {f for f in shared if sum(f in opts for opts in tools.values()) > 1}
    assert not shared - set(table), (
        f"flags of several tools missing from README: {shared - set(table)}"
    )
    assert set(contract_actions()) <= set(table)


def test_contract_flags_come_from_their_helper(tools):
    for flag, ref in contract_actions().items():
        for tool, opts in tools.items():
            action = opts.get(flag)
            if action is None:
                continue
            assert getattr(action, "contract_flag", None) == flag, (
                f"{tool} {flag}: add it with its aac.cli helper"
            )
            for attr in ("dest", "type", "choices", "nargs", "required"):
                assert getattr(action, attr) == getattr(ref, attr), f"{tool} {flag}: {attr}"
            assert type(action) is type(ref), f"{tool} {flag}: action"


def test_no_hidden_or_old_spellings(tools):
    for tool, opts in tools.items():
        hidden = sorted(o for o, a in opts.items() if a.help == argparse.SUPPRESS)
        assert not hidden, f"{tool}: hidden options {hidden}"
        for old in ("--dtype", "--model-checkpoint"):
            assert old not in opts, f"{tool}: {old}"
    # one meaning per name: --checkpoint never names an encoder, --downsample never the
    # extraction stride, and the paper tables take a root of experiments as --exp-root
    assert "--checkpoint" not in tools["aac-extract-feats"]
    assert "--downsample" not in tools["aac-extract-feats"]
    assert "--exp-dir" not in tools["aac-paper-results"]
    assert all(
        a.dest == "checkpoint" for t in tools.values() for o, a in t.items() if o == "--checkpoint"
    )


def test_new_model_flags_reach_decode_and_scenarios():
    decode = importlib.import_module("aac.bin.decode").get_parser()
    args = decode.parse_args(
        ["--exp-dir", "e", "--data-dir", "d", "--feats", "f", "--output-dir", "o"]
        + ["--encoder-checkpoint", "enc.pt", "--compute-dtype", "bfloat16"]
    )
    assert (args.encoder_checkpoint, args.compute_dtype) == ("enc.pt", "bfloat16")
    scenarios = importlib.import_module("aac.bin.scenarios").get_parser()
    args = scenarios.parse_args(
        ["m", "--suite", "s.yaml", "--output-dir", "o", "--trust-checkpoint"]
        + ["--compute-dtype", "bfloat16"]
    )
    assert args.trust_checkpoint and args.compute_dtype == "bfloat16"
    assert args.checkpoint == "best"


def imported_modules(path: Path) -> set:
    """Modules a source file imports (absolute imports, at any depth of the file)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return out


def test_imports_go_down_only():
    """No CLI imports another CLI; only aac-make-mini-corpus imports the mini corpus
    generator; nothing in the package imports the test helpers."""
    for path in sorted((ROOT / "aac").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        mods = imported_modules(path)
        assert not {m for m in mods if m.startswith("aac.bin")}, f"{rel} imports a CLI"
        assert not {m for m in mods if m.startswith("aac.testing")}, f"{rel} imports aac.testing"
        if not rel.startswith("aac/mini/") and rel != "aac/bin/make_mini_corpus.py":
            assert not {m for m in mods if m.startswith("aac.mini")}, f"{rel} imports aac.mini"
