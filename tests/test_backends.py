"""Job backends utils/{run,slurm,queue,ssh}.pl: JOB substitution, logs, failure reports,
option mapping. Schedulers and ssh are replaced by fakes on PATH that run the tasks
right away on this machine (tests/test_slurm.py uses a real Slurm)."""

import os
import re
import stat
import subprocess
import time
from pathlib import Path

import pytest

UTILS = Path(__file__).resolve().parents[1] / "utils"
CONF_DIR = Path(__file__).resolve().parents[1] / "egs2" / "TEMPLATE" / "aac1" / "conf"

# Each fake records its arguments (one per line) in $FAKE_LOG, then runs the array.
FAKE_SBATCH = r"""#!/bin/bash
printf '%s\n' "$@" > "$FAKE_LOG"
range=""; script="${@: -1}"
for a in "$@"; do case "$a" in --array=*) range=${a#--array=};; esac; done
range=${range%%%*}
for t in $(seq ${range%-*} ${range#*-}); do SLURM_ARRAY_TASK_ID=$t bash "$script" >/dev/null 2>&1; done
echo 4242
"""
FAKE_QSUB = r"""#!/bin/bash
printf '%s\n' "$@" > "$FAKE_LOG"
range=""; script="${@: -1}"; prev=""
for a in "$@"; do [ "$prev" = -t ] && range=$a; prev=$a; done
for t in $(seq ${range%:*} ${range#*:}); do SGE_TASK_ID=$t bash "$script" >/dev/null 2>&1; done
echo "Your job-array 77.${range%:*}-${range#*:}:1 (\"x.sh\") has been submitted"
"""
FAKE_SSH = r"""#!/bin/bash
# ssh [-n] [-o opt] host command: run the command here and note the host.
while [[ "$1" == -* ]]; do [ "$1" = -o ] && shift; shift; done
host=$1; shift
echo "$host $*" >> "$FAKE_LOG"
bash -c "$*"
"""
FAKES = {
    "sbatch": FAKE_SBATCH,
    "squeue": "#!/bin/bash\nexit 0\n",
    "scontrol": "#!/bin/bash\nexit 1\n",
    "qsub": FAKE_QSUB,
    "qstat": "#!/bin/bash\necho 'Following jobs do not exist'; exit 1\n",
    "ssh": FAKE_SSH,
}
BACKENDS = ["run.pl", "slurm.pl", "queue.pl", "ssh.pl"]


@pytest.fixture
def work(tmp_path, monkeypatch):
    """A working dir with the fakes first on PATH and a machines file for ssh.pl."""
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir()
    for name, text in FAKES.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_LOG", str(tmp_path / "fake.log"))
    (tmp_path / ".queue").mkdir()
    (tmp_path / ".queue" / "machines").write_text("node-a\nnode-b\n")
    return tmp_path


def run(backend, *args, cwd):
    return subprocess.run(
        [str(UTILS / backend), *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=60
    )


def fake_args(work):
    return (work / "fake.log").read_text().splitlines()


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_failing_task_fails_the_job_and_names_its_log(work, backend):
    res = run(backend, "JOB=1:4", "log/task.JOB.log", "echo out JOB; test JOB -ne 3", cwd=work)
    assert res.returncode != 0
    assert "log/task.3.log" in res.stderr
    assert "1 / 4" in res.stderr
    for k in (1, 2, 4):
        assert f"log/task.{k}.log" not in res.stderr


@pytest.mark.parametrize("backend", BACKENDS)
def test_logs_hold_command_times_and_exit_status(work, backend):
    res = run(backend, "JOB=1:3", "log/echo.JOB.log", "echo", "word JOB", "JOB", cwd=work)
    assert res.returncode == 0, res.stderr
    for k in (1, 2, 3):
        text = (work / "log" / f"echo.{k}.log").read_text()
        lines = text.splitlines()
        assert lines[0] == f"# echo 'word {k}' {k}"
        assert lines[1].startswith("# Started at ")
        assert f"word {k} {k}" in lines
        assert re.search(r"^# Accounting: time=\d+ threads=1$", text, re.M)
        assert re.search(r"^# Ended \(code 0\) at ", text, re.M)


@pytest.mark.parametrize("backend", BACKENDS)
def test_single_job_form(work, backend):
    res = run(backend, "log/one.log", "exit 5", cwd=work)
    assert res.returncode == 1
    assert "log/one.log" in res.stderr
    assert "# Ended (code 5)" in (work / "log" / "one.log").read_text()
    assert run(backend, "log/two.log", "true", cwd=work).returncode == 0


def test_words_with_spaces_stay_one_argument_and_bare_pipes_work(work):
    res = run("run.pl", "log/q.log", "printf", "[%s]", "a  b", "c", "|", "tr", "a", "A", cwd=work)
    assert res.returncode == 0, res.stderr
    assert "[A  b][c]" in (work / "log" / "q.log").read_text()


def test_many_tasks_with_one_log_is_refused(work):
    res = run("run.pl", "JOB=1:2", "log/same.log", "true", cwd=work)
    assert res.returncode == 1 and "log/same.log" in res.stderr


def max_concurrency(work, *opts):
    """Run 4 tasks that each note how many tasks were running while they ran."""
    (work / "running").mkdir(exist_ok=True)
    cmd = (
        "touch running/JOB; ls running | wc -l > count.JOB; sleep 0.4; "
        "ls running | wc -l >> count.JOB; rm running/JOB"
    )
    res = run("run.pl", *opts, "JOB=1:4", "log/c.JOB.log", cmd, cwd=work)
    assert res.returncode == 0, res.stderr
    return max(int(n) for k in range(1, 5) for n in (work / f"count.{k}").read_text().split())


def test_max_jobs_run_bounds_parallel_tasks(work):
    assert max_concurrency(work, "--max-jobs-run", 1) == 1
    assert max_concurrency(work, "--max-jobs-run", 4) > 1


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs 2 CPUs")
def test_default_parallelism_is_the_cpu_count_even_with_omp_threads_set(work, monkeypatch):
    # GNU nproc answers OMP_NUM_THREADS; run.pl must not run tasks one at a time because of it.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert max_concurrency(work) == min(4, len(os.sched_getaffinity(0)))


def test_run_pl_accepts_scheduler_options(work):
    res = run(
        "run.pl",
        "--mem",
        "4G",
        "--gpu",
        "1",
        "--num-threads",
        "2",
        "--time=1:00:00",
        "JOB=1:2",
        "log/o.JOB.log",
        "true",
        cwd=work,
    )
    assert res.returncode == 0, res.stderr
    assert "threads=2" in (work / "log" / "o.1.log").read_text()


def test_slurm_options_map_through_the_config(work):
    res = run(
        "slurm.pl",
        "--config",
        CONF_DIR / "slurm.conf",
        "--mem",
        "2G",
        "--num_threads",
        3,
        "--gpu",
        1,
        "--time",
        "1:00:00",
        "--max-jobs-run",
        2,
        "JOB=1:4",
        "log/m.JOB.log",
        "true",
        cwd=work,
    )
    assert res.returncode == 0, res.stderr
    args = " ".join(fake_args(work))
    assert fake_args(work)[:2] == ["--export=PATH", "--job-name=m"]
    for expected in (
        "--mem-per-cpu 2G",
        "--cpus-per-task 3",
        "-p gpu --gres=gpu:1",
        "--time 1:00:00",
        "--array=1-4%2",
    ):
        assert expected in args
    assert "-p shared" not in args


def test_slurm_defaults_to_the_shared_partition(work):
    assert run("slurm.pl", "--mem", 0, "JOB=1:2", "log/d.JOB.log", "true", cwd=work).returncode == 0
    args = fake_args(work)
    assert "-p" in args and args[args.index("-p") + 1] == "shared"
    assert "--array=1-2" in args and not any(a.startswith("--mem") for a in args)


def test_slurm_unknown_option_is_an_error_naming_the_config(work):
    res = run(
        "slurm.pl",
        "--config",
        CONF_DIR / "slurm.conf",
        "--colour",
        "red",
        "log/x.log",
        "true",
        cwd=work,
    )
    assert res.returncode == 1
    assert "--colour red" in res.stderr and "slurm.conf" in res.stderr


def test_bad_config_line_names_file_and_line(work):
    conf = work / "bad.conf"
    conf.write_text("command sbatch\noption mem=* --mem\n")
    res = run("slurm.pl", "--config", conf, "--mem", "1G", "log/x.log", "true", cwd=work)
    assert res.returncode == 1 and "bad.conf line 2" in res.stderr


def test_queue_options_map_through_the_config(work):
    res = run(
        "queue.pl",
        "--config",
        CONF_DIR / "queue.conf",
        "--mem",
        "3G",
        "--num_threads",
        2,
        "--gpu",
        1,
        "--max-jobs-run",
        2,
        "JOB=2:4",
        "log/m.JOB.log",
        "true",
        cwd=work,
    )
    assert res.returncode == 0, res.stderr
    args = " ".join(fake_args(work))
    for expected in (
        "-l mem_free=3G,ram_free=3G",
        "-pe smp 2",
        "-l gpu=1 -q g.q",
        "-tc 2",
        "-t 2:4",
    ):
        assert expected in args
    assert sorted(p.name for p in (work / "log").glob("m.*.log")) == [
        "m.2.log",
        "m.3.log",
        "m.4.log",
    ]


def test_ssh_assigns_tasks_round_robin(work):
    res = run("ssh.pl", "JOB=1:5", "log/h.JOB.log", "echo JOB", cwd=work)
    assert res.returncode == 0, res.stderr
    hosts = {}
    for line in fake_args(work):
        host, _bash, _script, task = line.split()
        hosts[int(task)] = host
    assert hosts == {1: "node-a", 2: "node-b", 3: "node-a", 4: "node-b", 5: "node-a"}


def test_ssh_without_machines_file_is_an_error(work):
    (work / ".queue" / "machines").unlink()
    res = run("ssh.pl", "log/x.log", "true", cwd=work)
    assert res.returncode == 1 and ".queue/machines" in res.stderr


def test_task_script_is_executable_alone_for_rerunning_one_task(work):
    assert run("run.pl", "JOB=1:2", "log/r.JOB.log", "echo again JOB", cwd=work).returncode == 0
    (work / "log" / "r.2.log").unlink()
    script = work / "log" / "q" / "r.sh"
    assert script.stat().st_mode & stat.S_IXUSR
    subprocess.run(["bash", str(script), "2"], cwd=work, check=True, timeout=30)
    assert "again 2" in (work / "log" / "r.2.log").read_text()


def test_stopping_run_pl_stops_its_tasks(work):
    proc = subprocess.Popen(
        [str(UTILS / "run.pl"), "JOB=1:2", "log/s.JOB.log", "echo $BASHPID > pid.JOB; sleep 30"],
        cwd=work,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 20
    while not all((work / f"pid.{k}").exists() for k in (1, 2)) and time.time() < deadline:
        time.sleep(0.1)
    proc.terminate()
    assert proc.wait(timeout=10) == 1
    assert "interrupted" in proc.stderr.read()
    for k in (1, 2):
        pid = int((work / f"pid.{k}").read_text())
        for _ in range(50):
            if not alive(pid):
                break
            time.sleep(0.1)
        assert not alive(pid), f"task {k} still running"


def alive(pid):
    """A process that exists and is not a zombie waiting to be reaped."""
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat_line.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.parametrize(
    "backend,expected", [("slurm.pl", "-A acct -x node7"), ("queue.pl", "-l hostname=b* -q long.q")]
)
def test_single_dash_options_go_to_the_scheduler_as_they_are(work, backend, expected):
    a, b, c, d = expected.split()
    res = run(backend, a, b, c, d, "JOB=1:2", "log/p.JOB.log", "true", cwd=work)
    assert res.returncode == 0, res.stderr
    assert expected in " ".join(fake_args(work))
    assert run("run.pl", a, b, "log/r.log", "true", cwd=work).returncode == 0


def test_queue_task_that_never_reports_counts_as_failed(work):
    # A qsub whose task 2 dies before its script can write a status file.
    qsub = (work / "fakebin" / "qsub").read_text()
    (work / "fakebin" / "qsub").write_text(
        qsub.replace("SGE_TASK_ID=$t bash", "[ $t = 2 ] && continue; SGE_TASK_ID=$t bash")
    )
    res = run("queue.pl", "JOB=1:3", "log/n.JOB.log", "true", cwd=work)
    assert res.returncode == 1
    assert "log/n.2.log" in res.stderr and "without an exit status" in res.stderr
    assert "log/n.1.log" not in res.stderr
