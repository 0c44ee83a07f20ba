"""antigrad.lab.reproduce: the MNIST-1D paper's table, its checks and its exports."""

import csv
import io
import json

import pytest

from antigrad.errors import UnknownNameError
from antigrad.lab import reproduce


def test_published_numbers_cover_every_model():
    assert set(reproduce.PAPER) == set(reproduce.REPO_LOGGED) == set(reproduce.MNIST1D_MODELS)
    assert reproduce.PAPER["cnn"] == 94.0 and reproduce.REPO_LOGGED["cnn"] == 92.3


def test_rows_hold_each_seed_in_order_with_mean_and_std():
    seen = []
    rows = reproduce.reproduce_mnist1d(["logistic"], [1, 0], steps=3, jobs=1,
                                       progress=lambda r, done, total: seen.append((done, total)))
    assert seen == [(1, 2), (2, 2)]
    (row,) = rows
    assert [r.seed for r in row.runs] == [1, 0]
    accs = [r.accuracy for r in row.runs]
    assert all(0 <= a <= 100 for a in accs)
    assert row.mean == pytest.approx(sum(accs) / 2)
    assert row.std == pytest.approx(abs(accs[0] - accs[1]) / 2 ** 0.5)
    doc = json.loads(reproduce.rows_json(rows, 3, 1.0))
    assert doc["steps"] == 3 and doc["rows"][0]["runs"][1]["seed"] == 0
    table = list(csv.DictReader(io.StringIO(reproduce.rows_csv(rows))))
    assert [t["seed"] for t in table] == ["1", "0"] and table[0]["paper"] == "32.0"
    assert "| logistic | 32.0 | 31.5 |" in reproduce.rows_text(rows)


def test_bad_arguments_are_refused():
    with pytest.raises(UnknownNameError, match="choose from: logistic"):
        reproduce.reproduce_mnist1d(["lstm"], [0], steps=1)
    with pytest.raises(ValueError, match="no model"):
        reproduce.check_models([])
    with pytest.raises(ValueError, match="steps must be > 0"):
        reproduce.reproduce_mnist1d(["logistic"], [0], steps=0)
    with pytest.raises(TypeError, match="steps must be an int"):
        reproduce.reproduce_mnist1d(["logistic"], [0], steps=2.5)
    with pytest.raises(ValueError, match="no seeds"):
        reproduce.reproduce_mnist1d(["logistic"], [], steps=1)
