"""The paper driver (local/paper.sh) end to end on the mini corpus, and aac.sh's stage 0.

Each test works in a scratch copy of egs2/mini_clotho/aac1. Console scripts added to
setup.py since tools/venv was built are provided as small shims on PATH, so the tests run
before `make setup` reinstalls the package.
"""

import hashlib
import os
import re
import subprocess
import sys
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RECIPE = ROOT / "egs2" / "mini_clotho" / "aac1"


def _stage_shims(bindir: Path) -> None:
    """`aac-<verb>` launchers for every STAGES entry of setup.py, with this Python."""
    stages = re.findall(r'"(aac-[a-z-]+)": "([a-z_]+)"', (ROOT / "setup.py").read_text())
    bindir.mkdir()
    for command, module in stages:
        shim = bindir / command
        shim.write_text(
            f"#!{sys.executable}\nimport sys\nfrom aac.bin.{module} import main\nsys.exit(main())\n"
        )
        shim.chmod(0o755)


def _recipe(tmp_path: Path):
    rdir = tmp_path / "egs2" / "mini_clotho" / "aac1"
    rdir.mkdir(parents=True)
    for name in ("run.sh", "db.sh", "local", "conf", "aac.sh", "path.sh", "cmd.sh", "utils"):
        os.symlink(os.path.realpath(RECIPE / name), rdir / name)
    _stage_shims(tmp_path / "bin")
    path = f"{tmp_path / 'bin'}:{Path(sys.executable).parent}:{os.environ['PATH']}"
    env = dict(os.environ, PATH=path, PYTHONPATH=str(ROOT))
    for var in ("CLOTHO", "AUDIOCAPS", "AAC_ENCODER_MIRROR", "cmd_backend"):
        env.pop(var, None)
    return rdir, env


@pytest.mark.slow
def test_mini_paper_driver_end_to_end(tmp_path):
    rdir, env = _recipe(tmp_path)
    proc = subprocess.run(["./local/paper.sh"], cwd=rdir, env=env, capture_output=True, text=True)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-5000:]
    # shared work done once: data and tokenizer by the first run, one cache per feature key
    assert log.count("Stage 1: done before, skipped") == 4
    assert log.count("Stage 2: done before, skipped") == 4
    assert sorted(p.name for p in (rdir / "dump").iterdir()) == ["logmel", "pann_mlac_atcl"]
    assert log.count("Stage 3: clotho_development done before, skipped") == 3
    finetunes = sorted(p.name for p in (rdir / "exp").glob("finetune_*"))
    assert finetunes == [
        "finetune_beats_malm_ds1",
        "finetune_beats_malm_mlac_ds1",
        "finetune_beats_malm_mlac_ds4",
        "finetune_pann_mlac_atcl_ds1",
        "finetune_pann_mlac_ds1",
    ]
    assert "--downsample 4" in (rdir / "exp/finetune_beats_malm_mlac_ds4/cmd.txt").read_text()

    results = (rdir / "exp" / "paper" / "RESULTS.md").read_text()
    head1, rows1 = _table(results, "## Table 1")
    assert [r[1] for r in rows1] == [
        "PANN MLAC",
        "PANN MLAC+ATCL",
        "BEATs MALM",
        "BEATs MALM+MLAC",
    ]  # the paper's order, with every Table 1 figure of the paper
    paper1 = {  # Wu et al. (2023) Table 1: BLEU-4, ROUGE-L, METEOR, CIDEr, SPICE, SPIDEr, -FL
        "PANN MLAC": "0.148 0.366 0.170 0.387 0.117 0.252 0.248",
        "PANN MLAC+ATCL": "0.154 0.371 0.173 0.415 0.123 0.269 0.263",
        "BEATs MALM": "0.156 0.375 0.176 0.406 0.122 0.264 0.261",
        "BEATs MALM+MLAC": "0.170 0.383 0.184 0.448 0.129 0.289 0.287",
    }
    metrics = ["BLEU-4", "ROUGE-L", "METEOR", "CIDEr-D", "SPICE", "SPIDEr", "SPIDEr-FL"]
    for row in rows1:
        assert [_at(head1, row, m, 1) for m in metrics] == paper1[row[1]].split()
        for m in ("BLEU-4", "ROUGE-L", "METEOR", "CIDEr-D"):  # computed offline
            assert re.fullmatch(r"\d\.\d{3}", _at(head1, row, m)), (m, row)
            assert re.fullmatch(r"[+-]\d\.\d{3}", _at(head1, row, m, 2)), (m, row)
        assert _at(head1, row, "SPIDEr-FL").startswith("n/a[^")  # no assets: n/a and why
    assert "stand-in for" in results and "random init" in results
    assert "best constant caption" in results and "one reference against the other 4" in results
    head2, rows2 = _table(results, "## Table 2")
    sweep = [r for r in rows2 if r[0] == "BEATs MALM+MLAC"]
    assert [r[1] for r in sweep] == ["1", "2", "4", "8"]  # 2 and 8: the paper's figures only
    assert [_at(head2, r, "RTF median", 1) for r in sweep] == ["45.3", "47.4", "47.8", "47.7"]
    for r in sweep:
        ran = r[1] in ("1", "4")
        mean = _at(head2, r, "RTF mean")
        assert bool(re.fullmatch(r"\d+\.\d", mean)) == ran, r  # ours, timed serially
        assert bool(re.fullmatch(r"\d\.\d{3}", _at(head2, r, "Encoder s/clip"))) == ran
        assert (_at(head2, r, "Machine") == "m1") == ran
    assert "timed serial, after the parts merged" in results and "torch threads" in results
    print(results)


def _table(text, heading):
    lines = [x for x in text.split(heading)[1].split("\n## ")[0].splitlines() if x.startswith("|")]
    split = [[c.strip() for c in x.strip("|").split("|")] for x in lines]
    return split[0], split[2:]


def _at(header, row, label, offset=0):
    return row[header.index(label) + offset]


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_stage0_fetches_the_official_checkpoint_only_when_needed(tmp_path):
    rdir, env = _recipe(tmp_path)
    served = tmp_path / "mirror"
    served.mkdir()
    fake = b"PK\x03\x04" + b"not really BEATs" * 100000  # zip-like, not the pinned file
    (served / "BEATs_iter3_plus_AS2M.pt").write_bytes(fake)
    srv = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(served)))
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    env["AAC_ENCODER_MIRROR"] = f"http://127.0.0.1:{srv.server_address[1]}"
    try:

        def run(*args):
            return subprocess.run(
                ["./run.sh", "--paper_row", "beats_malm", *args],
                cwd=rdir,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )

        row = [
            "--encoder",
            "beats",
            "--encoder_random_init",
            "false",
            "--encoder_download",
            "beats_as2m",
        ]
        proc = run(*row, "--stage", "4", "--stop_stage", "4", "--skip_stages", "4")
        assert proc.returncode == 0, proc.stderr
        assert "Stage 0" not in proc.stdout  # weights not needed by stage 4 alone
        dest = rdir / "downloads" / "encoders" / "BEATs_iter3_plus_AS2M.pt"
        assert not dest.exists()
        proc = run(*row, "--stage", "0", "--stop_stage", "0")
        assert proc.returncode != 0 and "SHA-256 mismatch" in proc.stderr  # not the pinned file
        assert not dest.exists()
        sha = hashlib.sha256(fake).hexdigest()  # a user who checked this file accepts it once
        accept = ["aac-download-encoder", "beats_as2m", "--dir", str(dest.parent)]
        subprocess.run([*accept, "--accept-sha256", sha], env=env, check=True, capture_output=True)
        dest.unlink()  # stage 0 fetches it again; the recorded acceptance covers these bytes
        proc = run(*row, "--stage", "0", "--stop_stage", "0")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "Stage 0: encoder weights: beats_as2m" in proc.stdout
        assert dest.read_bytes() == (served / dest.name).read_bytes()
        assert dest.name in (dest.parent / "SHA256SUMS").read_text()
        dest.write_bytes(fake[:-1] + b"x")  # a later use verifies against the pin / record
        proc = run(*row, "--stage", "0", "--stop_stage", "0")
        assert proc.returncode != 0 and "SHA-256 mismatch" in proc.stderr
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=5)
