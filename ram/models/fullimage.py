"""Full-image networks: models that see the whole canvas at once, for the "does attention pay?" table.

(The paper and the README call them the baselines of the comparison; in the code "baseline" only ever
means REINFORCE's learned value baseline, so these are the full-image models.)

They are trained by the same ``train.py`` on the very canvases RAM sees: each batch comes from the same
``GlimpseVectorEnv`` (``reset(options={"indices": ...})``, then ``env.canvases()`` and ``env.labels()``),
so the training stream (same seed), validation and test canvases are identical for every model.

What Mnih et al. (2014) say about their baselines (Sec. 4.1 and Tables 1-2, as we read them):
- "FC, 2 layers (64 hiddens each)" and "FC, 2 layers (256 hiddens each)": fully connected networks with
  two hidden layers of rectified linear units, on the whole canvas.
- "Convolutional, 2 layers": one convolutional layer of 8 filters, 10x10, stride 5, then a fully
  connected layer of 256 rectified linear units, then a softmax output layer.
What we assume, because the paper does not say: a ReLU after the convolution too; no padding, pooling,
dropout or weight decay; pixels scaled to [0, 1]; PyTorch's default initialisation; and our optimiser
(Adam with cosine decay, as for RAM), not the paper's. Both FC layers have the same width, set by
``model.fc_hidden`` (64 or 256). "Parameter-matched" holds roughly at 60x60: RAM (3 scales of 12x12)
has 256,525 parameters, ``fc`` with 64 units 235,274, ``cnn_paper`` 251,442; the 256-unit FC has 990,218.

``cnn`` is ours, not the paper's: a strong modern CNN (four conv3x3/BatchNorm/ReLU blocks, max-pooling
between them, global average pooling, one linear layer), so the comparison is not rigged against the
CNN. Global pooling makes it work for any canvas size, and its cost grows with the pixels.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from ram.models.base import CLASSES, Model


class FullImage(Model):
    """What the full-image networks share: forward(canvas) -> logits, trained by cross-entropy on the
    env's canvases and scored by one deterministic pass. A subclass defines its layers and forward."""

    def loss(self, env, options: dict, generator, train_cfg) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Cross-entropy on the env's canvases for the digits ``options["indices"]``; stats shaped like RAM's."""
        env.reset(options={"indices": options["indices"]})
        logits = self(env.canvases())  # B, classes
        labels = env.labels()
        loss = F.cross_entropy(logits, labels)
        reward = (logits.argmax(1) == labels).float().mean()
        return loss, {"loss": loss.detach(), "ce": loss.detach(), "reward": reward.detach()}

    @torch.no_grad()
    def wrong_episodes(self, env, mode: str = "deterministic", mc_samples: int = 1) -> torch.Tensor:
        """(N,) bool over the env's fixed split; every mode is the same deterministic forward pass per canvas."""
        self.eval()
        wrong = torch.zeros(env.size, dtype=torch.bool, device=env.device)
        for options, valid in env.split_batches():
            env.reset(options=options)
            index = options["indices"][valid]
            wrong[index] = (self(env.canvases()).argmax(1) != env.labels())[valid]
        self.train()
        return wrong

    def test_errors(self, env, mc_samples: int) -> dict:
        errors = dict.fromkeys(("test_error_single", "test_error_deterministic", "test_error_mc"),
                               self.error(env, "deterministic", 1))
        errors["test_error_note"] = "full-image baseline: one deterministic pass, the three test errors are equal"
        return {**errors, "mc_samples": None}

    def one_image(self, canvas_size: int) -> Callable[[], torch.Tensor]:
        canvas = torch.zeros(1, canvas_size, canvas_size, device=next(self.parameters()).device)
        return lambda: self(canvas)


class FullyConnected(FullImage):
    """canvas (S*S) -> hidden -> hidden -> classes, ReLU between."""

    def __init__(self, *, canvas_size: int, hidden: int = 256, classes: int = CLASSES):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(canvas_size**2, hidden), nn.ReLU(),
                                 nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, classes))

    @classmethod
    def from_config(cls, cfg) -> "FullyConnected":
        return cls(canvas_size=cfg.data.canvas_size, hidden=cfg.model.fc_hidden)

    @staticmethod
    def describe(m: dict) -> str:
        return f"FC 2x{m['fc_hidden']}"

    def forward(self, canvas: torch.Tensor) -> torch.Tensor:
        return self.net(canvas / 255.0)  # B, classes


class PaperCNN(FullImage):
    """Conv 8@10x10 stride 5 + ReLU -> 256 ReLU units -> classes: the paper's 'Convolutional, 2 layers'."""

    def __init__(self, *, canvas_size: int, filters: int = 8, kernel: int = 10, stride: int = 5, hidden: int = 256,
                 classes: int = CLASSES):
        super().__init__()
        side = (canvas_size - kernel) // stride + 1  # no padding: 11 at 60x60, 19 at 100x100
        self.conv = nn.Conv2d(1, filters, kernel, stride)
        self.fc = nn.Linear(filters * side * side, hidden)
        self.out = nn.Linear(hidden, classes)

    @classmethod
    def from_config(cls, cfg) -> "PaperCNN":
        return cls(canvas_size=cfg.data.canvas_size)

    @staticmethod
    def describe(m: dict) -> str:
        return "CNN paper (8@10x10/5, 256)"

    def forward(self, canvas: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv(canvas[:, None] / 255.0))  # B, filters, side, side
        return self.out(F.relu(self.fc(x.flatten(1))))  # B, classes


class ModernCNN(FullImage):
    """Four conv3x3-BN-ReLU blocks of width w, 2w, 4w, 8w with 2x2 max-pooling after the first three,
    then global average pooling and a linear classifier. Receptive field 38 px: a whole 28 px digit."""

    def __init__(self, *, width: int = 32, classes: int = CLASSES):
        super().__init__()
        layers, c_in = [], 1
        for i, c_out in enumerate((width, 2 * width, 4 * width, 8 * width)):
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]
            if i < 3:
                layers.append(nn.MaxPool2d(2))
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.out = nn.Linear(c_in, classes)

    @classmethod
    def from_config(cls, cfg) -> "ModernCNN":
        return cls(width=cfg.model.cnn_width)

    @staticmethod
    def describe(m: dict) -> str:
        w = m["cnn_width"]
        return f"CNN 4 blocks ({w}-{2 * w}-{4 * w}-{8 * w}, BN, GAP)"

    def forward(self, canvas: torch.Tensor) -> torch.Tensor:
        x = self.features(canvas[:, None] / 255.0)  # B, 8w, S/8, S/8
        return self.out(x.mean((2, 3)))  # B, classes
