"""The agent and its training, in four rooms (reading order):

- ``models/``: what learns. One interface for every model (``base.py``: its loss, its score, what it can
  show), the Recurrent Attention Model and its rollout and hybrid loss, the full-image networks, and the
  table of names (``registry.py``).
- ``build.py``: a run's device, environment and model, built from its config.
- ``training/``: config, the trainer's loop, checkpoints, guards, process groups, schedules, speed.
- ``records/``: what a run leaves (``metrics.jsonl``, ``results.json``) and its Weights & Biases mirror.
- ``tools/``: the rollout viewer, the comparison table, MAC counts (``python -m ram.view``, ``python -m ram.compare``).

``errors.py`` holds the one base class of the project's own errors.
"""
