"""Distributed launch: relaunch through torchrun (one node) or srun + torchrun (Slurm).

`aac-train --ngpu N` / `--nproc N` re-executes itself with `python -m torch.distributed.run`
(N processes, NCCL on GPU, gloo on CPU). With `--num-nodes M` under Slurm it first goes
through `srun` with one task per node; each task starts torchrun with
`--node_rank=$SLURM_NODEID --nnodes=$SLURM_NTASKS` and the first host of
`$SLURM_JOB_NODELIST` as rendezvous address. The worker processes see `LOCAL_RANK` and
train; the launcher only waits and returns their exit status.
"""

from __future__ import annotations

import datetime
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from typing import List, Optional

import torch

SRUN_MARK = "AAC_SRUN_TASK"  # set on the srun tasks so they start torchrun, not srun again


@dataclass
class DistInfo:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    device: str = "cpu"

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def first_host(nodelist: str) -> str:
    """First host of a Slurm compact node list: 'gpu[03-05,09],cpu1' -> 'gpu03'."""
    match = re.match(r"([^,\[]+)(?:\[([^\]]+)\])?", nodelist.strip())
    if not match:
        raise ValueError(f"cannot parse SLURM_JOB_NODELIST {nodelist!r}")
    prefix, ranges = match.group(1), match.group(2)
    if not ranges:
        return prefix
    return prefix + ranges.split(",")[0].split("-")[0]


def _without_nproc(argv: List[str]) -> List[str]:
    """Drop `--nproc N`: workers do not need it, and torchrun's parser rejects it as an
    ambiguous abbreviation of its own --nproc-per-node."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            out.append(arg)
    return out


def _torchrun(nproc: int, extra: List[str], argv: List[str], module: str) -> List[str]:
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        f"--nproc_per_node={nproc}",
        *extra,
        "-m",
        module,
        *_without_nproc(argv),
    ]


def launch_command(
    argv: List[str],
    nproc: int,
    num_nodes: int,
    env: Optional[dict] = None,
    module: str = "aac.bin.train",
) -> Optional[List[str]]:
    """The command to relaunch `python -m module` with, or None when this process trains."""
    env = os.environ if env is None else env
    if "LOCAL_RANK" in env:  # already a torchrun worker
        return None
    if num_nodes > 1:
        if env.get(SRUN_MARK) != "1":
            return [
                "srun",
                f"--nodes={num_nodes}",
                f"--ntasks={num_nodes}",
                "--ntasks-per-node=1",
                "env",
                f"{SRUN_MARK}=1",
                sys.executable,
                "-m",
                module,
                *argv,
            ]
        nnodes = int(env["SLURM_NTASKS"])
        if nnodes != num_nodes:
            raise RuntimeError(f"--num-nodes {num_nodes} but SLURM_NTASKS={nnodes}")
        port = env.get("MASTER_PORT") or str(20000 + int(env.get("SLURM_JOB_ID", "0")) % 20000)
        extra = [
            f"--nnodes={nnodes}",
            f"--node_rank={env['SLURM_NODEID']}",
            f"--master_addr={first_host(env['SLURM_JOB_NODELIST'])}",
            f"--master_port={port}",
        ]
        return _torchrun(nproc, extra, argv, module)
    if nproc > 1:
        return torchrun_command(nproc, argv, module)
    return None


def torchrun_command(nproc: int, argv: List[str], module: str) -> List[str]:
    """`python -m module argv` under torchrun on this node alone (`--standalone`): what
    `launch_command` runs for `--nproc N`, and what a check of one process starts."""
    return _torchrun(nproc, ["--standalone", "--nnodes=1"], argv, module)


def relaunch(cmd: List[str]) -> int:
    print("launching: " + " ".join(cmd), file=sys.stderr, flush=True)
    return subprocess.run(cmd).returncode


def init_distributed(ngpu: int, join_alone: bool = False) -> DistInfo:
    """Join the process group when started by torchrun; pick this process's device.

    A world of one process joins no group unless `join_alone` (a check that the backend
    starts: NCCL on GPU, gloo on CPU); training does not need one then.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = ngpu > 0
    if use_cuda and not torch.cuda.is_available():
        raise RuntimeError("--ngpu > 0 but CUDA is not available")
    device = f"cuda:{local_rank}" if use_cuda else "cpu"
    if use_cuda:
        torch.cuda.set_device(local_rank)
    if world > 1 or join_alone:
        torch.distributed.init_process_group(
            backend="nccl" if use_cuda else "gloo", timeout=datetime.timedelta(hours=2)
        )
    return DistInfo(rank=rank, local_rank=local_rank, world_size=world, device=device)


def barrier(dist: DistInfo) -> None:
    if dist.enabled:
        torch.distributed.barrier()


def all_reduce_sum(tensor: torch.Tensor, dist: DistInfo) -> torch.Tensor:
    if dist.enabled:
        torch.distributed.all_reduce(tensor, op=torch.distributed.ReduceOp.SUM)
    return tensor


def shutdown(dist: DistInfo) -> None:
    if torch.distributed.is_initialized():  # also a group of one (`join_alone`)
        torch.distributed.destroy_process_group()
