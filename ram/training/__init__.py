"""How a model is trained: the config (``config.py``), the trainer's loop (``trainer.py``), checkpoints
(``checkpoint.py``), NaN and Ctrl-C guards (``guard.py``), process groups under torchrun (``parallel.py``),
schedules (``schedule.py``) and speed switches (``speed.py``)."""
