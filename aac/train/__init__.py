"""Training: config, trainer loop, checkpoints, LR schedule, distributed launch, plots."""

from aac.train.conf import OptimConf, TrainConf, ValidConf  # noqa: F401
