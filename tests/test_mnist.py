"""MNIST files: IDX parsing, md5 checks, and the downloader against a real HTTP server on 127.0.0.1."""

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest

from envs import mnist
from envs.data import digits
from envs.mnist import FILES, DataError, download, load_split, read_idx


@pytest.fixture()
def server(data_dir, serve):
    """The shared MNIST files over HTTP on 127.0.0.1; the base URL."""
    return serve({name: (Path(data_dir) / name).read_bytes() for name in FILES})


def test_idx_parsing_of_real_files(data_dir):
    images, labels = load_split("test", data_dir)
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,)
    assert np.bincount(labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    train_images, _ = load_split("train", data_dir)
    assert train_images.shape == (60000, 28, 28)
    assert abs(train_images.mean() - 33.3184) < 1e-3  # the published mean training pixel


def test_uncompressed_idx_reads_the_same(data_dir, tmp_path):
    raw = tmp_path / "t10k-labels-idx1-ubyte"
    raw.write_bytes(gzip.decompress((Path(data_dir) / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    assert np.array_equal(read_idx(raw), read_idx(Path(data_dir) / "t10k-labels-idx1-ubyte.gz"))


def test_md5_mismatch_is_a_clear_error(data_dir, tmp_path):
    for name in FILES:
        shutil.copy(Path(data_dir) / name, tmp_path / name)
    bad = tmp_path / "t10k-labels-idx1-ubyte.gz"
    bad.write_bytes(gzip.compress(gzip.decompress(bad.read_bytes())[:-1] + b"\x03"))  # one label changed
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte\.gz has md5 .* expected ec29112d"):
        load_split("test", tmp_path)


def test_missing_directory_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_split("test", tmp_path / "nowhere")


def test_download_from_local_server_verifies_md5(server, tmp_path):
    path = download("t10k-labels-idx1-ubyte.gz", tmp_path, urls=(server,))
    assert path == tmp_path / "t10k-labels-idx1-ubyte.gz"
    assert mnist.md5sum(path) == FILES["t10k-labels-idx1-ubyte.gz"]
    assert not list(tmp_path.glob("*.part"))


def test_first_use_downloads_into_the_cache(server, tmp_path, monkeypatch):
    monkeypatch.delenv("RAM_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("RAM_MNIST_MIRRORS", server)
    images, labels = load_split("test")
    assert images.shape == (10000, 28, 28) and len(labels) == 10000
    assert sorted(p.name for p in (tmp_path / "ram" / "mnist").iterdir()) == [
        "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]


def test_download_with_wrong_bytes_leaves_nothing(tmp_path, serve):
    url = serve({"t10k-labels-idx1-ubyte.gz": b"not mnist at all"})
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte\.gz .* has md5"):
        download("t10k-labels-idx1-ubyte.gz", tmp_path / "cache", urls=(url,))
    assert list((tmp_path / "cache").iterdir()) == []


def test_validation_split_is_held_out_of_training(data_dir):
    train_images, _ = digits("train", data_dir, val_size=5000)
    val_images, val_labels = digits("val", data_dir, val_size=5000)
    assert len(train_images) == 55000 and len(val_images) == 5000
    train_set = {bytes(x) for x in train_images.numpy().reshape(len(train_images), -1)[:, 100:500]}
    overlap = sum(bytes(x) in train_set for x in val_images.numpy().reshape(5000, -1)[:, 100:500])
    assert overlap < 50  # MNIST has a handful of near-duplicates; a leaked split would overlap fully
    assert len(digits("train", data_dir, train_size=2048)[0]) == 2048
