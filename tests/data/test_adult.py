"""UCI Adult: parsing, the 104-column encoding, verification and errors.

The encoding is tested on hand-written rows everywhere; the real files are
tested where ``scripts/setup.sh`` put them (fedutils' data cache), or where
``$FEDUTILS_ADULT`` or the offline copy beside the repository
(``../shared/data/adult``) holds them; those tests say so when they skip.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from fedutils.data import adult
from fedutils.data.adult import (
    CATEGORICAL,
    CONTINUOUS,
    AdultEncoding,
    load_adult,
    load_adult_encoding,
    load_adult_table,
    locate_adult,
    parse_rows,
)
from fedutils.data.targets import draw_paper_targets
from fedutils.errors import DataError

TRAIN_ROWS = [
    "39, State-gov, 77516, Bachelors, 13, Never-married, Adm-clerical, Not-in-family, White, Male, 2174, 0, 40,"
    " United-States, <=50K",
    "50, Self-emp-not-inc, 83311, Bachelors, 13, Married-civ-spouse, Exec-managerial, Husband, White, Male, 0, 0,"
    " 13, United-States, >50K",
    "17, ?, 100000, 11th, 7, Never-married, ?, Own-child, White, Female, 0, 0, 20, United-States, <=50K",
    "90, Private, 200000, HS-grad, 9, Divorced, Craft-repair, Unmarried, Black, Female, 0, 4356, 99, Cuba, <=50K",
]
TEST_ROWS = [
    "|1x3 Cross validator",
    "25, Private, 226802, 11th, 7, Never-married, Machine-op-inspct, Own-child, Black, Male, 0, 0, 40,"
    " United-States, <=50K.",
    "44, Private, 160323, Some-college, 10, Married-civ-spouse, Machine-op-inspct, Husband, Black, Male, 7688, 0,"
    " 40, Peru, >50K.",
]
TRAIN_TEXT = "\n".join(TRAIN_ROWS) + "\n\n"
TEST_TEXT = "\n".join(TEST_ROWS) + "\n"


def _complete(text: str) -> list[list[str]]:
    return [row for row in parse_rows(text) if adult.MISSING not in row]


def test_parsing_skips_the_header_and_blank_lines_and_missing_rows_are_dropped():
    assert len(parse_rows(TRAIN_TEXT)) == 4 and len(parse_rows(TEST_TEXT)) == 2
    assert len(_complete(TRAIN_TEXT)) == 3  # the row with "?" goes, as in the authors' preprocessing
    assert adult._labels(parse_rows(TEST_TEXT)).tolist() == [0, 1]  # the test file's labels end in "."


def test_encoding_scales_with_the_training_range_and_one_hot_encodes_the_training_values():
    train = _complete(TRAIN_TEXT)
    encoding = AdultEncoding.fit(train)
    x = encoding.encode(train)
    categories = sum(len(values) for values in encoding.categories)
    assert x.shape == (3, len(CONTINUOUS) + categories) and len(encoding.feature_names) == x.shape[1]
    assert x[:, : len(CONTINUOUS)].min() == 0.0 and x[:, : len(CONTINUOUS)].max() == 1.0
    assert x[0, 0] == pytest.approx((39 - 39) / (90 - 39)) and x[2, 0] == 1.0  # age: min 39, max 90
    assert (x[:, len(CONTINUOUS) :].sum(axis=1) == len(CATEGORICAL)).all()  # one value per categorical feature
    test = encoding.encode(parse_rows(TEST_TEXT))
    assert test.shape[1] == x.shape[1]  # the test set is encoded with the training set's columns
    united_states = encoding.feature_names.index("native-country=United-States")
    assert test[0, united_states] == 1.0 and test[1, united_states] == 0.0
    assert "native-country=Peru" not in encoding.feature_names  # never in training: no column, the block stays zero
    assert test[1, len(CONTINUOUS) :].sum() == len(CATEGORICAL) - 3  # Some-college, Machine-op-inspct, Peru unseen
    summary = encoding.summary()
    assert summary["columns"].sum() == x.shape[1] and list(summary.index) == [*CONTINUOUS, *CATEGORICAL]
    assert summary.loc["age", "values"] == "39 – 90" and summary.loc["sex", "values"] == "Female, Male"


def test_missing_and_corrupt_files_are_one_sentence_errors(tmp_path):
    with pytest.raises(DataError, match=r"the Adult files were not found in .*; download adult.data and adult.test"):
        load_adult(tmp_path, download=False)
    assert not adult.holds_verified_copy(tmp_path)
    (tmp_path / "adult.data").write_text(TRAIN_TEXT)
    (tmp_path / "adult.test").write_text(TEST_TEXT)
    assert not adult.holds_verified_copy(tmp_path)  # present, but not the archive's bytes
    with pytest.raises(DataError, match=r"adult.data is corrupt .*checksum"):
        load_adult(tmp_path, download=False)


def test_the_real_files_give_the_papers_104_features(adult_copy):
    assert adult.holds_verified_copy(adult_copy)
    data = load_adult(adult_copy, download=False)
    assert data.train.x.shape == (30_162, 104) and data.test.x.shape == (15_060, 104)
    for split in (data.train, data.test):
        x = split.x.numpy()
        assert np.isfinite(x).all()
        assert (x[:, len(CONTINUOUS) :].sum(axis=1) == len(CATEGORICAL)).all()  # every category seen in training
    assert data.train.x[:, : len(CONTINUOUS)].min() == 0 and data.train.x[:, : len(CONTINUOUS)].max() == 1
    assert data.train.y.float().mean().item() == pytest.approx(0.249, abs=0.001)  # 24.9 % earn above 50K
    assert data.class_names == ("<=50K", ">50K")


def test_the_table_is_the_datasets_rows_before_encoding(adult_copy):
    data = load_adult(adult_copy, download=False)
    test = load_adult_table("test", adult_copy, download=False)
    assert len(test) == len(data.test) and list(test.columns) == list(adult.COLUMNS)
    assert ((test["income"] == ">50K").to_numpy() == data.test.y.numpy().astype(bool)).all()
    encoding = load_adult_encoding(adult_copy, download=False)
    assert encoding.feature_names == load_adult_encoding(adult_copy, download=False).feature_names
    assert np.allclose(encoding.encode(test.astype(str).to_numpy().tolist()), data.test.x.numpy())
    with pytest.raises(DataError, match="split must be one of train, test"):
        load_adult_table("validation", adult_copy)


def test_env_var_and_its_adult_subfolder_are_searched(adult_copy, tmp_path, monkeypatch):
    shutil.copytree(adult_copy, tmp_path / "adult")
    monkeypatch.setenv("FEDUTILS_DATA", str(tmp_path))
    assert locate_adult(download=False) == tmp_path / "adult"


def test_the_authors_draw_gives_the_adult_target(adult_copy):
    data = load_adult(adult_copy, download=False)
    drawn = draw_paper_targets(data.test.y.numpy(), 1, num_classes=2, train_size=30_160)  # their truncated train
    assert drawn == [adult.PAPER_TARGET] and int(data.test.y[adult.PAPER_TARGET.index]) == 1
