"""Old import path of the experiment config schema; it lives in `aac.expconf` now."""

from aac.expconf import OptimConf, TrainConf, ValidConf, check_conf  # noqa: F401
