import re
import sys

import pytest
import torch
from caption_fixtures import make_experiment_inputs, train_argv, write_yaml

from aac.bin.train import main as train_main
from aac.checkpoint_io import load_checkpoint
from aac.dataset import GlobalBatchSampler
from aac.train.distributed import SRUN_MARK, first_host, launch_command


def step_losses(exp_dir):
    text = (exp_dir / "train.log").read_text()
    return [float(x) for x in re.findall(r"step \d+ loss ([0-9.]+)", text)]


@pytest.mark.slow
def test_two_cpu_processes_match_one(tmp_path):
    inputs = make_experiment_inputs(tmp_path)  # 60 captions: 7 full batches of 8 + one of 4
    cfg = write_yaml(tmp_path / "train.yaml", epochs=2, batch_size=8, dropout=0.0)
    assert train_main(train_argv(inputs, cfg, tmp_path / "one")) == 0
    assert train_main(train_argv(inputs, cfg, tmp_path / "two", "--nproc", "2")) == 0
    one, two = step_losses(tmp_path / "one"), step_losses(tmp_path / "two")
    assert len(one) == len(two) == 16
    assert one == pytest.approx(two, rel=1e-4, abs=1e-5)
    a = load_checkpoint(tmp_path / "one/checkpoints/last.pt")["model"]
    b = load_checkpoint(tmp_path / "two/checkpoints/last.pt")["model"]
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-4), key
    assert "launching" not in (tmp_path / "two/train.log").read_text()


@pytest.mark.parametrize("world", [1, 2, 3])
def test_sampler_covers_every_example_once_and_matches_global_batches(world):
    n, batch = 23, 6
    per_rank = []
    for rank in range(world):
        s = GlobalBatchSampler(n, batch, seed=1, rank=rank, world_size=world)
        s.set_epoch(4)
        per_rank.append(list(s))
    single = GlobalBatchSampler(n, batch, seed=1)
    single.set_epoch(4)
    for step, global_batch in enumerate(single):
        merged = [i for r in range(world) for i in per_rank[r][step]]
        assert merged == global_batch  # every step: ranks together == the global batch
    other = GlobalBatchSampler(n, batch, seed=1)
    other.set_epoch(5)
    assert list(other) != list(single)
    other.set_epoch(4, start_batch=2)
    assert list(other) == list(single)[2:]


def test_launch_commands():
    argv = ["--config", "c.yaml"]
    assert launch_command(argv, 1, 1, env={}) is None
    assert launch_command(argv, 4, 1, env={"LOCAL_RANK": "0"}) is None
    cmd = launch_command(argv, 2, 1, env={})
    assert cmd[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert "--nproc_per_node=2" in cmd and cmd[-3:] == ["aac.bin.train", *argv]
    cmd = launch_command(argv + ["--nproc", "2", "--nproc=2"], 2, 1, env={})
    assert cmd[-3:] == ["aac.bin.train", *argv]
    srun = launch_command(argv, 4, 2, env={})
    assert srun[0] == "srun" and "--nodes=2" in srun and "--ntasks-per-node=1" in srun
    env = {
        SRUN_MARK: "1",
        "SLURM_NTASKS": "2",
        "SLURM_NODEID": "1",
        "SLURM_PROCID": "1",
        "SLURM_JOB_NODELIST": "gpu[07-08]",
        "SLURM_JOB_ID": "123",
    }
    node = launch_command(argv, 4, 2, env=env)
    assert {
        "--nnodes=2",
        "--node_rank=1",
        "--master_addr=gpu07",
        "--master_port=20123",
        "--nproc_per_node=4",
    } <= set(node)
    with pytest.raises(RuntimeError, match="SLURM_NTASKS"):
        launch_command(argv, 4, 3, env=env)


@pytest.mark.parametrize(
    "nodelist,host",
    [("n1", "n1"), ("gpu[03-05,09]", "gpu03"), ("a[1,4],b2", "a1"), ("node-7,node-9", "node-7")],
)
def test_first_host(nodelist, host):
    assert first_host(nodelist) == host
