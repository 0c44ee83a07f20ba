"""The HTML report: what it contains, and that it is written whole or not at all."""

import re

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from antigrad.lab import CompareConfig, run_compare, write_report  # noqa: E402
from antigrad.lab import report as report_mod  # noqa: E402
from antigrad.lab.figures import plot_lr_regimes  # noqa: E402
from antigrad.lab.table import HEADERS, summary_text  # noqa: E402


@pytest.fixture(scope="module")
def cmp():
    return run_compare(CompareConfig("breast-cancer", ["sgd", "momentum", "adam"],
                                     grid_points=1, seeds=2, steps=20, eval_every=10))


def test_report_has_table_figures_and_summary(cmp, tmp_path):
    path = write_report(cmp, tmp_path / "rep", gallery={"lr-regimes": plot_lr_regimes()})
    assert path == tmp_path / "rep" / "report.html"
    html = path.read_text()
    imgs = re.findall(r'<img src="([^"]+)"', html)
    assert imgs == ["metric.png", "loss.png", "final.png", "lr.png", "lecture-lr-regimes.png"]
    for src in imgs:
        assert (path.parent / src).stat().st_size > 1000
    rows = re.findall(r"<tr>(.*?)</tr>", html)
    assert len(rows) == 1 + 3  # header + one per optimizer
    assert all(f"<th>{h}</th>" in rows[0] for h in HEADERS)
    assert "±" in rows[1] and "<script" not in html and "http" not in html
    text = (path.parent / "summary.txt").read_text()
    assert text == summary_text(cmp) and text.count("\n") == 3 + 3
    assert [p.name for p in tmp_path.iterdir()] == ["rep"]  # no temporary left behind


def test_failure_leaves_nothing_and_keeps_old_report(cmp, tmp_path, monkeypatch):
    good = write_report(cmp, tmp_path / "rep")
    before = good.read_text()

    def boom(_):
        raise RuntimeError("figure failed")

    monkeypatch.setattr(report_mod, "comparison_figures", boom)
    with pytest.raises(RuntimeError, match="figure failed"):
        write_report(cmp, tmp_path / "rep")
    with pytest.raises(RuntimeError):
        write_report(cmp, tmp_path / "new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"]
    assert good.read_text() == before


def test_rewrite_replaces_whole_report(cmp, tmp_path):
    write_report(cmp, tmp_path / "rep", gallery={"x": plot_lr_regimes()})
    assert (tmp_path / "rep" / "lecture-x.png").exists()
    write_report(cmp, tmp_path / "rep")
    assert not (tmp_path / "rep" / "lecture-x.png").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"]
