"""``model.name`` -> model class: the one place that says which names exist and what they build.

Everything else asks the model itself (ram/models/base.py), so a new kind of model is a class and a
line here. The order is the comparison table's."""

from __future__ import annotations

from ram.models.base import Model
from ram.models.catch_agent import CatchRAM, ScreenAgent
from ram.models.fullimage import FullyConnected, ModernCNN, PaperCNN
from ram.models.ram import RAM

MODELS: dict[str, type[Model]] = {"ram": RAM, "fc": FullyConnected, "cnn_paper": PaperCNN, "cnn": ModernCNN,
                               "ram_catch": CatchRAM, "screen_catch": ScreenAgent}  # the game (data.benchmark=catch)
