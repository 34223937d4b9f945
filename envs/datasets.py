"""The MNIST-format datasets the project knows: their canonical files, md5s, mirrors and variables.

All of them ship the same four IDX files (28x28 uint8 images, labels 0-9), so every canvas, split,
sensor and model works on each one unchanged; only where the bytes come from and what they must
hash to differ. A folder of your own IDX files is read with ``verify=False`` (``data.verify=false``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Dataset:
    name: str  # the value of data.dataset and of the envs' dataset= keyword
    title: str  # how messages call it
    files: dict  # file name -> md5 of the canonical .gz file
    mirrors: tuple[str, ...]  # base URLs, each serving the four files under their canonical names
    dir_env: str  # a folder holding the files, used when no data_dir is given
    mirrors_env: str  # comma-separated base URLs that replace the mirrors

    def data_dir_from_env(self) -> str | None:
        return os.environ.get(self.dir_env) or None


DATASETS = {d.name: d for d in (
    Dataset("mnist", "MNIST", {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    }, ("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/"),
        # RAM_DATA_DIR keeps its old meaning (the MNIST folder): it never stands in for another dataset
        "RAM_DATA_DIR", "RAM_MNIST_MIRRORS"),
    Dataset("fashion-mnist", "Fashion-MNIST", {  # md5s: github.com/zalandoresearch/fashion-mnist
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    }, ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        "RAM_FASHION_MNIST_DIR", "RAM_FASHION_MNIST_MIRRORS"),
    Dataset("kmnist", "KMNIST", {  # md5s: github.com/rois-codh/kmnist, as torchvision checks them
        "train-images-idx3-ubyte.gz": "bdb82020997e1d708af4cf47b453dcf7",
        "train-labels-idx1-ubyte.gz": "e144d726b3acfaa3e44228e80efcd344",
        "t10k-images-idx3-ubyte.gz": "5c965bf0a639b31b8f53240b1b52f4d7",
        "t10k-labels-idx1-ubyte.gz": "7320c461ea6c1c855c0b718fb2a4b134",
    }, ("http://codh.rois.ac.jp/kmnist/dataset/kmnist/",),
        "RAM_KMNIST_DIR", "RAM_KMNIST_MIRRORS"),
)}


def get_dataset(name: str) -> Dataset:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}: use one of {', '.join(DATASETS)}")
    return DATASETS[name]


def owner_of(md5: str) -> Dataset | None:
    """The dataset whose canonical file has this md5 (to say whose files a folder holds), or None."""
    return next((d for d in DATASETS.values() if md5 in d.files.values()), None)
