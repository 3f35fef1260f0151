"""Training: the one loop (`loop`), the captioning task, checkpoints, LR schedule, DDP, plots."""
