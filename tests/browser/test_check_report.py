"""The browser check's expectations: every gallery picture must be on the page, once."""

import importlib.util
from pathlib import Path

from antigrad.lab.figures import LECTURE_FIGURES

_spec = importlib.util.spec_from_file_location(
    "check_report", Path(__file__).with_name("check_report.py"))
check_report = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_report)


def test_expected_figures_are_the_report_and_the_whole_gallery():
    expected = check_report.expected_figures()
    assert expected[:4] == ["metric.png", "loss.png", "final.png", "lr.png"]
    assert expected[4:] == [f"lecture-{stem}.png" for stem in LECTURE_FIGURES]
    assert "lecture-second-order.png" in expected and "lecture-weight-decay.png" in expected


def test_a_missing_or_repeated_figure_is_a_problem():
    expected = ["metric.png", "lecture-newton.png", "lecture-nesterov.png"]
    shown = ["metric.png", "lecture-newton.png", "lecture-newton.png"]
    assert check_report.missing_figures(shown, expected) == [
        "figure missing: lecture-nesterov.png", "figure shown 2 times: lecture-newton.png"]
    assert check_report.missing_figures(expected, expected) == []
