"""Training: the shared engine, finetuning, tasks and losses, checkpoints, DDP and resume."""
