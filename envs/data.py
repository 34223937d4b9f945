"""Digit splits: the training file minus a held-out validation set, validation, and test.

The validation digits are a fixed random subset of the dataset's training file (the same for every
run, whatever its seed), so model selection never looks at the test set.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from envs.mnist import load_split

SPLITS = ("train", "val", "test")
VAL_SEED = 12345  # fixed: the validation digits must not move with the run's seed


@functools.lru_cache(maxsize=8)
def _load(split: str, data_dir: str | None, dataset: str, verify: bool) -> tuple[np.ndarray, np.ndarray]:
    return load_split(split, data_dir, verify=verify, dataset=dataset)


def digits(split: str, data_dir: str | None = None, val_size: int = 5000, train_size: int | None = None,
           dataset: str = "mnist", verify: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N, 28, 28) uint8 and labels (N,) long of one split of an MNIST-format dataset.

    train_size keeps only the first train_size training digits (quick runs); val and test are whole.
    dataset and verify: as ``envs.mnist.load_split`` takes them.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: use one of {', '.join(SPLITS)}")
    images, labels = _load("test" if split == "test" else "train", str(data_dir) if data_dir else None,
                           dataset, bool(verify))
    if split != "test":
        if not 0 < val_size < len(images):
            raise ValueError(f"val_size {val_size} must be between 1 and {len(images) - 1}")
        order = np.random.default_rng(VAL_SEED).permutation(len(images))
        keep = order[:val_size] if split == "val" else np.sort(order[val_size:])
        if split == "train" and train_size:
            keep = keep[:train_size]
        images, labels = images[keep], labels[keep]
    return torch.from_numpy(np.array(images)), torch.from_numpy(labels.astype(np.int64))
