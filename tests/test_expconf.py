"""The config schema's own checks: enumerations beside the fields, shared optimiser checks."""

import pytest
import torch

from aac.config import ConfigError, build, load_config
from aac.expconf import LR_DECAYS, TrainConf, check_conf
from aac.pretrain.conf import PretrainConf
from aac.pretrain.conf import check_conf as check_pretrain_conf
from aac.train.scheduler import build_scheduler, lr_factor


@pytest.mark.parametrize(
    "key, value, message",
    [
        (
            "optim.decay",
            "cosin",
            "optim.decay must be one of linear, cosine, constant, got 'cosin'",
        ),
        ("downsample", 3, "downsample must be one of 1, 2, 4, 8, got 3"),
        (
            "valid.metric",
            "spider",
            "valid.metric must be one of cider_d_simple, loss, got 'spider'",
        ),
    ],
)
def test_an_enumerated_key_names_itself_and_the_file(tmp_path, key, value, message):
    path = tmp_path / "train.yaml"
    outer, _, inner = key.rpartition(".")
    path.write_text(f"{outer}:\n  {inner}: {value}\n" if outer else f"{inner}: {value}\n")
    with pytest.raises(ConfigError) as err:
        load_config(TrainConf, path)
    assert str(err.value) == f"{path}: {message}"


@pytest.mark.parametrize(
    "conf_class, check", [(TrainConf, check_conf), (PretrainConf, check_pretrain_conf)]
)
@pytest.mark.parametrize(
    "override, message",
    [
        ({"optim": {"lr": -1.0}}, "optim.lr must be a positive finite number, got -1.0"),
        ({"optim": {"lr": float("nan")}}, "optim.lr must be a positive finite number, got nan"),
        ({"optim": {"betas": [0.9]}}, "optim.betas must be two numbers in [0, 1), got [0.9]"),
        ({"optim": {"eps": 0.0}}, "optim.eps must be a positive finite number, got 0.0"),
        ({"optim": {"accum_grad": 0}}, "optim.epochs/batch_size/accum_grad must be >= 1"),
        ({"log_interval": 0}, "log_interval must be >= 1, got 0"),
    ],
)
def test_both_configs_share_the_optimiser_checks(conf_class, check, override, message):
    conf = build(conf_class, override, "x.yaml")
    with pytest.raises(ConfigError) as err:
        check(conf, "x.yaml")
    assert str(err.value).startswith("x.yaml: " + message)


def test_an_unknown_decay_is_never_a_silent_linear_one():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    conf = build(TrainConf, {}).optim
    conf.decay = "cosin"  # past the config check, as code that builds the conf itself can
    with pytest.raises(ValueError, match="cosin"):
        build_scheduler(optimizer, conf, 10)
    with pytest.raises(ValueError, match="cosin"):
        lr_factor(5, 0, 10, "cosin")
    assert [lr_factor(5, 0, 10, d) for d in LR_DECAYS] == pytest.approx([0.5, 0.5, 1.0])
