"""The ``antigrad`` command: compare optimizers, draw landscapes, find lrs, rebuild reports.

Commands::

    antigrad compare      every lecture optimizer on a problem -> store + HTML report
    antigrad landscape    optimizer paths over a 2-D surface -> PNG/SVG/PDF
    antigrad lr-find      the learning-rate range test -> suggestion (+ figure)
    antigrad report       rebuild a report from the result store
    antigrad list         problems and optimizers

Unknown names and bad options print the valid choices and exit with code 2 before any
file is written; outputs are written to a temporary name and renamed when complete.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

__all__ = ["app", "main"]

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="antigrad: compare and draw the gradient methods of the lecture.")
console = Console()

_FIG_EXT = (".png", ".svg", ".pdf")


def _bad(message: str, param: str | None = None) -> typer.BadParameter:
    """A usage error (exit code 2) that names the option."""
    return typer.BadParameter(message, param_hint=param)


def _names(values: list[str] | None) -> list[str]:
    """Repeated and comma-separated names, flattened."""
    return [n.strip() for v in values or [] for n in v.split(",") if n.strip()]


def _lookup(get, name: str, param: str):
    """``get(name)``, or a usage error naming ``param`` and listing the valid names."""
    from antigrad.problems import UnknownNameError

    try:
        return get(name)
    except UnknownNameError as err:
        raise _bad(str(err), param) from None


def _check_out(path: Path, param: str = "--out") -> Path:
    if path.suffix.lower() not in _FIG_EXT:
        raise _bad(f"unsupported file type {path.suffix or '(none)'!r}; "
                   f"choose from: {', '.join(_FIG_EXT)}", param)
    return path


def _report_dir(out: str | Path, store: Path, param: str = "--out") -> Path:
    """``out`` if a report may replace it (only antigrad's own folders), else a usage error."""
    from antigrad.lab.outdir import ReportDirError, check_report_dir

    try:
        path = check_report_dir(out)
    except ReportDirError as err:
        raise _bad(str(err), param) from None
    if path.resolve() in store.absolute().resolve().parents:
        raise _bad(f"{str(out)!r} holds the result store {str(store)!r}; a report replaces "
                   "its folder whole: name another folder", param)
    return path


def _save_figure(fig, path: Path) -> None:
    """Save ``fig`` to ``path`` atomically (temporary file, then rename) and say so."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=110)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    console.print(f"wrote {path.resolve()}")


@app.command("list")
def list_cmd() -> None:
    """List the problems (surfaces and training problems) and the optimizers."""
    from antigrad.lab.optimizers import LECTURE_OPTIMIZERS
    from antigrad.problems import (
        DEFAULT_PROBLEM,
        get_surface,
        get_training_problem,
        surface_names,
        training_problem_names,
    )

    t = Table(title="training problems (antigrad compare / lr-find)")
    for col in ("name", "model and data", "metric", "target", "known optimum", "notes"):
        t.add_column(col)
    for name in training_problem_names():
        p = get_training_problem(name)
        t.add_row(name + (" (default)" if name == DEFAULT_PROBLEM else ""), p.title,
                  p.metric + (" ↑" if p.higher_is_better else " ↓"), f"{p.target:g}",
                  "—" if p.optimum is None else f"{p.optimum:.4g}", p.notes)
    console.print(t)
    t = Table(title="surfaces (antigrad landscape)")
    for col in ("name", "function", "minima", "min value"):
        t.add_column(col)
    for name in surface_names():
        s = get_surface(name)
        t.add_row(name, s.title, ", ".join(f"({x:.3g}, {y:.3g})" for x, y in s.minima),
                  "—" if s.min_value is None else f"{s.min_value:g}")
    console.print(t)
    t = Table(title="optimizers (the lecture's methods)")
    for col in ("name", "SPEC", "class", "family", "default lr"):
        t.add_column(col)
    for spec in LECTURE_OPTIMIZERS.values():
        t.add_row(spec.name, spec.lecture, spec.target.replace(":", "."), spec.family,
                  f"{spec.default_lr:g}")
    console.print(t)


@app.command()
def compare(
    problem: Annotated[str, typer.Option("--problem", "-p", help="training problem")] = "",
    optimizer: Annotated[list[str] | None, typer.Option(
        "--optimizer", "-o", help="optimizer (repeat or comma-separate); default: all")] = None,
    lr_method: Annotated[str, typer.Option(help="grid or range")] = "grid",
    grid_points: Annotated[int, typer.Option(min=1, help="lrs per optimizer (grid)")] = 3,
    lr: Annotated[list[float] | None, typer.Option(
        "--lr", help="explicit lr grid for every optimizer (repeat)")] = None,
    seeds: Annotated[int, typer.Option(min=1, help="seeds at the chosen lr")] = 3,
    steps: Annotated[int | None, typer.Option(min=1, help="steps per run")] = None,
    batch_size: Annotated[int | None, typer.Option(min=1)] = None,
    store: Annotated[Path, typer.Option(help="SQLite result store")] = Path("runs/antigrad.sqlite"),
    out: Annotated[str | None, typer.Option(
        help="report folder (new, empty, or a report antigrad wrote)")] = None,
    gallery: Annotated[bool, typer.Option(help="add the lecture's pictures")] = True,
) -> None:
    """Run every lecture optimizer on a problem, save the results, write an HTML report."""
    from antigrad.lab import CompareConfig, Store, run_compare
    from antigrad.lab.optimizers import optimizer_names
    from antigrad.problems import DEFAULT_PROBLEM, UnknownNameError

    config = CompareConfig(problem or DEFAULT_PROBLEM, _names(optimizer) or optimizer_names(),
                           lr_method, grid_points, lr or None, seeds, steps, batch_size)
    try:
        config.validate()
    except UnknownNameError as err:
        raise _bad(str(err), "--problem" if err.kind == "problem" else "--optimizer") from None
    except ValueError as err:
        raise _bad(str(err)) from None
    out_dir = None if out is None else _report_dir(out, store)

    with Progress(TextColumn("{task.description:<28}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=False) as bar:
        task = bar.add_task(f"compare {config.problem}", total=None)

        def progress(label: str, done: int, total: int) -> None:
            bar.update(task, description=label, completed=done, total=total)

        cmp = run_compare(config, progress)
    cid = Store(store).save(cmp)
    _report(cmp, store, out_dir, gallery, f"comparison {cid} saved in {store}")


def _report(cmp, store: Path, out: Path | None, gallery: bool, saved: str = "") -> None:
    """Write ``cmp``'s HTML report (next to ``store`` unless ``out``), print the table."""
    from antigrad.lab import write_report
    from antigrad.lab.figures import LECTURE_FIGURES
    from antigrad.lab.report import default_report_dir

    out = out or _report_dir(default_report_dir(cmp, store.parent), store, "--store")
    figures = {k: f() for k, f in LECTURE_FIGURES.items()} if gallery else None
    path = write_report(cmp, out, gallery=figures)
    _print_summary(cmp)
    if saved:
        console.print(saved)
    console.print(f"report: {path.resolve()}")


def _print_summary(cmp) -> None:
    """The results table: rich on a terminal, plain fixed-width text otherwise (logs)."""
    from antigrad.lab.table import SHORT_HEADERS, summary_rows, summary_text

    if not console.is_terminal:
        typer.echo(summary_text(cmp), nl=False)
        return
    t = Table(title=f"{cmp.title} — {cmp.metric}, target {cmp.target:g} "
                    f"({cmp.seconds:.1f} s)")
    for h in SHORT_HEADERS:
        t.add_column(h, justify="left" if h == "optimizer" else "right")
    for row in summary_rows(cmp):
        t.add_row(*row)
    console.print(t)


@app.command()
def landscape(
    surface: Annotated[str, typer.Option("--surface", "-s", help="2-D surface")] = "rosenbrock",
    optimizer: Annotated[list[str] | None, typer.Option(
        "--optimizer", "-o", help="optimizer (repeat or comma-separate)")] = None,
    lr: Annotated[list[str] | None, typer.Option(
        "--lr", help="VALUE for all, or NAME=VALUE (repeat); default: the surface's")] = None,
    steps: Annotated[int, typer.Option(min=1)] = 200,
    start: Annotated[str | None, typer.Option(help="start point 'x,y'")] = None,
    out: Annotated[Path, typer.Option(help=".png, .svg or .pdf")] = Path("landscape.png"),
) -> None:
    """Draw optimizer paths over a surface's contour lines (diverged runs marked)."""
    from antigrad.lab.figures import plot_trajectories
    from antigrad.lab.optimizers import get_optimizer
    from antigrad.problems import get_surface

    _check_out(out)
    surf = _lookup(get_surface, surface, "--surface")
    names = _names(optimizer) or ["sgd", "momentum", "nesterov", "rmsprop", "adam"]
    for name in names:
        _lookup(get_optimizer, name, "--optimizer")
    lrs = _parse_lrs(lr or [], names)
    point = _parse_point(start) if start else None
    fig = plot_trajectories(surf, {n: lrs.get(n) for n in names}, steps=steps, start=point)
    _save_figure(fig, out)


def _parse_lrs(values: list[str], names: list[str]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for v in values:
        name, sep, num = v.rpartition("=")
        try:
            x = float(num)
        except ValueError:
            raise _bad(f"invalid lr {v!r} (use VALUE or NAME=VALUE)", "--lr") from None
        if not (x > 0 and math.isfinite(x)):
            raise _bad(f"invalid lr {v!r} (must be a finite number > 0)", "--lr")
        if sep and name not in names:
            raise _bad(f"--lr names {name!r}, which is not drawn; choose from: "
                       f"{', '.join(names)}", "--lr")
        for n in ([name] if sep else names):
            out[n] = x
    return out


def _parse_point(text: str) -> tuple[float, float]:
    try:
        x, y = (float(v) for v in text.split(","))
    except ValueError:
        raise _bad(f"invalid point {text!r} (use 'x,y', e.g. '-1.5,2')", "--start") from None
    return x, y


@app.command("lr-find")
def lr_find(
    problem: Annotated[str, typer.Option("--problem", "-p")] = "",
    optimizer: Annotated[str, typer.Option("--optimizer", "-o")] = "adam",
    lr_min: Annotated[float, typer.Option(min=0.0)] = 1e-5,
    lr_max: Annotated[float, typer.Option(min=0.0)] = 10.0,
    steps: Annotated[int, typer.Option(min=3)] = 100,
    out: Annotated[Path | None, typer.Option(help="figure: .png, .svg or .pdf")] = None,
) -> None:
    """Learning-rate range test: grow the lr until the loss explodes; suggest one."""
    from antigrad.lab import lr_range_test
    from antigrad.lab.figures import plot_lr_range
    from antigrad.lab.optimizers import get_optimizer
    from antigrad.problems import DEFAULT_PROBLEM, get_training_problem

    if out is not None:
        _check_out(out)
    prob = _lookup(get_training_problem, problem or DEFAULT_PROBLEM, "--problem")
    spec = _lookup(get_optimizer, optimizer, "--optimizer")
    if not 0 < lr_min < lr_max:
        raise _bad(f"need 0 < lr-min < lr-max, got {lr_min:g} and {lr_max:g}", "--lr-min")
    result = lr_range_test(prob, spec, lr_min=lr_min, lr_max=lr_max, steps=steps)
    console.print(f"{spec.name} on {prob.name}: suggested lr = {result.suggestion:.3g}"
                  + (f" (loss exploded at lr = {result.diverged_at:.3g})"
                     if result.diverged else ""))
    if out is not None:
        _save_figure(plot_lr_range(result), out)


@app.command()
def report(
    comparison: Annotated[int | None, typer.Argument(help="comparison id; default: newest")] = None,
    store: Annotated[Path, typer.Option(help="SQLite result store")] = Path("runs/antigrad.sqlite"),
    out: Annotated[str | None, typer.Option(
        help="report folder (new, empty, or a report antigrad wrote)")] = None,
    gallery: Annotated[bool, typer.Option(help="add the lecture's pictures")] = True,
    list_: Annotated[bool, typer.Option("--list", help="list stored comparisons")] = False,
) -> None:
    """Rebuild the HTML report of a stored comparison."""
    from antigrad.lab import Store, StoreError

    out_dir = None if out is None or list_ else _report_dir(out, store)
    st = Store(store)
    if list_:
        t = Table(title=f"comparisons in {store}")
        for col in ("id", "created", "problem", "seconds"):
            t.add_column(col)
        for row in st.list():
            t.add_row(str(row["id"]), str(row["created"]), str(row["problem"]),
                      f"{row['seconds']:.1f}")
        console.print(t)
        return
    try:
        cmp = st.load(comparison)
    except StoreError as err:
        raise _bad(str(err), "COMPARISON" if comparison is not None else "--store") from None
    _report(cmp, store, out_dir, gallery)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``antigrad`` console script."""
    app(args=argv, prog_name="antigrad")


if __name__ == "__main__":
    main()
