"""utils/parse_options.sh: ESPnet-style option parsing for recipe scripts."""

import subprocess
from pathlib import Path

PARSE_OPTIONS = Path(__file__).resolve().parents[1] / "utils" / "parse_options.sh"

# A caller in the ESPnet manner: defaults, help message, then the parser.
CALLER = """set -euo pipefail
stage=1
nj=4
use_gpu=false
feats_type=raw
help_message="Usage: $0 [options] <data-dir>
  --stage N   --nj N   --use_gpu true|false   --feats-type T"
. {parse}
echo "stage=$stage nj=$nj use_gpu=$use_gpu feats_type=$feats_type"
echo "rest=$*"
"""


def call(tmp_path, *args):
    script = tmp_path / "caller.sh"
    script.write_text(CALLER.format(parse=PARSE_OPTIONS))
    return subprocess.run(
        ["bash", str(script), *map(str, args)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_defaults_and_positional_args_untouched(tmp_path):
    res = call(tmp_path, "data/x", "y")
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == ["stage=1 nj=4 use_gpu=false feats_type=raw", "rest=data/x y"]


def test_dash_underscore_and_equals_forms(tmp_path):
    res = call(
        tmp_path, "--stage", 3, "--feats-type", "fbank", "--nj=8", "--use_gpu", "true", "data/x"
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == ["stage=3 nj=8 use_gpu=true feats_type=fbank", "rest=data/x"]


def test_values_with_spaces_and_dashes_are_kept(tmp_path):
    res = call(tmp_path, "--feats-type", "a b --c", "--", "--not-an-option")
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == [
        "stage=1 nj=4 use_gpu=false feats_type=a b --c",
        "rest=--not-an-option",
    ]


def test_unknown_option_is_an_error_with_usage(tmp_path):
    res = call(tmp_path, "--stgae", 3)
    assert res.returncode == 1
    assert "unknown option --stgae" in res.stderr and "Usage:" in res.stderr
    assert res.stdout == ""


def test_boolean_needs_true_or_false(tmp_path):
    res = call(tmp_path, "--use-gpu", "yes")
    assert res.returncode == 1 and "true or false" in res.stderr


def test_missing_value_is_an_error(tmp_path):
    res = call(tmp_path, "--nj")
    assert res.returncode == 1 and "--nj needs a value" in res.stderr


def test_help_prints_the_callers_message(tmp_path):
    res = call(tmp_path, "--help")
    assert res.returncode == 0
    assert res.stdout.startswith("Usage: ") and "--feats-type T" in res.stdout
    assert "stage=" not in res.stdout


def test_config_file_is_sourced_and_command_line_wins(tmp_path):
    (tmp_path / "opts.conf").write_text("nj=16\nfeats_type=from_file\n")
    res = call(tmp_path, "--feats-type", "cli", "--config", "opts.conf", "d")
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[0] == "stage=1 nj=16 use_gpu=false feats_type=cli"


def test_missing_config_file_is_an_error(tmp_path):
    res = call(tmp_path, "--config", "nope.conf")
    assert res.returncode == 1 and "nope.conf" in res.stderr


def test_option_name_cannot_inject_code(tmp_path):
    res = call(tmp_path, "--nj;touch_pwned", 1)
    assert res.returncode == 1 and not (tmp_path / "touch_pwned").exists()
