"""Training: tasks and losses, checkpoints, the finetuning loop."""
