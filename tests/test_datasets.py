"""Other MNIST-format datasets: Fashion-MNIST and KMNIST by md5, your own IDX files with verify=False.

The canonical Fashion-MNIST and KMNIST files cannot be fetched here, so the tests write small IDX sets
of their own, serve them from 127.0.0.1, and use the real MNIST files as "another dataset's".
"""

import functools
import gzip
import hashlib
import http.server
import json
import struct
import threading
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401  (registers the ids)
import train
from envs.data import digits
from envs.datasets import DATASETS
from envs.mnist import SPLIT_FILES, DataError, default_cache_dir, load_split
from ram.training.checkpoint import CheckpointError, check_compatible
from ram.training.config import ConfigError, load_config, to_dict
from tests.conftest import REPO

C60 = "RAM/ClutteredMNIST60-v0"


def write_idx(folder: Path, split: str, images: np.ndarray, labels: np.ndarray) -> None:
    """The split's two .gz files in IDX format: magic, dimensions (big-endian), then the bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    image_name, label_name = SPLIT_FILES[split]
    header = struct.pack(">IIII", 2051, *images.shape)
    (folder / image_name).write_bytes(gzip.compress(header + images.astype(np.uint8).tobytes(), mtime=0))
    (folder / label_name).write_bytes(gzip.compress(struct.pack(">II", 2049, len(labels)) +
                                                    labels.astype(np.uint8).tobytes(), mtime=0))


@pytest.fixture()
def own_set(tmp_path) -> tuple[Path, dict]:
    """A folder of small IDX files (100 training, 30 test images, 28x28) and the arrays they hold."""
    rng = np.random.default_rng(0)
    arrays = {split: (rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n, dtype=np.uint8))
              for split, n in (("train", 100), ("test", 30))}
    for split, (images, labels) in arrays.items():
        write_idx(tmp_path / "own", split, images, labels)
    return tmp_path / "own", arrays


def serve(folder: Path):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *a: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}/"


def test_every_dataset_has_the_four_canonical_files_its_own_md5s_mirrors_and_cache_folder():
    assert set(DATASETS) == {"mnist", "fashion-mnist", "kmnist"}
    names = {name for pair in SPLIT_FILES.values() for name in pair}
    md5s = [md5 for d in DATASETS.values() for md5 in d.files.values()]
    assert all(set(d.files) == names for d in DATASETS.values())
    assert len(set(md5s)) == len(md5s) == 12 and all(len(m) == 32 for m in md5s)  # an md5 names its dataset
    assert all(d.mirrors and all(m.startswith("http") and m.endswith("/") for m in d.mirrors) for d in DATASETS.values())
    assert len({default_cache_dir(name) for name in DATASETS}) == 3  # the same file names: one folder each
    assert len({d.dir_env for d in DATASETS.values()} | {d.mirrors_env for d in DATASETS.values()}) == 6


def test_own_idx_files_load_unverified_and_are_refused_verified(own_set):
    folder, arrays = own_set
    images, labels = load_split("test", folder, verify=False)
    np.testing.assert_array_equal(images, arrays["test"][0])
    np.testing.assert_array_equal(labels, arrays["test"][1])
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte\.gz has md5 .* expected bef4ecab.*not the canonical "
                                        r"Fashion-MNIST file \(data\.dataset=fashion-mnist\).*data\.verify=false"):
        load_split("test", folder, dataset="fashion-mnist")


def test_unverified_files_are_still_checked_for_format_and_shape(own_set):
    folder, arrays = own_set
    write_idx(folder, "test", np.zeros((30, 32, 32), np.uint8), arrays["test"][1])  # not 28x28
    with pytest.raises(DataError, match=r"expected images \(N, 28, 28\).*got \(30, 32, 32\)"):
        load_split("test", folder, verify=False)
    write_idx(folder, "test", arrays["test"][0], np.full(30, 12, np.uint8))
    with pytest.raises(DataError, match="holds the label 12, expected classes 0-9"):
        load_split("test", folder, verify=False)
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x02" + bytes(8)))
    with pytest.raises(DataError, match="has magic number 2050, expected 2051 .* or 2049"):
        load_split("test", folder, verify=False)


def test_another_datasets_files_are_a_clear_error_naming_whose_they_are_and_the_switch(data_dir):
    with pytest.raises(DataError) as caught:
        load_split("test", data_dir, dataset="fashion-mnist")
    message = str(caught.value)
    assert "\n" not in message and "expected bef4ecab320f06d8554ea6380940ec79" in message
    assert "it is MNIST's, not Fashion-MNIST's: set data.dataset=mnist" in message and "data.verify=false" in message


def test_the_dataset_variable_and_cache_are_the_datasets_own_and_downloads_check_its_md5(own_set, tmp_path, monkeypatch):
    """RAM_DATA_DIR (MNIST's folder) is never read for another dataset: it comes from its cache, downloaded."""
    folder, arrays = own_set
    for name in SPLIT_FILES["test"]:  # these files play the canonical Fashion-MNIST ones
        monkeypatch.setitem(DATASETS["fashion-mnist"].files, name, hashlib.md5((folder / name).read_bytes()).hexdigest())
    monkeypatch.setenv("RAM_DATA_DIR", str(tmp_path / "mnist-is-here"))
    monkeypatch.delenv("RAM_FASHION_MNIST_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    httpd, url = serve(folder)
    try:
        monkeypatch.setenv("RAM_FASHION_MNIST_MIRRORS", url)
        images, labels = load_split("test", dataset="fashion-mnist")
        np.testing.assert_array_equal(labels, arrays["test"][1])
        assert sorted(p.name for p in (tmp_path / "cache" / "ram" / "fashion-mnist").iterdir()) == sorted(SPLIT_FILES["test"])
        monkeypatch.setitem(DATASETS["kmnist"].files, "t10k-images-idx3-ubyte.gz", "0" * 32)
        monkeypatch.setenv("RAM_KMNIST_MIRRORS", url)
        with pytest.raises(DataError, match=r"from http://127\.0\.0\.1.* has md5 .* expected 0{32} \(KMNIST's\)"):
            load_split("test", dataset="kmnist")
        assert list((tmp_path / "cache" / "ram" / "kmnist").iterdir()) == []  # nothing half-downloaded stays
    finally:
        httpd.shutdown()
        httpd.server_close()
    monkeypatch.setenv("RAM_FASHION_MNIST_DIR", str(folder))  # its own variable is read
    assert len(load_split("train", dataset="fashion-mnist", verify=False)[0]) == 100


def test_the_gym_ids_take_the_dataset_and_verify_keywords(own_set):
    folder, arrays = own_set
    env = gym.make(C60, dataset="fashion-mnist", data_dir=str(folder), verify=False, split="test", distractors=0,
                   canvas_size=28)
    env.reset(options={"index": 4})
    canvas = env.unwrapped._vec.canvases()[0].numpy()  # 28x28, no clutter: the image itself
    np.testing.assert_array_equal(canvas, arrays["test"][0][4])
    vec = gym.make_vec(C60, num_envs=2, dataset="kmnist", data_dir=str(folder), verify=False, val_size=20)
    assert vec.size == 80  # 100 training images minus 20 for validation
    assert len(digits("val", folder, val_size=20, dataset="kmnist", verify=False)[0]) == 20
    with pytest.raises(DataError, match="data.verify=false"):
        gym.make(C60, dataset="kmnist", data_dir=str(folder), split="test")
    with pytest.raises(ValueError, match="unknown dataset 'cifar10': use one of mnist, fashion-mnist, kmnist"):
        gym.make(C60, dataset="cifar10", data_dir=str(folder))


def test_config_validates_the_dataset_and_the_switch():
    cfg = load_config(None, ["data.dataset=kmnist", "data.verify=false"])
    assert (cfg.data.dataset, cfg.data.verify) == ("kmnist", False)
    assert (load_config().data.dataset, load_config().data.verify) == ("mnist", True)
    with pytest.raises(ConfigError, match="data.dataset='emnist' is not one of mnist, fashion-mnist, kmnist"):
        load_config(None, ["data.dataset=emnist"])
    with pytest.raises(ConfigError, match="data.verify: expected bool, got 'maybe'"):
        load_config(None, ["data.verify=maybe"])


def test_train_py_trains_on_a_folder_of_unverified_files(own_set, tmp_path):
    folder, _ = own_set
    out = tmp_path / "run"
    code = train.main(["--config", str(REPO / "configs/mnist28.yaml"), "data.dataset=fashion-mnist", "data.verify=false",
                       "--data-dir", str(folder), "--out", str(out), "train.epochs=1", "data.val_size=20",
                       "eval.mc_samples=1", "logger.wandb=disabled"])
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    assert 0 <= results["test_error_deterministic"] <= 1
    assert "dataset: fashion-mnist" in (out / "config.yaml").read_text()


def test_train_py_on_the_wrong_datasets_files_is_one_line_naming_the_switch(data_dir, tmp_path, capsys):
    code = train.main(["data.dataset=fashion-mnist", "--data-dir", data_dir, "--out", str(tmp_path / "run"),
                       "logger.wandb=disabled"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0, err
    assert "Fashion-MNIST" in err and "data.dataset=mnist" in err and "data.verify=false" in err


def test_a_checkpoint_from_before_data_dataset_still_resumes_as_mnist():
    saved = to_dict(load_config())
    del saved["data"]["dataset"], saved["data"]["verify"]  # what every older run's checkpoint holds
    check_compatible({"config": saved}, load_config())
    with pytest.raises(CheckpointError, match="was trained with data.dataset='mnist'"):
        check_compatible({"config": saved}, load_config(None, ["data.dataset=kmnist"]))
