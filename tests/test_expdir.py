import yaml

from aac.expdir import claim_experiment_dir, environment, record_experiment


def test_record_experiment_writes_config_command_and_versions(tmp_path):
    exp = record_experiment(
        tmp_path / "exp", {"lr": 0.1}, argv=["aac-train", "--config", "a b.yaml"]
    )
    record_experiment(exp, {"lr": 0.2}, argv=["aac-train", "--resume"])
    assert yaml.safe_load((exp / "config.yaml").read_text()) == {"lr": 0.2}
    assert (exp / "cmd.txt").read_text().splitlines() == [
        "aac-train --config 'a b.yaml'",
        "aac-train --resume",
    ]
    env = yaml.safe_load((exp / "env.yaml").read_text())
    assert env["versions"]["torch"] and env["git_hash"]


def test_environment_has_date_and_python():
    """The date is when the record was made, in UTC (not just any string starting "20")."""
    import datetime
    import platform

    utc = datetime.timezone.utc
    before = datetime.datetime.now(utc).replace(microsecond=0)
    env = environment()
    after = datetime.datetime.now(utc)
    date = datetime.datetime.fromisoformat(env["date"])
    assert date.utcoffset() == datetime.timedelta(0)
    assert before <= date <= after
    assert env["versions"]["python"] == platform.python_version()


def test_a_second_run_on_an_experiment_dir_stops_naming_the_holder(tmp_path, capsys):
    """Two aac-train runs on one directory: the second stops (exit 2) and deletes nothing."""
    import os

    from caption_fixtures import make_experiment_inputs, train_argv, write_yaml

    from aac.bin.train import main as train_main
    from aac.locking import OutputLock

    inputs = make_experiment_inputs(tmp_path)
    exp = tmp_path / "exp"
    first = claim_experiment_dir(exp)  # the first run, still training
    assert first.created and isinstance(first.lock, OutputLock)
    (exp / "config.yaml").write_text("written by the first run\n")
    rc = train_main(train_argv(inputs, write_yaml(tmp_path / "t.yaml", epochs=1), exp))
    err = capsys.readouterr().err
    assert rc == 2 and f"{exp}: another run holds the output" in err
    assert f"locked by pid {os.getpid()}" in err and "use another --output-dir" in err
    assert (exp / "config.yaml").read_text() == "written by the first run\n"
    first.release()
    second = claim_experiment_dir(exp)
    assert not second.created  # it exists: never this run's to remove
    second.remove_if_created()
    assert (exp / "config.yaml").is_file()


def test_a_failing_run_removes_only_a_directory_it_created(tmp_path, monkeypatch, capsys):
    from caption_fixtures import make_experiment_inputs, train_argv, write_yaml

    import aac.bin.train as train

    def full_disk(*args):
        raise OSError(28, "No space left on device", "tokenizer.model")

    monkeypatch.setattr(train, "prepare_expdir", full_disk)
    inputs = make_experiment_inputs(tmp_path)
    cfg = write_yaml(tmp_path / "t.yaml", epochs=1)
    assert train.main(train_argv(inputs, cfg, tmp_path / "new")) == 2
    assert not (tmp_path / "new").exists()  # made by this run: removed
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "notes.txt").write_text("someone else's\n")
    assert train.main(train_argv(inputs, cfg, tmp_path / "old")) == 2
    assert (tmp_path / "old" / "notes.txt").is_file()
    assert "no space left on device" in capsys.readouterr().err
