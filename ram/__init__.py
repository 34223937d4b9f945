"""The agent and its training: the Recurrent Attention Model, its hybrid loss, full-image baselines,
the trainer, run logging, checkpoints and rollout rendering."""
