"""The `antigrad` command, driven as a user would: outputs, errors with choices, exit codes."""

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from antigrad.cli import app  # noqa: E402
from antigrad.lab.outdir import MARKER  # noqa: E402

runner = CliRunner()
FAST = ["--problem", "breast-cancer", "-o", "sgd,adam", "--grid-points", "1", "--seeds", "1",
        "--steps", "10", "--no-gallery"]


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    return tmp_path


def run(*args):
    return runner.invoke(app, list(args))


def test_list_shows_problems_and_optimizers():
    r = run("list")
    assert r.exit_code == 0, r.output
    for name in ("mnist1d-mlp", "noisy-quadratic", "rosenbrock", "himmelblau", "adam-simple",
                 "nesterov", "(default)"):
        assert name in r.output


def test_compare_writes_store_and_report(in_tmp):
    r = run("compare", *FAST)
    assert r.exit_code == 0, r.output
    report = in_tmp / "runs" / "0001-breast-cancer" / "report.html"
    assert report.exists() and (in_tmp / "runs" / "antigrad.sqlite").exists()
    assert f"report: {report.resolve()}" in r.output.replace("\n", "")
    assert "sgd" in r.output and "adam" in r.output and "comparison 1 saved" in r.output


@pytest.mark.parametrize("args, choices", [
    (["compare", "--problem", "mnist2d"], "mnist1d-mlp"),
    (["compare", "-o", "sgd,lion"], "adam-simple"),
    (["compare", "--lr-method", "magic"], "grid or range"),
    (["compare", "--seeds", "0"], "seeds"),
    (["landscape", "--surface", "sphere"], "rosenbrock"),
    (["landscape", "-o", "lion"], "nesterov"),
    (["landscape", "--out", "x.gif"], ".svg"),
    (["landscape", "--lr", "fast"], "NAME=VALUE"),
    (["landscape", "--start", "1"], "x,y"),
    (["lr-find", "--problem", "rosenbrock"], "noisy-quadratic"),
    (["lr-find", "-o", "lion"], "adamw"),
    (["lr-find", "--lr-min", "1", "--lr-max", "0.1"], "lr-min"),
    (["report"], "antigrad compare"),
    (["report", "7"], "antigrad compare"),
])
def test_bad_input_exits_2_lists_choices_writes_nothing(args, choices, in_tmp):
    r = run(*args)
    assert r.exit_code == 2, r.output
    assert choices in r.output.replace("\n", " ").replace("│", " ") or choices in " ".join(
        r.output.split())
    assert list(in_tmp.iterdir()) == []


def test_landscape_png_and_svg(in_tmp):
    r = run("landscape", "-s", "himmelblau", "-o", "sgd", "-o", "adam", "--lr", "adam=0.2",
            "--steps", "20", "--out", "out/h.svg")
    assert r.exit_code == 0, r.output
    svg = (in_tmp / "out" / "h.svg").read_text()
    assert "<svg" in svg
    r = run("landscape", "--steps", "10", "--start=-1,2")
    assert r.exit_code == 0 and (in_tmp / "landscape.png").read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in (in_tmp / "out").iterdir()) == ["h.svg"]


def test_lr_find_prints_suggestion_and_draws(in_tmp):
    r = run("lr-find", "-p", "breast-cancer", "-o", "sgd", "--steps", "30", "--out", "lr.png")
    assert r.exit_code == 0, r.output
    assert "suggested lr =" in r.output and (in_tmp / "lr.png").exists()


def test_report_rebuilds_from_store(in_tmp):
    assert run("compare", *FAST).exit_code == 0
    r = run("report", "--list")
    assert r.exit_code == 0 and "breast-cancer" in r.output
    r = run("report", "1", "--out", "again", "--no-gallery")
    assert r.exit_code == 0, r.output
    assert (in_tmp / "again" / "report.html").exists()
    r = run("report", "5")
    assert r.exit_code == 2 and "choose from: 1" in r.output


def test_main_is_the_console_script():
    from antigrad.cli import main

    with pytest.raises(SystemExit) as err:
        main(["list"])
    assert err.value.code == 0


def refused(*args):
    """Run the command; it must exit 2 with a message on stderr and no traceback."""
    r = run(*args)
    assert r.exit_code == 2 and isinstance(r.exception, SystemExit), (r.output, r.exception)
    assert "Traceback" not in r.output and r.stderr.strip()
    return " ".join(r.stderr.replace("│", " ").split())


def snapshot(root):
    return {str(p.relative_to(root)): p.read_bytes() if p.is_file() else None
            for p in sorted(root.rglob("*"))}


@pytest.fixture
def user_files(in_tmp):
    (in_tmp / "mine").mkdir()
    (in_tmp / "mine" / "thesis.tex").write_text("years of work")
    (in_tmp / "notes.txt").write_text("a file")
    return in_tmp


@pytest.mark.parametrize("out, why", [
    ("mine", "did not make"), ("notes.txt", "existing file"), ("", "empty"),
    (".", "current folder"), ("..", "current folder"), ("{cwd}", "current folder"),
    ("/proc/antigrad-report", "cannot be written"), ("notes.txt/x", "not a folder"),
    ("runs", "holds the result store"),
])
@pytest.mark.parametrize("command", ["compare", "report"])
def test_out_never_replaces_user_files(command, out, why, user_files):
    if out == "runs":
        (user_files / "runs").mkdir()
        (user_files / "runs" / MARKER).write_text("")
    before = snapshot(user_files)
    args = FAST if command == "compare" else []
    msg = refused(command, *args, "--out", out.format(cwd=user_files))
    assert "--out" in msg and why in msg
    assert snapshot(user_files) == before  # nothing trained, saved, renamed or deleted
