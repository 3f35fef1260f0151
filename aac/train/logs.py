"""Logging for training: train.log (appended across resumes) and the console via tqdm."""

from __future__ import annotations

import logging
from pathlib import Path

from tqdm import tqdm


class _TqdmHandler(logging.Handler):
    """Console lines that do not break the progress bar."""

    def emit(self, record):
        tqdm.write(self.format(record))


def setup_logging(log_path: Path, is_main: bool) -> None:
    logger = logging.getLogger("aac")
    logger.setLevel(logging.INFO)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    if not is_main:
        logger.addHandler(logging.NullHandler())
        logger.propagate = False
        return
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    for handler in (logging.FileHandler(log_path, encoding="utf-8"), _TqdmHandler()):
        handler.setFormatter(fmt)
        logger.addHandler(handler)
    logger.propagate = False


def epoch_bar(epoch: int, total: int, done: int, is_main: bool) -> tqdm:
    """The console progress bar of one training epoch (batches; resumed at `done`)."""
    return tqdm(
        total=total,
        initial=done,
        desc=f"epoch {epoch}",
        disable=not is_main,
        dynamic_ncols=True,
        leave=False,
    )
