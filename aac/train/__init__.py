"""Training: config, trainer loop, checkpoints, LR schedule, distributed launch, plots."""

from aac.expconf import OptimConf, TrainConf, ValidConf  # noqa: F401
