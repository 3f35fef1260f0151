"""utils/slurm.pl against a real Slurm (utils/slurm_localhost.sh start brings one up):
failure reports, resource mapping, and split feature caching equal to a run.pl run."""

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
UTILS = ROOT / "utils"
SLURM_CONF = ROOT / "egs2" / "TEMPLATE" / "aac1" / "conf" / "slurm.conf"


def slurm_state():
    """The node state from sinfo, or why Slurm cannot be used."""
    if shutil.which("sinfo") is None:
        return None, "sinfo not found"
    try:
        res = subprocess.run(
            ["sinfo", "-h", "-N", "-o", "%T"], capture_output=True, text=True, timeout=10
        )
    except subprocess.TimeoutExpired:
        return None, "sinfo timed out"
    state = res.stdout.strip().splitlines()[0] if res.stdout.strip() else ""
    if res.returncode != 0 or not state.startswith(("idle", "mixed", "allocated")):
        return None, f"sinfo: {(res.stderr or state).strip()}"
    return state, ""


_STATE, _WHY = slurm_state()
pytestmark = pytest.mark.skipif(
    _STATE is None,
    reason=f"no usable Slurm ({_WHY}); start one with utils/slurm_localhost.sh start",
)


def run(backend, *args, cwd, timeout=120):
    return subprocess.run(
        [str(UTILS / backend), *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_one_failing_array_task_fails_the_job_and_names_its_log(tmp_path):
    res = run(
        "slurm.pl",
        "--config",
        SLURM_CONF,
        "JOB=1:4",
        "log/t.JOB.log",
        "echo task JOB; test JOB -ne 3",
        cwd=tmp_path,
    )
    assert res.returncode == 1
    assert "log/t.3.log" in res.stderr and "1 / 4" in res.stderr
    assert "exit code 1" in res.stderr
    for k in (1, 2, 4):
        text = (tmp_path / "log" / f"t.{k}.log").read_text()
        assert f"task {k}" in text and "# Ended (code 0)" in text


def test_task_killed_before_writing_its_status_counts_as_failed(tmp_path):
    # $$ is the task script itself: killing it leaves no status file behind.
    res = run(
        "slurm.pl",
        "--config",
        SLURM_CONF,
        "JOB=1:2",
        "log/k.JOB.log",
        "if [ JOB = 2 ]; then kill -9 $$; fi",
        cwd=tmp_path,
    )
    assert res.returncode == 1
    assert "log/k.2.log" in res.stderr and "no exit status" in res.stderr
    assert "log/k.1.log" not in res.stderr


def partition_and_resources(tmp_path, *opts):
    # IDX as the job name: JOB would also be replaced inside $SLURM_JOB_PARTITION.
    cmd = (
        "echo $SLURM_JOB_PARTITION ${CUDA_VISIBLE_DEVICES:-none} "
        "${SLURM_CPUS_PER_TASK:-none} ${SLURM_MEM_PER_CPU:-none}"
    )
    res = run(
        "slurm.pl", "--config", SLURM_CONF, *opts, "IDX=1:2", "log/r.IDX.log", cmd, cwd=tmp_path
    )
    assert res.returncode == 0, res.stderr
    outputs = {(tmp_path / "log" / f"r.{k}.log").read_text().splitlines()[4] for k in (1, 2)}
    assert len(outputs) == 1
    return outputs.pop().split()


def test_gpu_request_goes_to_the_gpu_partition(tmp_path):
    partition, cuda, cpus, mem = partition_and_resources(tmp_path, "--gpu", 1, "--mem", "100M")
    assert (partition, cuda, cpus, mem) == ("gpu", "0", "none", "100")


def test_cpu_job_goes_to_shared_with_threads_and_memory(tmp_path):
    partition, cuda, cpus, mem = partition_and_resources(
        tmp_path, "--num_threads", 2, "--mem", "300M", "--time", "5"
    )
    assert (partition, cuda, cpus, mem) == ("shared", "none", "2", "300")


def test_impossible_request_is_rejected_at_submission(tmp_path):
    res = run(
        "slurm.pl", "--config", SLURM_CONF, "--mem", "100000G", "log/x.log", "true", cwd=tmp_path
    )
    assert res.returncode == 1 and "submission failed" in res.stderr


def make_data_dir(path, num_clips, seconds, rate=16000):
    import soundfile as sf

    path.mkdir(parents=True)
    rng = np.random.default_rng(0)
    lines = []
    for i in range(num_clips):
        wav = path / "wav" / f"clip{i:02d}.wav"
        wav.parent.mkdir(exist_ok=True)
        sf.write(wav, 0.1 * rng.standard_normal(int(seconds * rate)).astype(np.float32), rate)
        lines.append(f"clip{i:02d} {wav}\n")
    (path / "wav.scp").write_text("".join(lines))


def read_h5(path):
    from aac.features import FeatureReader

    reader = FeatureReader(path)  # the clips its index lists, each checked
    return {k: reader[k] for k in reader}, dict(reader.attrs)


@pytest.mark.skipif(
    importlib.util.find_spec("aac.bin.extract_feats") is None
    or importlib.util.find_spec("aac.bin.merge_feats") is None,
    reason="aac.bin.extract_feats / aac.bin.merge_feats not available",
)
def test_feature_caching_through_slurm_array_equals_run_pl(tmp_path):
    data = tmp_path / "data"
    make_data_dir(data, num_clips=5, seconds=1.0)
    nj = subprocess.run(
        [
            sys.executable,
            str(UTILS / "split_scp"),
            "--nj",
            "3",
            "data/wav.scp",
            "data/split/wav.JOB.scp",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert nj == "3"
    # sbatch --export=PATH passes no other variable, so the thread limit goes in the command.
    extract = [
        "OMP_NUM_THREADS=1",
        sys.executable,
        "-m",
        "aac.bin.extract_feats",
        "--encoder",
        "logmel",
        "--data-dir",
        "data",
    ]
    res = run(
        "slurm.pl",
        "--config",
        SLURM_CONF,
        f"JOB=1:{nj}",
        "slurm/log/extract.JOB.log",
        *extract,
        "--wav-scp",
        "data/split/wav.JOB.scp",
        "--output",
        "slurm/feats.JOB.h5",
        cwd=tmp_path,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    parts = sorted(str(p) for p in (tmp_path / "slurm").glob("feats.*.h5"))
    assert len(parts) == 3
    subprocess.run(
        [sys.executable, "-m", "aac.bin.merge_feats", "--output", "slurm/feats.h5", *parts],
        cwd=tmp_path,
        check=True,
        timeout=120,
    )
    # The reference: one run.pl job over the whole wav.scp.
    res = run(
        "run.pl",
        "local/log/extract.log",
        *extract,
        "--output",
        "local/feats.h5",
        cwd=tmp_path,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    merged, merged_attrs = read_h5(tmp_path / "slurm" / "feats.h5")
    single, single_attrs = read_h5(tmp_path / "local" / "feats.h5")
    assert sorted(merged) == sorted(single) == [f"clip{i:02d}" for i in range(5)]
    for key in single:  # 1 s clips batched 5 together vs 2+2+1: other matrix shapes
        np.testing.assert_allclose(merged[key], single[key], rtol=0, atol=1e-6)
    assert merged_attrs.keys() == single_attrs.keys()
    assert os.path.getsize(tmp_path / "slurm" / "log" / "extract.2.log") > 0


OURS = (
    Path("/etc/slurm/slurm.conf").exists()
    and "utils/slurm_localhost.sh" in Path("/etc/slurm/slurm.conf").read_text()
)


@pytest.mark.skipif(not OURS, reason="this Slurm was not started by utils/slurm_localhost.sh")
def test_localhost_cluster_status_and_idempotent_start():
    status = subprocess.run(
        [str(UTILS / "slurm_localhost.sh"), "status"], capture_output=True, text=True, timeout=30
    )
    assert status.returncode == 0, status.stdout
    assert "slurmctld: running" in status.stdout and "gpu" in status.stdout
    start = subprocess.run(
        [str(UTILS / "slurm_localhost.sh"), "start"], capture_output=True, text=True, timeout=30
    )
    assert start.returncode == 0 and "already running" in start.stderr


def test_stopping_slurm_pl_cancels_its_job(tmp_path):
    proc = subprocess.Popen(
        [
            str(UTILS / "slurm.pl"),
            "--config",
            str(SLURM_CONF),
            "JOB=1:2",
            "log/s.JOB.log",
            "sleep 60",
        ],
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 30
    while not (tmp_path / "log" / "s.2.log").exists() and time.time() < deadline:
        time.sleep(0.2)
    proc.terminate()
    assert proc.wait(timeout=20) == 1
    message = proc.stderr.read()
    job_id = re.search(r"cancelled job (\d+)", message).group(1)
    for _ in range(20):
        queued = subprocess.run(["squeue", "-h", "-j", job_id], capture_output=True, text=True)
        if not queued.stdout.strip():
            break
        time.sleep(0.5)
    assert queued.stdout.strip() == ""
