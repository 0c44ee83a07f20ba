"""Exports of a comparison: CSV rows per run, JSON of everything; new files only."""

import csv
import io
import json
import math

import pytest

from antigrad.lab import CompareConfig, ReportDirError, run_compare
from antigrad.lab.export import RUN_COLUMNS, export_text, to_csv, to_json
from antigrad.lab.outdir import check_new_file, write_new_file


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
