"""Shared test setup: the real MNIST files, one torch thread, wandb kept offline."""

import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)  # small ops crawl with 2 intra-op threads on the shared CI machine
os.environ.setdefault("WANDB_MODE", "offline")

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("RAM_DATA_DIR") or REPO.parent / "shared" / "data" / "mnist")


@pytest.fixture(scope="session")
def data_dir() -> str:
    if not (DATA_DIR / "train-images-idx3-ubyte.gz").is_file():
        pytest.fail(f"MNIST not found in {DATA_DIR}: set RAM_DATA_DIR to the folder with the four .gz files")
    os.environ["RAM_DATA_DIR"] = str(DATA_DIR)
    return str(DATA_DIR)
