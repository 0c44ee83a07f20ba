"""Exports of a comparison: CSV rows per run, JSON of everything; new files only."""

import csv
import io
import json
import math

import pytest

from antigrad.lab import CompareConfig, ReportDirError, run_compare
from antigrad.lab.export import RUN_COLUMNS, export_text, to_csv, to_json
from antigrad.lab.outdir import check_new_file, write_new_file
from antigrad.lab.tuning import best_members, member_seeds


@pytest.fixture(scope="module")
def cmp():
    c = run_compare(CompareConfig("breast-cancer", ["sgd", "adam"], grid_points=2,
                                  seeds=[0, 5], steps=6, eval_every=3))
    c.id = 4
    return c


def test_csv_has_one_row_per_run(cmp):
    rows = list(csv.DictReader(io.StringIO(to_csv(cmp))))
    assert list(rows[0]) == RUN_COLUMNS and len(rows) == len(cmp.runs) == 6
    for row, run in zip(rows, cmp.runs, strict=True):
        assert (row["comparison"], row["problem"], row["optimizer"]) == \
            ("4", "breast-cancer", run.optimizer)
        assert float(row["lr"]) == run.lr and int(row["seed"]) == run.seed
        assert float(row["final_metric"]) == pytest.approx(run.final_metric)
        assert row["phase"] == run.phase and row["diverged"] == "0"
    assert {r["seed"] for r in rows if r["phase"] == "final"} == {"0", "5"}


def test_json_holds_everything_without_nan(cmp):
    i, run = next((i, r) for i, r in enumerate(cmp.runs) if r.phase == "tune")
    saved, run.final_metric = run.final_metric, math.nan
    try:
        data = json.loads(to_json(cmp))
    finally:
        run.final_metric = saved
    assert data["creator"] == "antigrad export" and data["id"] == 4
    assert data["config"]["seeds"] == [0, 5] and set(data["chosen_lr"]) == {"sgd", "adam"}
    assert [s["optimizer"] for s in data["summary"]] == [s.optimizer for s in cmp.ranking()]
    assert data["runs"][i]["final_metric"] is None
    assert data["runs"][1]["losses"][0] == list(cmp.runs[1].losses[0])
    with pytest.raises(ValueError, match="choose from: csv, json"):
        export_text(cmp, "xml")


def test_spreadsheet_formulas_from_a_store_are_defused(cmp):
    run = cmp.runs[0]
    saved, run.optimizer = run.optimizer, "=HYPERLINK(\"http://x\")"
    try:
        row = next(csv.DictReader(io.StringIO(to_csv(cmp))))
    finally:
        run.optimizer = saved
    assert row["optimizer"].startswith("'=")


def test_new_files_only(tmp_path):
    path = check_new_file(tmp_path / "sub" / "out.csv")
    write_new_file(path, "a,b\n")
    assert path.read_text() == "a,b\n" and [p.name for p in path.parent.iterdir()] == ["out.csv"]
    for existing in (path, tmp_path / "sub"):
        with pytest.raises(ReportDirError, match="exists"):
            check_new_file(existing)
    with pytest.raises(ReportDirError, match="appeared"):
        write_new_file(path, "other")
    assert path.read_text() == "a,b\n"
    with pytest.raises(ReportDirError, match="empty"):
        check_new_file("")


# -- what a tuned comparison drew, and which restart each group keeps -----------------------

@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    """A comparison tuned with every searchable hyperparameter and 3 restarts per seed, as
    stored by ``antigrad compare``, with ``antigrad export --format csv``'s rows."""
    pytest.importorskip("optuna")
    from antigrad.lab import Store
    from cli_runner import in_fresh_folder, run

    with pytest.MonkeyPatch.context() as monkeypatch:
        in_fresh_folder(tmp_path_factory.mktemp("tuned"), monkeypatch)
        r = run("compare", "-p", "breast-cancer", "-o", "sgd,adam", "--seeds", "2",
                "--steps", "10", "--no-gallery", "--budget", "3", "--restarts", "3",
                "--search", "lr,weight_decay,beta1,schedule")
        assert r.exit_code == 0, r.output
        r = run("export", "1", "--format", "csv")
        assert r.exit_code == 0, r.output
        stored = Store("runs/antigrad.sqlite").load(1)
    return stored, list(csv.DictReader(io.StringIO(r.stdout)))


def test_csv_keeps_its_first_columns_in_order_then_the_new_ones(tuned):
    _, rows = tuned
    assert list(rows[0])[:13] == [
        "comparison", "problem", "optimizer", "lr", "seed", "phase", "steps", "diverged",
        "final_loss", "final_metric", "seconds", "steps_to_target", "seconds_to_target"]
    assert list(rows[0])[13:] == ["weight_decay", "beta1", "schedule", "kept"]


def test_csv_has_the_hyperparameters_each_run_drew(tuned):
    cmp, rows = tuned
    assert len(rows) == len(cmp.runs)
    for row, run in zip(rows, cmp.runs, strict=True):
        assert (row["optimizer"], int(row["seed"]), row["phase"]) == \
            (run.optimizer, run.seed, run.phase)
        p = run.params
        if run.optimizer == "sgd":  # sgd has no weight decay nor momentum to search
            assert row["weight_decay"] == row["beta1"] == ""
        else:
            assert float(row["beta1"]) == pytest.approx(1 - p["one_minus_beta1"])
            wd = p["weight_decay"] if p["use_weight_decay"] else 0.0
            assert float(row["weight_decay"]) == pytest.approx(wd)
        assert row["schedule"] == p["schedule"]
    tune = [row for row in rows if row["phase"] == "tune"]
    assert len(tune) == 6 and len({row["schedule"] + row["beta1"] for row in tune}) > 1
    for name in ("sgd", "adam"):  # the final runs train with the chosen trial's draws
        finals = [row for row in rows if row["optimizer"] == name and row["phase"] == "final"]
        chosen = {k: v for k, v in finals[0].items() if k in ("weight_decay", "beta1",
                                                                 "schedule")}
        assert chosen in [{k: t[k] for k in chosen} for t in tune if t["optimizer"] == name]


def test_csv_marks_the_member_each_restart_group_keeps(tuned):
    cmp, rows = tuned
    assert {row["kept"] for row in rows if row["phase"] != "final"} == {""}
    for name in ("sgd", "adam"):
        finals = {int(row["seed"]): row["kept"] for row in rows
                  if row["optimizer"] == name and row["phase"] == "final"}
        assert len(finals) == 6 and set(finals.values()) == {"0", "1"}
        by_seed = {r.seed: r for r in cmp.final_runs(name)}
        for group in (0, 1):  # 1 on the member with the lowest final training loss alone
            seeds = member_seeds(group, 3)
            lowest = min(seeds, key=lambda s: by_seed[s].tail_loss())
            assert [finals[s] for s in seeds] == ["1" if s == lowest else "0" for s in seeds]
        kept = sorted(s for s, k in finals.items() if k == "1")
        assert kept == sorted(r.seed for r in best_members(cmp, name))


def test_csv_leaves_kept_empty_for_a_group_not_yet_scored(tuned):
    cmp, _ = tuned
    group = cmp.ensemble_runs("adam")[1]
    cmp.runs.remove(group)
    try:
        rows = list(csv.DictReader(io.StringIO(to_csv(cmp))))
    finally:
        cmp.runs.append(group)
    adam = {int(row["seed"]): row["kept"] for row in rows
            if row["optimizer"] == "adam" and row["phase"] == "final"}
    assert [adam[s] for s in member_seeds(group.seed, 3)] == ["", "", ""]
    assert sorted(adam[s] for s in member_seeds(0, 3)) == ["0", "0", "1"]


def test_csv_of_an_untuned_comparison_leaves_the_new_columns_empty(cmp):
    rows = list(csv.DictReader(io.StringIO(to_csv(cmp))))
    assert {(row["weight_decay"], row["beta1"], row["schedule"], row["kept"])
            for row in rows} == {("", "", "", "")}
