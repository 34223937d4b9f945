"""MNIST in its original IDX format: locate, download (md5-checked) and parse.

Where the files come from, in order: an explicit directory (``--data-dir``), the ``RAM_DATA_DIR``
environment variable, else a cache directory (``$XDG_CACHE_HOME/ram/mnist``) that is filled from the
mirrors on first use. A file is only ever used after its md5 matched, and a download lands under a
temporary name that is renamed into place once it is complete and verified.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import struct
import urllib.request
import zlib
from pathlib import Path

import numpy as np

FILES = {  # name -> md5 of the canonical .gz file
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
IDX_MAGIC = {2051: 3, 2049: 1}  # images have 3 dims (N, 28, 28), labels 1 (N,)


class DataError(RuntimeError):
    """A data file is missing, corrupt or inconsistent; the message names the file and the fix."""


def md5sum(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ram" / "mnist"


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The explicit directory, else $RAM_DATA_DIR, else the download cache."""
    chosen = data_dir or os.environ.get("RAM_DATA_DIR")
    if chosen:
        path = Path(chosen).expanduser()
        if not path.is_dir():
            source = "--data-dir" if data_dir else "RAM_DATA_DIR"
            raise DataError(f"data directory {path} (from {source}) does not exist: "
                            "point it at a folder holding the four MNIST .gz files")
        return path
    return default_cache_dir()


def find_file(data_dir: Path, name: str) -> Path | None:
    """The .gz file, or its uncompressed twin (``name`` without .gz), whichever exists."""
    for candidate in (data_dir / name, data_dir / name.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None


def mirrors() -> tuple[str, ...]:
    """Base URLs to fetch from: $RAM_MNIST_MIRRORS (comma-separated) if set, else the public mirrors."""
    chosen = os.environ.get("RAM_MNIST_MIRRORS")
    return tuple(m.strip().rstrip("/") + "/" for m in chosen.split(",") if m.strip()) if chosen else MIRRORS


def download(name: str, dest_dir: Path, urls: tuple[str, ...] | None = None, timeout: float = 30.0) -> Path:
    """Fetch ``name`` into ``dest_dir``, verify its md5, then rename it into place.

    A partial or corrupt download never keeps the final name; a checksum mismatch is an error, not a
    retry with the next mirror (bad bytes from a mirror are worth knowing about)."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest, tmp = dest_dir / name, dest_dir / (name + ".part")
    errors = []
    for mirror in urls or mirrors():
        url = mirror + name
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as f:
                expected = response.headers.get("Content-Length")
                while chunk := response.read(1 << 20):
                    f.write(chunk)
                f.flush()
                os.fsync(f.fileno())
        except (OSError, http.client.HTTPException) as e:  # URLError, timeouts, refusals, early closes
            errors.append(f"{url}: {e}")
            tmp.unlink(missing_ok=True)
            continue
        size = tmp.stat().st_size
        if expected is not None and size != int(expected):
            tmp.unlink(missing_ok=True)
            raise DataError(f"download of {name} from {url} was cut short ({size} of {expected} bytes): "
                            "run again to retry")
        digest = md5sum(tmp)
        if digest != FILES[name]:
            tmp.unlink(missing_ok=True)
            raise DataError(f"download of {name} from {url} has md5 {digest}, expected {FILES[name]}: "
                            "the mirror served a bad file; retry later or pass --data-dir with a good copy")
        os.replace(tmp, dest)
        return dest
    raise DataError(f"could not download {name} (tried {'; '.join(errors)}): "
                    "check the network, or pass --data-dir / set RAM_DATA_DIR to a folder with the MNIST files")


def read_idx(path: Path) -> np.ndarray:
    """Parse an IDX file (gzip or not) into a uint8 array, with one-line errors for bad files."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path} is not a readable gzip file ({e}): delete it and download it again") from None
    if len(raw) < 8:
        raise DataError(f"{path} is too short to be an IDX file ({len(raw)} bytes): delete it and download it again")
    magic = struct.unpack(">I", raw[:4])[0]
    if magic not in IDX_MAGIC:
        raise DataError(f"{path} has magic number {magic}, expected 2051 (images) or 2049 (labels): "
                        "this is not an MNIST IDX file")
    ndim = IDX_MAGIC[magic]
    shape = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    offset, count = 4 + 4 * ndim, int(np.prod(shape))
    if len(raw) - offset != count:
        raise DataError(f"{path} holds {len(raw) - offset} data bytes but its header promises {count} "
                        f"(shape {shape}): the file is truncated or corrupt; delete it and download it again")
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(shape)


def load_split(split: str, data_dir: str | os.PathLike | None = None, verify: bool = True,
               allow_download: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 28, 28) uint8 and labels (N,) uint8 of MNIST's 'train' or 'test' file pair."""
    if split not in SPLIT_FILES:
        raise ValueError(f"unknown MNIST split {split!r}: use 'train' or 'test'")
    root = resolve_data_dir(data_dir)
    explicit = bool(data_dir or os.environ.get("RAM_DATA_DIR"))
    arrays, paths = [], []
    for name in SPLIT_FILES[split]:
        path = find_file(root, name)
        if path is None:
            if explicit or not allow_download:
                raise DataError(f"{name} is missing from {root}: put the four MNIST files there, "
                                "or drop --data-dir/RAM_DATA_DIR to download them into the cache")
            path = download(name, root)
        elif verify and path.suffix == ".gz" and (digest := md5sum(path)) != FILES[name]:
            raise DataError(f"{path} has md5 {digest}, expected {FILES[name]}: the file is corrupt or not "
                            "the canonical MNIST; delete it and download it again")
        arrays.append(read_idx(path))
        paths.append(path)
    (images, labels), (image_path, label_path) = arrays, paths
    if images.shape[1:] != (28, 28) or labels.ndim != 1:
        raise DataError(f"{image_path} and {label_path} are swapped or wrong: expected images (N, 28, 28) "
                        f"and labels (N,), got {images.shape} and {labels.shape}")
    if len(images) != len(labels):
        raise DataError(f"{image_path} holds {len(images)} images but {label_path} holds {len(labels)} labels: "
                        "the pair does not match; delete both and download them again")
    if labels.max(initial=0) > 9:
        raise DataError(f"{label_path} holds the label {labels.max()}, expected digits 0-9: the file is corrupt")
    return images, labels
