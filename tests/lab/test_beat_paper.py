"""antigrad.lab.beat_paper and ``antigrad reproduce mnist1d --tuned``: the lecture's
methods under the tuning protocol against the paper's table, with honest verdicts."""

import pytest
from typer.testing import CliRunner

pytest.importorskip("optuna")

from antigrad.cli import app  # noqa: E402
from antigrad.lab import Store, run_compare  # noqa: E402
from antigrad.lab.beat_paper import beat_rows, beat_text, tuned_config, verdict  # noqa: E402

runner = CliRunner()


@pytest.mark.parametrize("mean, std, n, expected", [
    (95.1, 0.3, 3, "beats (+1.1 > std 0.3)"),
    (94.2, 0.3, 3, "within noise (+0.2 <= std 0.3)"),
    (94.0, 0.0, 3, "below (+0.0)"),
    (93.0, 0.3, 3, "below (-1.0)"),
    (95.0, 0.0, 1, "noise unknown (+1.0, one value)"),
    (float("nan"), 0.0, 0, "no result"),
])
def test_a_win_must_exceed_the_seed_std(mean, std, n, expected):
    assert verdict(mean, std, n, 94.0) == expected


def test_rows_hold_single_models_and_ensembles_beside_the_paper():
    cmp = run_compare(tuned_config("logistic", ["adam"], seeds=[0, 1], budget=2,
                                   search=["lr", "schedule"], ensemble=2, steps=30))
    (row,) = beat_rows(cmp)
    assert (row.model, row.optimizer, row.paper, row.members) == ("logistic", "adam", 32.0, 2)
    finals = [100 * r.final_metric for r in cmp.final_runs("adam")]
    groups = [100 * r.final_metric for r in cmp.ensemble_runs("adam")]
    assert row.single_n == 4 and row.single_mean == pytest.approx(sum(finals) / 4)
    assert row.ensemble_n == 2 and row.ensemble_mean == pytest.approx(sum(groups) / 2)
    assert row.chosen.startswith("lr=") and "schedule=" in row.chosen
    text = beat_text([row])
    assert "| logistic | 32.0 | adam |" in text and "2 models each" in text
    assert row.single_verdict in text and row.ensemble_verdict in text


def test_only_finished_tuned_comparisons_on_a_paper_model_have_rows():
    from antigrad.lab import CompareConfig

    other = run_compare(CompareConfig("breast-cancer", ["sgd"], seeds=1, steps=5, budget=1))
    with pytest.raises(ValueError, match="not on one of the paper's models"):
        beat_rows(other)
    grid = run_compare(CompareConfig("mnist1d-paper-logistic", ["sgd"], seeds=1, steps=5,
                                     grid_points=1))
    with pytest.raises(ValueError, match="without a tuning budget"):
        beat_rows(grid)


def test_cli_tuned_runs_a_comparison_per_model_and_prints_the_verdicts(tmp_path,
                                                                        monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = runner.invoke(app, ["reproduce", "mnist1d", "--tuned", "--models", "logistic",
                            "-o", "adam", "--budget", "2", "--ensemble", "2", "--seeds",
                            "0,1", "--steps", "20", "--search", "lr,beta1"])
    assert r.exit_code == 0, r.output
    assert "| logistic | 32.0 | adam | lr=" in r.stdout and "beta1=" in r.stdout
    cmp = Store("runs/antigrad.sqlite").load(1)
    assert cmp.config.problem == "mnist1d-paper-logistic" and cmp.config.ensemble == 2
    assert cmp.config.search == ["lr", "beta1"] and cmp.config.steps == 20
    again = runner.invoke(app, ["reproduce", "mnist1d", "--tuned", "--from", "1"])
    assert again.exit_code == 0 and beat_text(beat_rows(cmp)) in again.stdout


@pytest.mark.parametrize("args, option", [
    (["--tuned", "--budget", "0"], "--budget"),
    (["--tuned", "--steps", "0"], "--steps"),
    (["--tuned", "--seeds", "1,1"], "--seeds"),
    (["--tuned", "--search", "lr,momentum"], "--search"),
    (["--tuned", "--ensemble", "0"], "--ensemble"),
    (["--tuned", "-o", "adamm"], "--optimizer"),
    (["--tuned", "--models", "lstm"], "--models"),
    (["--tuned", "--from", "x"], "--from"),
    (["--tuned", "--from", "1"], "--from"),   # no store
    (["--from", "1"], "--from"),              # without --tuned
    (["--tuned", "--jobs", "2"], "--jobs"),
    (["--tuned", "--out", "x.json"], "--out"),
])
def test_cli_tuned_refuses_bad_values_before_any_work(tmp_path, monkeypatch, args, option):
    monkeypatch.chdir(tmp_path)
    r = runner.invoke(app, ["reproduce", "mnist1d", *args])
    assert r.exit_code == 2 and option in r.output and "Traceback" not in r.output
    assert list(tmp_path.iterdir()) == []
