"""Loading Fashion-MNIST from local files: layouts, verification and errors."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest
import torch

from fedutils.data import fashion_mnist
from fedutils.data.fashion_mnist import FILES, load_fashion_mnist, locate_fashion_mnist
from fedutils.errors import DataError


@pytest.fixture(scope="module")
def source_folder() -> Path:
    return locate_fashion_mnist(download=False)


def _copy_files(source: Path, destination: Path, *, decompress: bool = False) -> None:
    destination.mkdir(parents=True, exist_ok=True)
    for path in source.iterdir():
        if decompress and path.suffix == ".gz":
            (destination / path.stem).write_bytes(gzip.decompress(path.read_bytes()))
        else:
            shutil.copy(path, destination / path.name)


def test_shapes_scaling_and_labels(fmnist):
    assert fmnist.train.x.shape == (60_000, 1, 28, 28)
    assert fmnist.test.x.shape == (10_000, 1, 28, 28)
    assert fmnist.train.x.dtype == torch.float32 and fmnist.train.y.dtype == torch.int64
    assert fmnist.train.x.min() == 0.0 and fmnist.train.x.max() == 1.0  # divided by 255, no normalisation
    assert torch.bincount(fmnist.train.y).tolist() == [6000] * 10
    assert torch.bincount(fmnist.test.y).tolist() == [1000] * 10
    assert fmnist.class_names[5] == "Sandal" and fmnist.class_names[7] == "Sneaker"


def test_plain_files_in_torchvision_layout_load_identically(tmp_path, source_folder, fmnist):
    _copy_files(source_folder, tmp_path / "FashionMNIST" / "raw", decompress=True)
    copy = load_fashion_mnist(tmp_path, download=False)
    assert torch.equal(copy.test.x, fmnist.test.x) and torch.equal(copy.train.y, fmnist.train.y)


def test_environment_variable_is_used(tmp_path, monkeypatch, source_folder):
    _copy_files(source_folder, tmp_path)
    monkeypatch.setenv(fashion_mnist.ENV_VAR, str(tmp_path))
    assert locate_fashion_mnist(download=False) == tmp_path


def test_missing_files_give_one_sentence_on_how_to_get_them(tmp_path):
    with pytest.raises(DataError) as error:
        load_fashion_mnist(tmp_path, download=False)
    message = str(error.value)
    assert str(tmp_path) in message and "apt-get install dataset-fashion-mnist" in message
    assert message.count(". ") == 0 and message.endswith(".")


def test_corrupt_file_is_reported(tmp_path, source_folder):
    _copy_files(source_folder, tmp_path, decompress=True)
    labels = tmp_path / FILES[1].name
    data = bytearray(labels.read_bytes())
    data[100] ^= 0xFF
    labels.write_bytes(bytes(data))
    with pytest.raises(DataError, match="corrupt"):
        load_fashion_mnist(tmp_path, download=False)


def test_truncated_gzip_is_reported(tmp_path, source_folder):
    _copy_files(source_folder, tmp_path)
    images = tmp_path / (FILES[2].name + ".gz")
    images.write_bytes(images.read_bytes()[:1000])
    with pytest.raises(DataError, match=r"cannot be read|corrupt"):
        load_fashion_mnist(tmp_path, download=False)
