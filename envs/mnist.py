"""MNIST-format IDX files (MNIST, Fashion-MNIST, KMNIST or your own): locate, download (md5-checked), parse.

Where the files come from, in order: an explicit directory (``--data-dir``), the dataset's environment
variable (``RAM_DATA_DIR`` for MNIST, ``RAM_FASHION_MNIST_DIR``, ``RAM_KMNIST_DIR``: see envs/datasets.py),
else a cache directory (``$XDG_CACHE_HOME/ram/<dataset>``) that is filled from the mirrors on first use.
A .gz file is only used after its md5 matched the dataset's canonical one (``verify=False`` skips that
for your own files, which are still checked for format and shape), and a download lands under a
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

from envs.datasets import DATASETS, get_dataset, owner_of

FILES = DATASETS["mnist"].files  # name -> md5 of the canonical .gz file (MNIST's; every dataset uses these names)
SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
MIRRORS = DATASETS["mnist"].mirrors
IDX_MAGIC = {2051: 3, 2049: 1}  # images have 3 dims (N, 28, 28), labels 1 (N,)


class DataError(RuntimeError):
    """A data file is missing, corrupt or inconsistent; the message names the file and the fix."""


def md5sum(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def default_cache_dir(dataset: str = "mnist") -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ram" / get_dataset(dataset).name  # one folder per dataset: their file names clash


def resolve_data_dir(data_dir: str | os.PathLike | None = None, dataset: str = "mnist") -> Path:
    """The explicit directory, else the dataset's variable ($RAM_DATA_DIR for MNIST), else the download cache."""
    spec = get_dataset(dataset)
    chosen = data_dir or spec.data_dir_from_env()
    if chosen:
        path = Path(chosen).expanduser()
        if not path.is_dir():
            source = "--data-dir" if data_dir else spec.dir_env
            raise DataError(f"data directory {path} (from {source}) does not exist: "
                            f"point it at a folder holding the four {spec.title} .gz files")
        return path
    return default_cache_dir(dataset)


def find_file(data_dir: Path, name: str) -> Path | None:
    """The .gz file, or its uncompressed twin (``name`` without .gz), whichever exists."""
    for candidate in (data_dir / name, data_dir / name.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None


def mirrors(dataset: str = "mnist") -> tuple[str, ...]:
    """Base URLs to fetch from: the dataset's $RAM_..._MIRRORS (comma-separated) if set, else its public mirrors."""
    spec = get_dataset(dataset)
    chosen = os.environ.get(spec.mirrors_env)
    return tuple(m.strip().rstrip("/") + "/" for m in chosen.split(",") if m.strip()) if chosen else spec.mirrors


def download(name: str, dest_dir: Path, urls: tuple[str, ...] | None = None, timeout: float = 30.0,
             dataset: str = "mnist") -> Path:
    """Fetch ``name`` into ``dest_dir``, verify its md5, then rename it into place.

    A partial or corrupt download never keeps the final name; a checksum mismatch is an error, not a
    retry with the next mirror (bad bytes from a mirror are worth knowing about)."""
    spec = get_dataset(dataset)
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest, tmp = dest_dir / name, dest_dir / (name + ".part")
    errors = []
    for mirror in urls or mirrors(dataset):
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
        if digest != spec.files[name]:
            tmp.unlink(missing_ok=True)
            raise DataError(f"download of {name} from {url} has md5 {digest}, expected {spec.files[name]} "
                            f"({spec.title}'s): the mirror served a bad file; retry later or pass --data-dir "
                            "with a good copy")
        os.replace(tmp, dest)
        return dest
    raise DataError(f"could not download {name} (tried {'; '.join(errors)}): "
                    f"check the network, or pass --data-dir / set {spec.dir_env} to a folder with the {spec.title} files")


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
                        "this is not an MNIST-format IDX file")
    ndim = IDX_MAGIC[magic]
    shape = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    offset, count = 4 + 4 * ndim, int(np.prod(shape))
    if len(raw) - offset != count:
        raise DataError(f"{path} holds {len(raw) - offset} data bytes but its header promises {count} "
                        f"(shape {shape}): the file is truncated or corrupt; delete it and download it again")
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(shape)


def not_canonical(path: Path, digest: str, dataset: str) -> DataError:
    """The one-line error for a file whose md5 is not the dataset's: whose file it is, and the two ways out."""
    spec, owner = get_dataset(dataset), owner_of(digest)
    own = "data.verify=false (verify=False for the env) to read your own IDX files, checked for format but not md5"
    if owner is not None:
        what = (f"it is {owner.title}'s, not {spec.title}'s: set data.dataset={owner.name} (dataset={owner.name!r} "
                f"for the env), or {own}")
    else:
        what = (f"it is not the canonical {spec.title} file (data.dataset={spec.name}): set {own}; "
                "else it is corrupt: delete it and download it again")
    return DataError(f"{path} has md5 {digest}, expected {spec.files[path.name]}: {what}")


def load_split(split: str, data_dir: str | os.PathLike | None = None, verify: bool = True,
               allow_download: bool = True, dataset: str = "mnist") -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 28, 28) uint8 and labels (N,) uint8 of the dataset's 'train' or 'test' file pair.

    verify=False reads the .gz files whatever their md5 (your own IDX files); format, shapes, pairing
    and labels are checked all the same. A download is always md5-checked."""
    if split not in SPLIT_FILES:
        raise ValueError(f"unknown MNIST split {split!r}: use 'train' or 'test'")
    spec = get_dataset(dataset)
    root = resolve_data_dir(data_dir, dataset)
    explicit = bool(data_dir or spec.data_dir_from_env())
    arrays, paths = [], []
    for name in SPLIT_FILES[split]:
        path = find_file(root, name)
        if path is None:
            if explicit or not allow_download:
                raise DataError(f"{name} is missing from {root}: put the four {spec.title} files there, "
                                f"or drop --data-dir/{spec.dir_env} to download them into the cache")
            path = download(name, root, dataset=dataset)
        elif verify and path.suffix == ".gz" and (digest := md5sum(path)) != spec.files[name]:
            raise not_canonical(path, digest, dataset)
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
        raise DataError(f"{label_path} holds the label {labels.max()}, expected classes 0-9: the file is corrupt "
                        "or not an MNIST-format label file")
    return images, labels
