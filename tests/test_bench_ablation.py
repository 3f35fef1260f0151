"""benchmarks/ablation.py: its table from fake score files, its rows and run commands."""

import importlib.util
import json
import statistics
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("ablation", ROOT / "benchmarks" / "ablation.py")
ablation = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ablation)


def fake_run(exp: Path, row: str, seed: int, cider, baseline=0.05, dtag="decode_beam4_best_ds1"):
    out = exp / f"finetune_{ablation.tag(row, seed)}" / dtag / ablation.TEST_SET
    out.mkdir(parents=True)
    record = {"cider_d": cider, "constant_baseline": {"cider_d": baseline, "caption": "a"}}
    (out / "scores.json").write_text(json.dumps(record))


def test_table_has_mean_sample_std_per_seed_and_the_baseline(tmp_path):
    plain, mixup = [0.10, 0.14, 0.12], [0.20, 0.26]
    for seed, value in enumerate(plain):
        fake_run(tmp_path, "plain", seed, value)
    for seed, value in enumerate(mixup):
        fake_run(tmp_path, "mixup", seed, value, baseline=0.07)
    text = ablation.table(tmp_path, ["plain", "mixup", "conformer"], [0, 1, 2])
    rows = {line.split("|")[1].strip(): line for line in text.splitlines()[4:]}
    mean, std = statistics.mean(plain), statistics.stdev(plain)
    assert (
        f"| 3 of 3 | {mean:.3f} ± {std:.3f} | 0: 0.100, 1: 0.140, 2: 0.120 | 0.050 |"
        in (rows["plain"])
    )
    mean, std = statistics.mean(mixup), statistics.stdev(mixup)
    assert (
        f"| 2 of 3 | {mean:.3f} ± {std:.3f} |" in rows["+ mixup"] and "0.070 |" in rows["+ mixup"]
    )
    assert rows["+ conformer"].endswith("| 0 of 3 | n/a | - | n/a |")
    assert "seeds 0, 1, 2" in text.splitlines()[0]


def test_a_score_file_without_cider_counts_as_not_done(tmp_path):
    fake_run(tmp_path, "all", 0, None)
    fake_run(tmp_path, "all", 1, 0.3, dtag="decode_beam4_best_ds1_decode_rerank")
    text = ablation.table(tmp_path, ["all"], [0, 1])
    assert "| all | 1 of 2 | 0.300 ± 0.000 | 1: 0.300 |" in text


def test_table_only_writes_the_named_file(tmp_path, capsys):
    fake_run(tmp_path / "exp", "plain", 0, 0.2)
    out = tmp_path / "table.md"
    argv = ["--table-only", "--recipe", str(tmp_path), "--seeds", "0", "--rows", "plain"]
    assert ablation.main([*argv, "--output", str(out)]) == 0
    assert "| plain | 1 of 1 | 0.200 ± 0.000 |" in out.read_text()


@pytest.mark.parametrize("row", ablation.ROWS)
def test_each_row_runs_its_lever_alone(row, tmp_path):
    command = ablation.run_command(row, 4, tmp_path / "lp.yaml", ["--nj", "1"], ["optim.epochs=1"])
    assert f"--tag ablation_{row}_seed4" in command and "seed=4" in command
    assert command.endswith('optim.epochs=1"')
    assert "--stop_stage 7" in command and "--nj 1" in command
    overrides, decode = ablation.row_settings(row)
    others = {k: v for k, v in ablation.LEVERS.items() if k != row}
    if row == "all":
        assert all(o in command for opts in ablation.LEVERS.values() for o in opts)
        assert "--decode_config conf/decode_rerank.yaml" in command
    else:
        assert not any(o in command for opts in others.values() for o in opts)
        assert ("--decode_config" in command) == (row == "rerank")
        assert all(o in command for o in overrides)


def test_dry_run_prints_every_run_and_writes_no_table(tmp_path, capsys):
    argv = ["--dry-run", "--recipe", str(tmp_path), "--seeds", "0", "1", "--rows", "plain", "all"]
    assert ablation.main(argv) == 0
    assert capsys.readouterr().out.count("[ablation]") == 4
    assert not (tmp_path / "exp").exists()  # no table, no decode config
