"""UCI Adult Census (Kohavi 1996) from the archive's two files, verified and encoded as the authors did (SPEC §2.3).

Where ``adult.data`` and ``adult.test`` are looked for, in order:

1. an explicit ``root`` (only there; missing files are downloaded into it
   when ``download=True``);
2. otherwise the folder named by ``$FEDUTILS_DATA``, or its ``adult/``
   subfolder (same rule);
3. otherwise the user cache ``~/.cache/fedutils/data/adult``, downloading
   into it from the UCI archive when ``download=True``.

Both files are checked against their SHA-256. The encoding reproduces the
104 features the authors' network takes (SPEC §2.3): rows with a missing
value ("?") are dropped (30,162 training and 15,060 test rows remain); the
six continuous features are min–max scaled with the training set's minima
and maxima; the eight categorical features are one-hot encoded over the
values that occur in the training set (6 + 98 = 104 columns). The label is 1
for income above 50K. Unlike the authors' code, the training set is not
truncated to 30,160 rows: the IID split hands the two extra rows to the
last agents.
"""

from __future__ import annotations

import functools
import hashlib
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from fedutils.data.dataset import Dataset, LabelledData
from fedutils.data.targets import Target
from fedutils.errors import DataError

NAME = "adult"
ENV_VAR = "FEDUTILS_DATA"
DEFAULT_DOWNLOAD_DIR = Path.home() / ".cache" / "fedutils" / "data" / NAME
ARCHIVE_URL = "https://archive.ics.uci.edu/ml/machine-learning-databases/adult/"
CLASS_NAMES = ("<=50K", ">50K")
TRAIN_SIZE = 30_162
TEST_SIZE = 15_060
"""Rows left in each split once rows with a missing value are dropped."""

CONTINUOUS = ("age", "fnlwgt", "education-num", "capital-gain", "capital-loss", "hours-per-week")
CATEGORICAL = (
    "workclass",
    "education",
    "marital-status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "native-country",
)
COLUMNS = (
    "age",
    "workclass",
    "fnlwgt",
    "education",
    "education-num",
    "marital-status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "capital-gain",
    "capital-loss",
    "hours-per-week",
    "native-country",
    "income",
)
MISSING = "?"


@dataclass(frozen=True)
class UciFile:
    """One of the archive's files and the SHA-256 of its bytes."""

    name: str
    sha256: str


TRAIN_FILE = UciFile("adult.data", "5b00264637dbfec36bdeaab5676b0b309ff9eb788d63554ca0a249491c86603d")
TEST_FILE = UciFile("adult.test", "a2a9044bc167a35b2361efbabec64e89d69ce82d9790d2980119aac5fd7e9c05")
FILES = (TRAIN_FILE, TEST_FILE)
"""The two files of the UCI archive, with their checksums."""
SPLITS = ("train", "test")
"""The splits, in the order of :data:`FILES`."""

PAPER_TARGET = Target(index=13_871, target_class=0)
"""The target the authors' code would draw (SPEC §2.2–2.3): after its seed-777 permutation of 30,160 training
rows, ``choice(15060)`` gives test row 13,871 (in the UCI order, once rows with missing values are dropped), a
person earning above 50K, to be classified as earning at most 50K. The authors' pre-made test matrix was not
published, so its row order, and hence this row, is a reconstruction."""

HOW_TO_GET = (
    f"download adult.data and adult.test from {ARCHIVE_URL} into a folder and point data_root= "
    f"(--data-root) or ${ENV_VAR} at it, or allow the download"
)


@dataclass(frozen=True)
class AdultEncoding:
    """How rows become feature vectors: the training set's ranges and category values.

    Attributes:
        minima, maxima: per continuous feature, its training-set range.
        categories: per categorical feature, the values that occur in the training set, sorted.
    """

    minima: tuple[float, ...]
    maxima: tuple[float, ...]
    categories: tuple[tuple[str, ...], ...]

    @classmethod
    def fit(cls, rows: list[list[str]]) -> AdultEncoding:
        """The encoding of the (complete) training ``rows``."""
        continuous = _continuous(rows)
        categories = tuple(tuple(sorted({row[COLUMNS.index(c)] for row in rows})) for c in CATEGORICAL)
        return cls(tuple(continuous.min(axis=0)), tuple(continuous.max(axis=0)), categories)

    @property
    def feature_names(self) -> list[str]:
        """One name per column: the continuous features, then ``feature=value`` per category."""
        pairs = zip(CATEGORICAL, self.categories, strict=True)
        return list(CONTINUOUS) + [f"{column}={value}" for column, values in pairs for value in values]

    def summary(self) -> pd.DataFrame:
        """One row per original feature: its kind, how many columns it becomes, and (categorical) its values."""
        rows = [
            {"feature": c, "kind": "continuous, min–max scaled", "columns": 1, "values": f"{low:,.0f} – {high:,.0f}"}
            for c, low, high in zip(CONTINUOUS, self.minima, self.maxima, strict=True)
        ]
        rows += [
            {"feature": c, "kind": "categorical, one-hot", "columns": len(values), "values": ", ".join(values)}
            for c, values in zip(CATEGORICAL, self.categories, strict=True)
        ]
        return pd.DataFrame(rows).set_index("feature")

    def encode(self, rows: list[list[str]]) -> np.ndarray:
        """``(len(rows), n_features)`` float32: scaled continuous features, then the one-hot blocks."""
        low, high = np.array(self.minima), np.array(self.maxima)
        scaled = (_continuous(rows) - low) / np.where(high > low, high - low, 1.0)
        blocks = [scaled]
        for column, values in zip(CATEGORICAL, self.categories, strict=True):
            position = {value: i for i, value in enumerate(values)}
            block = np.zeros((len(rows), len(values)))
            for r, row in enumerate(rows):
                i = position.get(row[COLUMNS.index(column)])
                if i is not None:  # a value the training set never had stays all-zero
                    block[r, i] = 1.0
            blocks.append(block)
        return np.concatenate(blocks, axis=1).astype(np.float32)


def load_adult(root: str | Path | None = None, *, download: bool = True) -> Dataset:
    """Load, verify and encode Adult; see the module docstring for where it looks and how it encodes.

    Raises:
        DataError: the files are missing (and cannot be downloaded) or corrupt.
    """
    return _load_folder(locate_adult(root, download=download))


def load_adult_table(split: str = "train", root: str | Path | None = None, *, download: bool = True) -> pd.DataFrame:
    """The complete rows of one split as read, before encoding: row ``i`` is example ``i`` of :func:`load_adult`.

    Args:
        split: ``"train"`` (``adult.data``) or ``"test"`` (``adult.test``).
        root, download: as for :func:`load_adult`.
    """
    if split not in SPLITS:
        raise DataError(f"split must be one of {', '.join(SPLITS)}, got {split!r}.")
    rows = _rows(locate_adult(root, download=download))[SPLITS.index(split)]
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    table[list(CONTINUOUS)] = table[list(CONTINUOUS)].astype(np.int64)
    table["income"] = table["income"].str.rstrip(".")
    return table


def load_adult_encoding(root: str | Path | None = None, *, download: bool = True) -> AdultEncoding:
    """The encoding :func:`load_adult` fits on the training rows (arguments as for it)."""
    return AdultEncoding.fit(_rows(locate_adult(root, download=download))[0])


def holds_verified_copy(folder: str | Path) -> bool:
    """Whether ``folder`` holds both files, each matching the archive's SHA-256."""
    folder = Path(folder)
    return all((folder / f.name).is_file() and _sha256((folder / f.name).read_bytes()) == f.sha256 for f in FILES)


def locate_adult(root: str | Path | None = None, *, download: bool = True) -> Path:
    """The folder holding both files, downloading them first if allowed."""
    if root is not None:
        return _find_or_download(Path(root).expanduser(), download)
    env_root = os.environ.get(ENV_VAR)
    if env_root:
        folder = Path(env_root).expanduser()
        return _find_or_download(folder / NAME if _complete(folder / NAME) else folder, download)
    return _find_or_download(DEFAULT_DOWNLOAD_DIR, download)


def _complete(folder: Path) -> bool:
    return all((folder / f.name).is_file() for f in FILES)


def _find_or_download(folder: Path, download: bool) -> Path:
    if _complete(folder):
        return folder
    if not download:
        raise DataError(f"the Adult files were not found in {folder}; {HOW_TO_GET}.")
    folder.mkdir(parents=True, exist_ok=True)
    try:
        for file in FILES:
            if not (folder / file.name).is_file():
                urllib.request.urlretrieve(ARCHIVE_URL + file.name, folder / file.name)
    except OSError as error:
        raise DataError(
            f"the Adult files were not found in {folder} and downloading them failed ({error}); {HOW_TO_GET}."
        ) from error
    return folder


@functools.lru_cache(maxsize=2)
def _rows(folder: Path) -> tuple[list[list[str]], list[list[str]]]:
    """The verified files' complete rows: (train, test)."""
    train_rows, test_rows = (_complete_rows(_verified_text(folder, f)) for f in FILES)
    return train_rows, test_rows


@functools.lru_cache(maxsize=2)
def _load_folder(folder: Path) -> Dataset:
    train_rows, test_rows = _rows(folder)
    encoding = AdultEncoding.fit(train_rows)
    train = LabelledData(torch.from_numpy(encoding.encode(train_rows)), _labels(train_rows))
    test = LabelledData(torch.from_numpy(encoding.encode(test_rows)), _labels(test_rows))
    return Dataset(NAME, train, test, CLASS_NAMES)


def _verified_text(folder: Path, file: UciFile) -> str:
    path = folder / file.name
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise DataError(f"Adult file {path} cannot be read ({error}); {HOW_TO_GET}.") from error
    if _sha256(raw) != file.sha256:
        raise DataError(f"Adult file {path} is corrupt (its checksum does not match); delete it and {HOW_TO_GET}.")
    return raw.decode("ascii")


def _sha256(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def parse_rows(text: str) -> list[list[str]]:
    """The records of a UCI Adult file: 15 fields each; blank lines and the test file's header line skipped."""
    rows = []
    for line in text.splitlines():
        fields = [field.strip() for field in line.split(",")]
        if len(fields) == len(COLUMNS):
            rows.append(fields)
    return rows


def _complete_rows(text: str) -> list[list[str]]:
    """Records with no missing value (the authors dropped the others)."""
    return [row for row in parse_rows(text) if MISSING not in row]


def _continuous(rows: list[list[str]]) -> np.ndarray:
    return np.array([[float(row[COLUMNS.index(c)]) for c in CONTINUOUS] for row in rows], dtype=np.float64)


def _labels(rows: list[list[str]]) -> torch.Tensor:
    """1 for income above 50K (the test file writes ">50K." with a full stop)."""
    return torch.tensor([int(row[-1].rstrip(".") == ">50K") for row in rows], dtype=torch.int64)
