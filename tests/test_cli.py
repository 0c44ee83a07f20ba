"""The `antigrad` command, driven as a user would: outputs, errors with choices, exit codes."""

import json
import sqlite3
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from antigrad.lab.outdir import MARKER  # noqa: E402
from cli_runner import in_fresh_folder, run  # noqa: E402

FAST = ["--problem", "breast-cancer", "-o", "sgd,adam", "--grid-points", "1", "--seeds", "1",
        "--steps", "10", "--no-gallery"]


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    return in_fresh_folder(tmp_path, monkeypatch)


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


def test_main_is_the_console_script(monkeypatch):
    import gc

    from antigrad import cli
    from antigrad.train import collector

    monkeypatch.setattr(collector, "_for_good", False)  # set back after the test
    try:
        with pytest.raises(SystemExit) as err:
            cli.main(["list"])
    finally:
        gc.unfreeze()  # the command froze its imports, as a process of its own keeps them
    assert err.value.code == 0 and collector._for_good and not cli._owns_process


_COLLECTIONS = """
import gc, sys
oldest = []
gc.callbacks.append(lambda phase, info: phase == "start" and oldest.append(info["generation"]))
from antigrad.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(gc.get_freeze_count(), gc.isenabled(), oldest.count(2), "torch" in sys.modules)
"""


def _collections(*args):
    import os
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _COLLECTIONS, *args], check=True,
                          capture_output=True, text=True, env={**os.environ,
                          "PYTHONPATH": str(Path(__file__).parents[1] / "src")})
    frozen, enabled, oldest, torch = done.stdout.split()[-4:]
    return int(frozen), enabled == "True", int(oldest), torch == "True"


def test_a_command_imports_without_collecting_and_freezes_what_it_imported():
    # the oldest generation was collected three times importing torch and the lab
    frozen, enabled, oldest, torch = _collections("list")
    assert torch and frozen > 100_000 and oldest == 0 and enabled


def test_help_and_a_bad_option_import_no_torch_and_freeze_nothing():
    for args in (("compare", "--help"), ("--help",), ("compare", "--steps", "abc"),
                 ("compare", "--no-such-option")):
        frozen, enabled, _, torch = _collections(*args)
        assert not torch and frozen == 0 and enabled, args


def test_a_command_called_in_another_program_leaves_its_collector_alone(in_tmp):
    import gc

    from antigrad.train import collector

    assert run("list").exit_code == 0
    assert not collector._for_good and gc.get_freeze_count() == 0


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


@pytest.fixture
def user_world(in_tmp):
    """Files a user has in the folder where antigrad is run."""
    (in_tmp / "mine").mkdir()
    (in_tmp / "mine" / "thesis.tex").write_text("years of work")
    (in_tmp / "notes.txt").write_text("a file")
    (in_tmp / "photo.png").write_bytes(b"\x89PNG not antigrad's")
    (in_tmp / "folder.png").mkdir()
    with sqlite3.connect(in_tmp / "app.sqlite") as con:
        con.execute("CREATE TABLE users (name TEXT)")
    return in_tmp


BAD = [
    # compare: budgets (limits) and values
    (["compare", "-o", ""], "--optimizer", "empty"),
    (["compare", "-p", ""], "--problem", "empty"),
    (["compare", "--grid-points", "1300"], "--grid-points", "from 1 to 25"),
    (["compare", "--grid-points", "0"], "--grid-points", "from 1 to 25"),
    (["compare", "--seeds", "100000"], "--seeds", "from 1 to 1,000"),
    (["compare", "--steps", "1000000000"], "--steps", "from 1 to 10,000,000"),
    (["compare", "--steps", "1e9"], "--steps", "integer"),
    (["compare", "--steps", "0"], "--steps", "from 1"),
    (["compare", "--batch-size", "0"], "--batch-size", "from 1"),
    (["compare", "--lr", "inf"], "--lr", "finite"),
    (["compare", "--lr", "nan"], "--lr", "finite"),
    (["compare", "--lr", "-1"], "--lr", "finite"),
    (["compare", "--lr", "0.1", "--lr", "0.1"], "--lr", "repeated"),
    (["compare", "--lr-method", "magic"], "--lr-method", "grid or range"),
    (["compare", "--lr-method", "range", "--lr", "0.1"], "--lr", "'range'"),
    # compare/report: stores that are not antigrad's
    (["compare", "--store", "mine"], "--store", "is a folder"),
    (["compare", "--store", ""], "--store", "is a folder"),
    (["compare", "--store", "notes.txt"], "--store", "not an SQLite database"),
    (["compare", "--store", "app.sqlite"], "--store", "another application"),
    (["compare", "--store", "/proc/antigrad.sqlite"], "--store", "cannot write"),
    (["compare", "--store", "notes.txt/s.sqlite"], "--store", "not a folder"),
    (["report", "--store", "notes.txt"], "--store", "not an SQLite database"),
    (["report", "--store", "app.sqlite"], "--store", "another application"),
    (["report", "--list", "--store", "app.sqlite"], "--store", "another application"),
    (["report", "--store", "mine"], "--store", "is a folder"),
    (["report", "--", "-1"], "COMPARISON", "ids are integers"),
    # lr-find
    (["lr-find", "--lr-max", "inf"], "--lr-max", "finite"),
    (["lr-find", "--lr-min", "nan"], "--lr-min", "finite"),
    (["lr-find", "--lr-min", "0"], "--lr-min", "finite"),
    (["lr-find", "--lr-min", "-1"], "--lr-min", "finite"),
    (["lr-find", "--lr-min", "1e-300", "--lr-max", "1e300"], "--lr-max", "decades"),
    (["lr-find", "--steps", "2"], "--steps", "out of range"),
    (["lr-find", "--steps", "1000000"], "--steps", "out of range"),
    (["lr-find", "-p", ""], "--problem", "empty"),
    (["lr-find", "-o", ""], "--optimizer", "unknown optimizer"),
    (["lr-find", "--out", ""], "--out", "empty"),
    (["lr-find", "--out", "photo.png"], "--out", "did not write"),
    # landscape
    (["landscape", "--start", "nan,0"], "--start", "finite"),
    (["landscape", "--start", "0,inf"], "--start", "finite"),
    (["landscape", "--steps", "0"], "--steps", "out of range"),
    (["landscape", "--steps", "10000000"], "--steps", "out of range"),
    (["landscape", "-o", ""], "--optimizer", "empty"),
    (["landscape", "--lr", "inf"], "--lr", "finite"),
    (["landscape", "--lr", "sgd=0"], "--lr", "finite"),
    (["landscape", "--out", ""], "--out", "empty"),
    (["landscape", "--out", "photo.png"], "--out", "did not write"),
    (["landscape", "--out", "folder.png"], "--out", "folder"),
    (["landscape", "--out", "notes.txt/x.png"], "--out", "not a folder"),
]


@pytest.mark.parametrize("args, option, why", BAD, ids=[" ".join(a) for a, _, _ in BAD])
def test_every_bad_value_exits_2_naming_the_option(args, option, why, user_world):
    before = snapshot(user_world)
    msg = refused(*args)
    assert option in msg and why in msg, msg
    assert snapshot(user_world) == before  # nothing run, written, renamed or deleted


def test_locked_store_exits_2(user_world, monkeypatch):
    from antigrad.lab import Store

    monkeypatch.setattr(Store, "TIMEOUT", 0.05)
    Store("s.sqlite").check_writable()
    holder = sqlite3.connect("s.sqlite", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        for command in (["compare", *FAST], ["report"]):
            msg = refused(*command, "--store", "s.sqlite")
            assert "--store" in msg and "locked" in msg
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert not (user_world / "runs").exists()


def test_compare_says_what_it_will_do(in_tmp):
    r = run("compare", *FAST)
    assert r.exit_code == 0, r.output
    assert ("2 optimizer(s) x (1 lrs + 1 seed(s), seed 0 shared) = 2 runs of up to 10 steps "
            "(at most 20 steps)") in " ".join(r.stderr.split())


def test_interrupted_compare_keeps_finished_runs(in_tmp, monkeypatch):
    from antigrad.lab import compare as compare_mod

    real, calls = compare_mod.train_run, []

    def train_then_interrupt(*args, **kwargs):
        if len(calls) == 1:
            raise KeyboardInterrupt
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(compare_mod, "train_run", train_then_interrupt)
    r = run("compare", *FAST)
    assert r.exit_code == 130 and "keeps its 1 finished run(s)" in " ".join(r.stderr.split())
    monkeypatch.setattr(compare_mod, "train_run", real)
    r = run("report", "--list")
    assert r.exit_code == 0 and "interrupted" in r.output
    r = run("report", "1", "--no-gallery")
    assert r.exit_code == 0, r.output
    assert 'id="incomplete"' in (in_tmp / "runs" / "0001-breast-cancer" / "report.html").read_text()


def crafted_store(sql, *params):
    """A store with one hand-made comparison, then changed by ``sql``."""
    from antigrad.lab import CompareConfig, Comparison, RunResult, Store

    cmp = Comparison(CompareConfig("breast-cancer", ["sgd"], grid_points=1, seeds=1, steps=2),
                     "test accuracy", True, 0.95, "Breast cancer", chosen_lr={"sgd": 0.1})
    cmp.runs.append(RunResult("sgd", 0.1, 0, 2, False, 0.5, 0.9, 0.01, None, None,
                              [(1, 0.7), (2, 0.5)], [(0, 0.0, 0.5), (2, 0.01, 0.9)]))
    Store("runs/antigrad.sqlite").save(cmp)
    with sqlite3.connect("runs/antigrad.sqlite") as con:
        con.execute(sql, params)


def crafted_config(**changes):
    return json.dumps({"problem": "breast-cancer", "optimizers": ["sgd"], "seeds": 1} | changes)


def test_crafted_store_cannot_delete_a_folder(user_world):
    crafted_store("UPDATE comparisons SET config = ?", crafted_config(problem="x/../../mine"))
    before = snapshot(user_world)
    msg = refused("report", "--no-gallery")
    assert "malformed: config.problem" in msg
    assert snapshot(user_world) == before
    assert "ids are integers" in refused("report", "99999999999999999999999")


def test_crafted_store_cannot_inject_a_script(user_world):
    crafted_store("UPDATE comparisons SET config = ?",
                  crafted_config(seeds="<script>alert(1)</script>"))
    msg = refused("report", "--no-gallery")
    assert "malformed: config.seeds" in msg and not (user_world / "runs" / "0001-").exists()
    with sqlite3.connect("runs/antigrad.sqlite") as con:
        con.execute("UPDATE comparisons SET config = ?, title = ?, created = ?",
                    (crafted_config(), "<script>alert(2)</script>", "<img src=x onerror=y>"))
    r = run("report", "--no-gallery")
    assert r.exit_code == 0, r.output
    page = (user_world / "runs" / "0001-breast-cancer" / "report.html").read_text()
    assert "<script" not in page and "<img src=x" not in page and "&lt;script&gt;" in page


def test_out_filled_during_the_run_is_kept_and_the_results_too(in_tmp, monkeypatch):
    from antigrad.lab import report as report_mod

    draw = report_mod.comparison_figures

    def user_saves_a_file(cmp):
        (in_tmp / "out" / "keep.txt").write_text("keep")
        return draw(cmp)

    monkeypatch.setattr(report_mod, "comparison_figures", user_saves_a_file)
    (in_tmp / "out").mkdir()
    msg = refused("compare", *FAST, "--out", "out")
    assert "report not written" in msg and "antigrad report 1 --out DIR" in msg
    assert [p.name for p in (in_tmp / "out").iterdir()] == ["keep.txt"]
    assert run("report", "--list").output.count("breast-cancer") == 1


@pytest.mark.parametrize("args, option", [
    (["compare", "-o", ""], "--optimizer"),
    (["lr-find", "--lr-max", "inf"], "--lr-max"),
    (["landscape", "--start", "nan,0"], "--start"),
])
def test_real_process_exits_2_without_traceback(args, option, in_tmp):
    import os
    import subprocess
    import sys

    import antigrad

    src = str(Path(antigrad.__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    p = subprocess.run([sys.executable, "-m", "antigrad.cli", *args], capture_output=True,
                       text=True, env=env, timeout=300)
    assert p.returncode == 2 and option in p.stderr and "Traceback" not in p.stderr
    assert p.stdout == "" and list(in_tmp.iterdir()) == []


USER_TASKS = """
import torch
from antigrad.problems import Task, TrainingProblem, accuracy, cross_entropy_loss

def make():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(100, 4, generator=g)
    y = (x[:, 0] + x[:, 1] > 0).long()
    return TrainingProblem(
        name="my-blobs", title="my blobs, a linear model", metric="test accuracy",
        higher_is_better=True, target=0.8, steps=12, batch_size=20, eval_every=4,
        build=lambda seed: Task(torch.nn.Linear(4, 2), x[:80], y[:80], x[80:], y[80:],
                                cross_entropy_loss, accuracy))

def wrong():
    return "a string"
"""


@pytest.fixture
def user_tasks(in_tmp, monkeypatch):
    from antigrad.problems import get_training_problem

    code = in_tmp.parent / f"{in_tmp.name}-code"
    code.mkdir()
    (code / "clitasks_user.py").write_text(USER_TASKS)
    monkeypatch.syspath_prepend(str(code))
    yield "clitasks_user"
    get_training_problem.cache_clear()


def test_compare_runs_a_users_own_problem(user_tasks, in_tmp):
    r = run("compare", "-p", f"{user_tasks}:make", "-o", "sgd,adam", "--grid-points", "1",
            "--seeds", "2", "--no-gallery")
    assert r.exit_code == 0, r.output
    assert "12 steps" in " ".join(r.stderr.split())  # the problem's own default steps
    page = (in_tmp / "runs" / f"0001-{user_tasks}-make" / "report.html").read_text()
    assert "my blobs, a linear model" in page
    from antigrad.lab import Store

    cmp = Store("runs/antigrad.sqlite").load(1)
    assert cmp.config.problem == f"{user_tasks}:make" and len(cmp.final_runs("adam")) == 2
    assert all(r.steps == 12 for r in cmp.runs)


@pytest.mark.parametrize("target, why", [
    ("nosuchmodule_qq:make", "module 'nosuchmodule_qq' not found"),
    ("{m}:mkae", "no attribute 'mkae' (did you mean 'make'?)"),
    ("{m}:wrong", "it returned str, not an antigrad.problems.TrainingProblem"),
])
def test_bad_problem_entry_point_exits_2_before_any_work(user_tasks, in_tmp, target, why):
    msg = refused("compare", "-p", target.format(m=user_tasks), "--no-gallery")
    assert "--problem" in msg and why in msg, msg
    assert list(in_tmp.iterdir()) == []


def test_compare_any_optimizer_with_arguments_schedule_seeds(in_tmp):
    adamw = "antigrad:AdamW(weight_decay=0.1, betas=(0.9, 0.95))"
    r = run("compare", "-p", "breast-cancer", "-o", f"{adamw}, torch:Adam",
            "-o", "torch:SGD(momentum=0.9)@StepLR(step_size=3)", "--schedule", "cosine",
            "--seeds", "0,42", "--grid-points", "1", "--steps", "8", "--eval-every", "4",
            "--no-gallery")
    assert r.exit_code == 0, r.output
    from antigrad.lab import Store

    cmp = Store("runs/antigrad.sqlite").load(1)
    assert cmp.config.optimizers == [f"{adamw}@cosine", "torch:Adam@cosine",
                                     "torch:SGD(momentum=0.9)@StepLR(step_size=3)"]
    assert cmp.config.seeds == [0, 42] and cmp.config.eval_every == 4
    assert sorted(r.seed for r in cmp.final_runs("torch:Adam@cosine")) == [0, 42]
    assert "3 optimizer(s) x (1 lrs + 2 seed(s), seed 0 shared) = 6 runs" in \
        " ".join(r.stderr.split())
    summary = (in_tmp / "runs" / "0001-breast-cancer" / "summary.txt").read_text()
    assert f"{adamw}@cosine" in summary  # full names, never cut


@pytest.mark.parametrize("args, option, why", [
    (["-o", "adamm"], "--optimizer", "did you mean 'adam'"),
    (["-o", "torch:AdamW(wieght_decay=0.1)"], "--optimizer", "did you mean 'weight_decay'"),
    (["-o", "torch:Adamm"], "--optimizer", "did you mean 'Adam'"),
    (["-o", "adam(eps=__import__('os'))"], "--optimizer", "not a literal"),
    (["-o", "sgd@cosin"], "--optimizer", "did you mean 'cosine'"),
    (["--schedule", "cosin"], "--schedule", "did you mean 'cosine'"),
    (["--schedule", "ReduceLROnPlateau"], "--schedule", "needs a metric"),
    (["--schedule", ""], "--schedule", "empty"),
    (["--seeds", "0,x"], "--seeds", "0,1,42"),
    (["--seeds", "1,1"], "--seeds", "different"),
    (["--seeds", ","], "--seeds", "empty"),
    (["--eval-every", "0"], "--eval-every", "from 1"),
])
def test_bad_optimizer_schedule_seed_values_exit_2(args, option, why, user_world):
    before = snapshot(user_world)
    msg = refused("compare", "-p", "breast-cancer", *args)
    assert option in msg and why in msg, msg
    assert snapshot(user_world) == before


def test_version_and_help_show_defaults():
    import antigrad

    r = run("--version")
    assert r.exit_code == 0 and r.output.strip() == f"antigrad {antigrad.__version__}"
    r = run("compare", "--help")
    text = " ".join(r.output.replace("│", " ").split())
    for default in ("[default: mnist1d-mlp]", "[default: grid]", "[default: 3]",
                    "[default: the problem's]", "[default: runs/antigrad.sqlite]"):
        assert default in text, default


def test_progress_goes_to_stderr_results_to_stdout(in_tmp):
    r = run("compare", *FAST)
    assert r.exit_code == 0
    assert "adam lr=" in r.stderr and "2/2" in r.stderr  # the bar's last state
    assert "adam lr=" not in r.stdout and "━" not in r.stdout
    assert "report:" in r.stdout and "compare breast-cancer:" not in r.stdout


def test_table_fits_a_narrow_terminal(monkeypatch):
    from rich.console import Console

    from antigrad import cli
    from antigrad.lab import CompareConfig, run_compare

    cmp = run_compare(CompareConfig("breast-cancer", ["momentum", "torch:SGD(momentum=0.9)"],
                                    grid_points=1, seeds=1, steps=5))
    for width in (60, 100, 200):
        monkeypatch.setattr(cli, "console", Console(width=width, force_terminal=True,
                                                    markup=False, record=True))
        cli._print_summary(cmp)
        text = cli.console.export_text()
        assert max(map(len, text.splitlines())) <= width
        assert "…" not in text and "momentum" in text  # folded or dropped, never cut
        assert ("some columns left out" in text) == (width < 110)
        assert "0.0000" in text.replace("\n", " ")  # numbers are never folded apart
        assert all("±" not in line or "0.0000" in line for line in text.splitlines())


def test_export_csv_and_json(in_tmp):
    import csv
    import io

    assert run("compare", *FAST).exit_code == 0
    r = run("export", "--format", "csv")
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert len(rows) == 2 and {row["optimizer"] for row in rows} == {"sgd", "adam"}
    r = run("export", "1", "--format", "json", "--out", "out/c1.json")
    assert r.exit_code == 0, r.output
    data = json.loads((in_tmp / "out" / "c1.json").read_text())
    assert data["id"] == 1 and len(data["runs"]) == 2 and "wrote comparison 1" in r.stderr
    msg = refused("export", "1", "--format", "json", "--out", "out/c1.json")
    assert "--out" in msg and "exists" in msg  # never replaced, not even our own


@pytest.mark.parametrize("args, option, why", [
    (["export", "--format", "xml"], "--format", "choose from: csv, json"),
    (["export", "--out", "notes.txt"], "--out", "exists"),
    (["export", "--out", "mine"], "--out", "exists"),
    (["export", "--out", ""], "--out", "empty"),
    (["export", "--out", "notes.txt/x.csv"], "--out", "not a folder"),
    (["export", "--store", "app.sqlite"], "--store", "another application"),
    (["export"], "--store", "antigrad compare"),
    (["export", "3"], "COMPARISON", "antigrad compare"),
])
def test_export_refuses_bad_values(args, option, why, user_world):
    before = snapshot(user_world)
    msg = refused(*args)
    assert option in msg and why in msg, msg
    assert snapshot(user_world) == before


@pytest.mark.parametrize("command", [["landscape"], ["lr-find", "-p", "breast-cancer"]])
def test_second_order_methods_are_refused_where_one_gradient_per_step(command, in_tmp):
    msg = refused(*command, "-o", "antigrad:LBFGS")
    assert "--optimizer" in msg and "second-order" in msg and "antigrad compare" in msg
    assert list(in_tmp.iterdir()) == []


def test_landscape_draws_an_optimizer_written_as_text(in_tmp):
    r = run("landscape", "-o", "torch:SGD(momentum=0.9), adam(beta1=0.8)", "--steps", "5",
            "--out", "l.svg")
    assert r.exit_code == 0, r.output
    svg = (in_tmp / "l.svg").read_text()
    assert "torch:SGD(momentum=0.9)" in svg and "adam(beta1=0.8)" in svg


def test_reproduce_prints_the_table_beside_the_published_numbers():
    r = run("reproduce", "mnist1d", "--steps", "5", "--seeds", "0", "--models", "logistic",
            "--jobs", "1")
    assert r.exit_code == 0, r.output
    assert "| model | paper | repo log" in r.stdout
    row = next(line for line in r.stdout.splitlines() if line.startswith("| logistic"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1:3] == ["32.0", "31.5"]  # the paper's and the repository's numbers
    assert cells[4].startswith("0: ")  # seed 0's own accuracy
    assert "1 runs of 5 steps" in r.stdout
    assert not list(Path().iterdir())  # nothing written without --out


def test_reproduce_writes_csv_only_to_a_new_file(in_tmp):
    args = ["reproduce", "mnist1d", "--steps", "2", "--seeds", "0,1", "--models", "logistic",
            "--jobs", "1", "--out", "table.csv"]
    r = run(*args)
    assert r.exit_code == 0, r.output
    lines = (in_tmp / "table.csv").read_text().splitlines()
    assert lines[0].startswith("model,seed,accuracy") and len(lines) == 3
    (in_tmp / "mine.json").write_text("keep")
    r = run(*args[:-1], "mine.json")
    assert r.exit_code == 2 and "exists" in r.output
    assert (in_tmp / "mine.json").read_text() == "keep"


@pytest.mark.parametrize("args, option", [
    (["cifar10"], "TARGET"),
    (["mnist1d", "--seeds", "x"], "--seeds"),
    (["mnist1d", "--seeds", "-1"], "--seeds"),
    (["mnist1d", "--steps", "0"], "--steps"),
    (["mnist1d", "--models", "logistic,lstm"], "--models"),
    (["mnist1d", "--jobs", "0"], "--jobs"),
    (["mnist1d", "--out", "table.txt"], "--out"),
])
def test_reproduce_bad_arguments_exit_2_before_any_work(args, option, monkeypatch):
    from antigrad.lab import reproduce

    def no_work(*a, **k):
        raise AssertionError("work started")

    monkeypatch.setattr(reproduce, "reproduce_mnist1d", no_work)
    r = run("reproduce", *args)
    assert r.exit_code == 2, r.output
    assert option in r.output and "Traceback" not in r.output


def test_the_imports_restore_the_callers_collection_even_when_one_fails(monkeypatch):
    import gc

    from antigrad.cli import _import_for_good
    from antigrad.train import collector

    monkeypatch.setattr(collector, "_for_good", False)  # set back after the test

    enabled = gc.isenabled()
    try:
        gc.enable()
        with pytest.raises(ModuleNotFoundError):
            _import_for_good(("antigrad.no_such_module",))
        assert gc.isenabled() and gc.get_freeze_count() == 0
        gc.disable()
        _import_for_good(("json",))
        assert not gc.isenabled() and gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.enable() if enabled else gc.disable()
