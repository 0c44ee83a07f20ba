"""Report folders: only a folder antigrad made (its marker inside) or an empty one is ever
replaced; anything else is refused before work and left exactly as it was."""

import os

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from antigrad.lab import CompareConfig, Comparison, RunResult, write_report  # noqa: E402
from antigrad.lab import report as report_mod  # noqa: E402
from antigrad.lab.outdir import MARKER, ReportDirError, check_report_dir, safe_name  # noqa: E402


def tiny() -> Comparison:
    """A finished comparison built by hand (no training)."""
    cmp = Comparison(CompareConfig("breast-cancer", ["sgd"], grid_points=1, seeds=1, steps=2),
                     "test accuracy", True, 0.95, "Breast cancer", chosen_lr={"sgd": 0.1})
    cmp.runs.append(RunResult("sgd", 0.1, 0, 2, False, 0.5, 0.9, 0.01, None, None,
                              [(1, 0.7), (2, 0.5)], [(0, 0.0, 0.5), (2, 0.01, 0.9)]))
    return cmp


def snapshot(root):
    return {str(p.relative_to(root)): p.read_bytes() if p.is_file() else None
            for p in sorted(root.rglob("*"))}


@pytest.fixture
def user(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "thesis.tex").write_text("years of work")
    (tmp_path / "notes.txt").write_text("a file")
    return tmp_path


@pytest.mark.parametrize("name, why", [
    ("mine", "did not make"), ("notes.txt", "existing file"), ("notes.txt/sub", "not a folder"),
])
def test_refuses_user_paths_and_touches_nothing(user, name, why):
    before = snapshot(user)
    with pytest.raises(ReportDirError, match=why):
        check_report_dir(user / name)
    with pytest.raises(ReportDirError, match=why):
        write_report(tiny(), user / name)
    assert snapshot(user) == before


@pytest.mark.parametrize("name", ["", ".", "..", "./", "sub/.."])
def test_refuses_the_current_folder_and_above(user, monkeypatch, name):
    monkeypatch.chdir(user / "mine")
    (user / "mine" / "sub").mkdir()
    with pytest.raises(ReportDirError, match="empty|current folder"):
        check_report_dir(name)
    with pytest.raises(ReportDirError, match="current folder"):
        check_report_dir(user)


def test_refuses_an_unwritable_place():
    with pytest.raises(ReportDirError, match="cannot be written"):
        check_report_dir("/proc/antigrad-report")


def test_refuses_a_symlink(user):
    (user / "link").symlink_to(user / "mine")
    with pytest.raises(ReportDirError, match="symbolic link"):
        write_report(tiny(), user / "link")
    assert (user / "mine" / "thesis.tex").read_text() == "years of work"


def test_new_empty_and_own_folders_are_written(tmp_path):
    path = write_report(tiny(), tmp_path / "new" / "rep")
    assert (path.parent / MARKER).is_file()
    write_report(tiny(), tmp_path / "new" / "rep")  # its own folder: replaced
    (tmp_path / "empty").mkdir()
    assert write_report(tiny(), tmp_path / "empty").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "new"]


def test_a_folder_filled_while_drawing_is_not_replaced(tmp_path, monkeypatch):
    target = tmp_path / "out"
    target.mkdir()
    draw = report_mod.comparison_figures

    def user_saves_a_file(cmp):
        (target / "keep.txt").write_text("keep")
        return draw(cmp)

    monkeypatch.setattr(report_mod, "comparison_figures", user_saves_a_file)
    with pytest.raises(ReportDirError, match="did not make"):
        write_report(tiny(), target)
    assert os.listdir(target) == ["keep.txt"] and os.listdir(tmp_path) == ["out"]


def test_safe_name():
    assert safe_name("mnist1d-mlp") == "mnist1d-mlp"
    assert safe_name("x/../../victim") == "x-..-..-victim"
    assert "/" not in safe_name("/etc/passwd") and safe_name("..") == "report"
    assert safe_name(".hidden") == "hidden" and len(safe_name("a" * 500)) == 64
