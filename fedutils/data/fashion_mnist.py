"""Fashion-MNIST (Xiao et al. 2017) from local IDX files, verified.

Where the four IDX files are looked for, in order:

1. an explicit ``root`` (only there; missing files are downloaded into it
   when ``download=True``);
2. otherwise the folder named by ``$FEDUTILS_DATA`` (same rule);
3. otherwise the Debian package's folder ``/usr/share/datasets/fashion-mnist``
   (``apt-get install dataset-fashion-mnist``);
4. otherwise the user cache ``~/.cache/fedutils/data``, downloading into it
   with torchvision when ``download=True`` (this is what happens in Colab).

Each file may be stored plain or gzipped, directly in the folder, in a
``fashion-mnist/`` subfolder or in torchvision's ``FashionMNIST/raw/`` layout.
Its decompressed size and SHA-256 are checked, so a truncated or wrong file
is reported instead of silently training on garbage. Pixels are scaled to
[0, 1] by dividing by 255, with no other normalisation, as the authors' code
does (SPEC §2.1).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from fedutils.data.dataset import Dataset, LabelledData
from fedutils.errors import DataError

NAME = "fashion_mnist"
ENV_VAR = "FEDUTILS_DATA"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
DEFAULT_DOWNLOAD_DIR = Path.home() / ".cache" / "fedutils" / "data"
SUBFOLDERS = (Path("."), Path("fashion-mnist"), Path("FashionMNIST") / "raw")

TRAIN_SIZE = 60_000
TEST_SIZE = 10_000
CLASS_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


@dataclass(frozen=True)
class IdxFile:
    """One IDX file: its name and the size and SHA-256 of its decompressed bytes."""

    name: str
    size: int
    sha256: str


TRAIN_IMAGES = IdxFile(
    "train-images-idx3-ubyte", 47_040_016, "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"
)
TRAIN_LABELS = IdxFile(
    "train-labels-idx1-ubyte", 60_008, "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"
)
TEST_IMAGES = IdxFile(
    "t10k-images-idx3-ubyte", 7_840_016, "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"
)
TEST_LABELS = IdxFile(
    "t10k-labels-idx1-ubyte", 10_008, "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"
)
FILES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)

HOW_TO_GET = (
    "install it with `apt-get install dataset-fashion-mnist` (Debian), "
    f"point --data-root (data_root= in Python) or ${ENV_VAR} at a folder holding the four IDX files, "
    "or allow the torchvision download"
)


def load_fashion_mnist(root: str | Path | None = None, *, download: bool = True) -> Dataset:
    """Load and verify Fashion-MNIST; see the module docstring for where it looks.

    The files are read and verified once per process; later calls return
    the same tensors, so do not modify them in place.

    Args:
        root: folder holding the IDX files; ``None`` searches the default places.
        download: fetch the files with torchvision when they are not found.

    Raises:
        DataError: the files are missing (and cannot be downloaded) or corrupt.
    """
    folder = locate_fashion_mnist(root, download=download)
    return _load_folder(folder)


def locate_fashion_mnist(root: str | Path | None = None, *, download: bool = True) -> Path:
    """The folder holding all four files, downloading them first if allowed."""
    if root is not None:
        return _find_or_download(Path(root).expanduser(), download)
    env_root = os.environ.get(ENV_VAR)
    if env_root:
        return _find_or_download(Path(env_root).expanduser(), download)
    for candidate in (DEBIAN_DIR, DEFAULT_DOWNLOAD_DIR):
        found = _find_in(candidate)
        if found is not None:
            return found
    return _find_or_download(DEFAULT_DOWNLOAD_DIR, download)


def _find_in(root: Path) -> Path | None:
    for sub in SUBFOLDERS:
        folder = root / sub
        if all(_file_path(folder, f) is not None for f in FILES):
            return folder
    return None


def _file_path(folder: Path, idx: IdxFile) -> Path | None:
    for name in (idx.name, idx.name + ".gz"):
        path = folder / name
        if path.is_file():
            return path
    return None


def _find_or_download(root: Path, download: bool) -> Path:
    found = _find_in(root)
    if found is not None:
        return found
    if not download:
        raise DataError(f"Fashion-MNIST was not found in {root}; {HOW_TO_GET}.")
    try:
        import torchvision

        for train in (True, False):
            torchvision.datasets.FashionMNIST(str(root), train=train, download=True)
    except Exception as error:
        raise DataError(
            f"Fashion-MNIST was not found in {root} and downloading it failed ({error}); {HOW_TO_GET}."
        ) from error
    found = _find_in(root)
    if found is None:
        raise DataError(f"Fashion-MNIST was downloaded but not found in {root}; {HOW_TO_GET}.")
    return found


@functools.lru_cache(maxsize=2)
def _load_folder(folder: Path) -> Dataset:
    train = LabelledData(_images(folder, TRAIN_IMAGES), _labels(folder, TRAIN_LABELS))
    test = LabelledData(_images(folder, TEST_IMAGES), _labels(folder, TEST_LABELS))
    return Dataset(NAME, train, test, CLASS_NAMES)


def _verified_bytes(folder: Path, idx: IdxFile) -> bytes:
    path = _file_path(folder, idx)
    if path is None:
        raise DataError(f"Fashion-MNIST file {idx.name} is missing from {folder}; {HOW_TO_GET}.")
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise DataError(f"Fashion-MNIST file {path} cannot be read ({error}); delete it and {HOW_TO_GET}.") from error
    if len(raw) != idx.size or hashlib.sha256(raw).hexdigest() != idx.sha256:
        raise DataError(
            f"Fashion-MNIST file {path} is corrupt (size or checksum does not match); delete it and {HOW_TO_GET}."
        )
    return raw


def _images(folder: Path, idx: IdxFile) -> torch.Tensor:
    raw = _verified_bytes(folder, idx)
    count, rows, cols = (int(v) for v in np.frombuffer(raw, dtype=">u4", count=3, offset=4))
    pixels = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(count, 1, rows, cols)
    return torch.from_numpy(pixels.astype(np.float32) / np.float32(255.0))


def _labels(folder: Path, idx: IdxFile) -> torch.Tensor:
    raw = _verified_bytes(folder, idx)
    return torch.from_numpy(np.frombuffer(raw, dtype=np.uint8, offset=8).astype(np.int64))
