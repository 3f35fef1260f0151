import yaml

from aac.expdir import environment, record_experiment


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
