"""The lab's comparisons train an lr grid and the seeds as replicas, with the same results."""

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from antigrad.cli import app  # noqa: E402
from antigrad.lab import (  # noqa: E402
    CompareConfig,
    get_optimizer,
    replicas,
    run_compare,
)
from antigrad.problems import get_training_problem  # noqa: E402
from lab.replica_problems import count_batches  # noqa: E402

LRS = [0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5]


def test_grid_and_seeds_as_replicas_give_the_sequential_comparison(monkeypatch):
    sizes = count_batches(monkeypatch)

    def config():
        return CompareConfig("breast-cancer", ["momentum"], lrs=LRS, seeds=9, steps=20)

    together, alone = run_compare(config()), run_compare(config(), replicas=False)
    assert sizes == [8, 8]  # the grid, then the eight other seeds
    assert together.chosen_lr == alone.chosen_lr
    assert [(r.optimizer, r.lr, r.seed, r.phase) for r in together.runs] == \
        [(r.optimizer, r.lr, r.seed, r.phase) for r in alone.runs]
    # float32: batched products may round otherwise (see test_replicas.FLOAT32_BOUND)
    for a, b in zip(together.runs, alone.runs, strict=True):
        assert a.final_loss == pytest.approx(b.final_loss, rel=1e-4, abs=1e-6)
        assert a.final_metric == pytest.approx(b.final_metric, abs=0.01)
        assert a.diverged == b.diverged


def test_small_batches_and_unbatchable_methods_run_sequentially(monkeypatch):
    sizes = count_batches(monkeypatch)
    run_compare(CompareConfig("breast-cancer", ["sgd"], grid_points=3, seeds=2, steps=5))
    run_compare(CompareConfig("breast-cancer", ["antigrad:LBFGS"], lrs=LRS, seeds=1,
                              steps=2))
    assert sizes == []


def test_batchable():
    mlp, gru = get_training_problem("mnist1d-mlp"), get_training_problem("mnist1d-paper-gru")
    assert replicas.batchable(mlp, get_optimizer("adam"))
    assert replicas.batchable(mlp, get_optimizer("torch:SGD(momentum=0.9)"))
    assert not replicas.batchable(mlp, get_optimizer("antigrad:BFGS"))
    assert not replicas.batchable(gru, get_optimizer("adam"))


def test_cli_no_replicas_turns_them_off(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sizes = count_batches(monkeypatch)
    common = ["compare", "-p", "breast-cancer", "-o", "sgd", "--seeds", "1", "--steps", "3",
              "--no-gallery", *[a for lr in LRS for a in ("--lr", str(lr))]]
    result = CliRunner().invoke(app, [*common, "--no-replicas"])
    assert result.exit_code == 0, result.output
    assert sizes == []
    result = CliRunner().invoke(app, [*common, "--out", "second"])
    assert result.exit_code == 0, result.output
    assert sizes == [8]
