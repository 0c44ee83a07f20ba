"""Everything read from a store is untrusted: malformed rows are refused by name, names
never become paths as they are, and every text is escaped in the report."""

import json
import sqlite3

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from antigrad.lab import (  # noqa: E402
    CompareConfig,
    Comparison,
    RunResult,
    Store,
    StoreError,
    write_report,  # noqa: E402
)
from antigrad.lab.report import default_report_dir, render_html  # noqa: E402


def tiny() -> Comparison:
    cmp = Comparison(CompareConfig("breast-cancer", ["sgd"], grid_points=1, seeds=1, steps=2),
                     "test accuracy", True, 0.95, "Breast cancer", chosen_lr={"sgd": 0.1})
    cmp.runs.append(RunResult("sgd", 0.1, 0, 2, False, 0.5, 0.9, 0.01, None, None,
                              [(1, 0.7), (2, 0.5)], [(0, 0.0, 0.5), (2, 0.01, 0.9)]))
    return cmp


def crafted(tmp_path, sql, *params):
    store = Store(tmp_path / "s.sqlite")
    store.save(tiny())
    with sqlite3.connect(store.path) as con:
        con.execute(sql, params)
    return store


def config_with(**changes):
    return json.dumps({"problem": "breast-cancer", "optimizers": ["sgd"], "lr_method": "grid",
                       "grid_points": 1, "lrs": None, "seeds": 1, "steps": 2,
                       "batch_size": None, "eval_every": None} | changes)


@pytest.mark.parametrize("sql, params, field", [
    ("UPDATE comparisons SET config = ?", config_with(seeds="<script>alert(1)</script>"),
     "config.seeds"),
    ("UPDATE comparisons SET config = ?", config_with(problem="x/../../victim"),
     "config.problem"),
    ("UPDATE comparisons SET config = ?", config_with(optimizers=["$\\frac$"]),
     "config.optimizers"),
    ("UPDATE comparisons SET config = ?", config_with(steps=-1), "config.steps"),
    ("UPDATE comparisons SET config = ?", config_with(evil=1), "config"),
    ("UPDATE comparisons SET config = ?", "{not json", "config"),
    ("UPDATE comparisons SET target = ?", "high", "target"),
    ("UPDATE comparisons SET title = ?", "a\nb\x1b[31m", "title"),
    ("UPDATE comparisons SET chosen_lr = ?", '{"sgd": "fast"}', "chosen_lr"),
    ("UPDATE runs SET losses = ?", '[[1, "x"]]', "run losses"),
    ("UPDATE runs SET evals = ?", "[[0, 0.0]]", "run evals"),
    ("UPDATE runs SET params = ?", '{"beta1": "<b>"}', "run params"),
    ("UPDATE runs SET params = ?", '{"../x": 1}', "run params"),
    ("UPDATE runs SET params = ?", '[1]', "run params"),
    ("UPDATE runs SET phase = ?", "best", "run phase"),
    ("UPDATE comparisons SET config = ?", config_with(search="lr"), "config.search"),
    ("UPDATE comparisons SET config = ?", config_with(ensemble=0), "config.ensemble"),
    ("UPDATE runs SET phase = ?", "warmup", "run phase"),
    ("UPDATE runs SET optimizer = ?", "../x", "run optimizer"),
    ("UPDATE runs SET seed = ?", 1.5, "run seed"),
])
def test_malformed_rows_are_refused_by_field(tmp_path, sql, params, field):
    store = crafted(tmp_path, sql, params)
    with pytest.raises(StoreError, match=f"comparison 1 in .* is malformed: {field} ="):
        store.load()


def test_range_test_rows_are_checked(tmp_path):
    store = crafted(tmp_path, "INSERT INTO range_tests VALUES (1, 'sgd', ?)",
                    json.dumps({"lrs": "all"}))
    with pytest.raises(StoreError, match="malformed: range test"):
        store.load()


def test_listing_is_checked(tmp_path):
    store = crafted(tmp_path, "UPDATE comparisons SET seconds = ?", "soon")
    with pytest.raises(StoreError, match="malformed: seconds"):
        store.list()


def test_default_report_dir_is_one_harmless_component(tmp_path):
    cmp = tiny()
    cmp.config.problem, cmp.id = "x/../../victim", 3
    path = default_report_dir(cmp, tmp_path / "runs")
    assert path.parent == tmp_path / "runs" and path.name == "0003-x-..-..-victim"


def test_every_text_is_escaped(tmp_path):
    cmp = tiny()
    cmp.config.seeds = "<script>alert(1)</script>"
    cmp.config.lr_method = "<b>grid</b>"
    cmp.title, cmp.metric, cmp.created = "<script>t</script>", "<i>m</i>", "<img src=x>"
    page = render_html(cmp, {"a\"><script>": "<script>c</script>"})
    assert "<script" not in page and "<img src=x" not in page and "<b>grid" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_text_that_is_tex_or_markup_draws_as_is(tmp_path):
    store = crafted(tmp_path, "UPDATE comparisons SET title = ?, metric = ?",
                    "$\\frac$ [bold]<script>x</script>", "$\\oops")
    html = write_report(store.load(), tmp_path / "rep").read_text()
    assert "<script>" not in html and "&lt;script&gt;" in html


@pytest.mark.parametrize("text, ok", [
    ("torch:SGD(momentum=0.9)@cosine", True), ("adam(betas=(0.8, 0.9))", True),
    ("adam(eps=__import__('os'))", False), ("a@b@c", False), ("x(", False),
    ("<script>", False), ("sgd ", False),
])
def test_optimizer_texts_are_checked_by_syntax(text, ok):
    from antigrad.lab import stored

    if ok:
        assert stored._label(text, "here", "run optimizer") == text
    else:
        with pytest.raises(StoreError, match="malformed: run optimizer"):
            stored._label(text, "here", "run optimizer")
