"""aac.cli: the run_main wrapper and the shared flag helpers."""

import argparse
import errno

import pytest
import torch

from aac.cli import (
    CheckpointUsageError,
    check_model_checkpoint,
    parse_device,
    run_main,
)
from aac.config import ConfigError
from aac.errors import AacError


def run(capsys, body, argv=()):
    rc = run_main("aac-x", body, list(argv))
    return rc, capsys.readouterr().err


def raising(exc):
    def body(argv):
        raise exc

    return body


def test_user_errors_are_one_line_with_status_2(capsys):
    rc, err = run(capsys, raising(ConfigError("conf.yaml: unknown key 'optim.lrr'")))
    assert (rc, err) == (2, "aac-x: error: conf.yaml: unknown key 'optim.lrr'\n")
    rc, err = run(capsys, raising(OSError(errno.ENOSPC, "No space left on device", "/d/f.h5")))
    assert (rc, err) == (2, "aac-x: error: no space left on device: /d/f.h5\n")
    rc, err = run(capsys, raising(FileNotFoundError("tokenizer model not found: t.model")))
    assert (rc, err) == (2, "aac-x: error: tokenizer model not found: t.model\n")


def test_bugs_keep_their_traceback_and_verbose_shows_it_for_user_errors(capsys):
    rc, err = run(capsys, raising(ZeroDivisionError("oops")))
    assert rc == 1 and "Traceback" in err and "ZeroDivisionError: oops" in err
    seen = []
    rc, err = run(capsys, lambda argv: seen.append(argv) or 0, ["--verbose", "a"])
    assert rc == 0 and seen == [["a"]]  # --verbose never reaches the tool's parser
    rc, err = run(capsys, raising(ConfigError("bad")), ["--verbose"])
    assert rc == 2 and "Traceback" in err and err.endswith("aac-x: error: bad\n")
    rc, err = run(capsys, raising(KeyboardInterrupt()))
    assert rc == 130 and err == "aac-x: interrupted\n"


def test_parse_device():
    assert [parse_device(d) for d in ("cpu", "cuda", "cuda:3")] == ["cpu", "cuda", "cuda:3"]
    for bad in ("gpu", "cuda:", "cuda:x", "CPU"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_device(bad)


def test_check_model_checkpoint_refuses_encoder_files(tmp_path):
    for name in ("best", "last", "epoch12", None, str(tmp_path / "missing.pt")):
        check_model_checkpoint(name)  # names and missing paths are left to the loader
    ok = tmp_path / "model.pt"
    torch.save(
        {"model": {"proj.weight": torch.zeros(1), "bart.lm_head.weight": torch.zeros(1)}}, ok
    )
    check_model_checkpoint(str(ok))
    enc = tmp_path / "enc.pt"
    torch.save({"model": {"conv_block1.conv1.weight": torch.zeros(1)}}, enc)
    for path in (enc, tmp_path / "Cnn14.pth"):
        with pytest.raises(CheckpointUsageError, match="--encoder-checkpoint"):
            check_model_checkpoint(str(path))
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(AacError, match="junk.pt"):  # the loader's own one-line refusal
        check_model_checkpoint(str(junk))
