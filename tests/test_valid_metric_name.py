"""Validation's CIDEr-D skips the PTB tokenizer, so it is named cider_d_simple (config,
logs, metrics.jsonl, plots) and never mistaken for the CIDEr-D that aac-score reports."""

import pytest

from aac.config import ConfigError, build
from aac.expconf import TrainConf, check_conf


def test_default_validation_metric_is_named_cider_d_simple():
    conf = TrainConf()
    assert conf.valid.metric == "cider_d_simple"
    check_conf(conf, "defaults")


def test_the_scored_metric_name_is_refused_for_validation():
    with pytest.raises(ConfigError, match="valid.metric must be one of cider_d_simple, loss"):
        build(TrainConf, {"valid": {"metric": "cider_d"}}, source="train.yaml")
