"""The ``antigrad`` command: compare optimizers, draw landscapes, find lrs, rebuild reports.

Commands::

    antigrad compare      every lecture optimizer on a problem -> store + HTML report
    antigrad landscape    optimizer paths over a 2-D surface -> PNG/SVG/PDF
    antigrad lr-find      the learning-rate range test -> suggestion (+ figure)
    antigrad report       rebuild a report from the result store
    antigrad work         one more worker on a comparison in a shared store
    antigrad export       a stored comparison as CSV or JSON
    antigrad reproduce    a published table (the MNIST-1D paper's models) -> table
    antigrad list         problems and optimizers

Every bad value (unknown or empty names, non-finite numbers, budgets out of range, a store
that is not antigrad's, an output that antigrad did not make) exits with code 2 and a
message naming the option before any work or write; outputs are written to a temporary
name and renamed when complete, and never replace a user's file or folder.
"""

from __future__ import annotations

import functools
import gc
import importlib
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

__all__ = ["app", "main"]

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="antigrad: compare and draw the gradient methods of the lecture.")
console = Console(markup=False)  # names and paths are shown as they are, never as markup
#: Progress and notes go to stderr, so stdout holds only results (tables, paths, exports).
err_console = Console(stderr=True, markup=False)


def _version(value: bool) -> None:
    if value:
        from antigrad import __version__

        typer.echo(f"antigrad {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True,
        help="print antigrad's version and exit")] = False) -> None:
    """antigrad: compare and draw the gradient methods of the lecture."""

def _bad(message: str, param: str | None = None) -> typer.BadParameter:
    """A usage error (exit code 2) that names the option."""
    return typer.BadParameter(message, param_hint=param)


def _names(values: list[str] | None) -> list[str]:
    """Repeated and comma-separated names, flattened (commas inside parentheses, as in
    ``adam(betas=(0.8, 0.9))``, do not separate)."""
    from antigrad.lab.spec_text import split_top_level

    return [n for v in values or [] for n in split_top_level(v, ",")]


def _lookup(get, name: str, param: str):
    """``get(name)``, or a usage error naming ``param`` and listing the valid names (or
    saying what is wrong with a ``module:attribute`` entry point)."""
    from antigrad.errors import ConfigError, EntryPointError, UnknownNameError

    _user_code_path()
    try:
        return get(name)
    except (UnknownNameError, EntryPointError, ConfigError) as err:
        raise _bad(str(err), param) from None


def _user_code_path() -> None:
    """Let entry points (``-p mytasks:make``) find modules in the current folder, as
    ``python -m`` does; appended, so nothing installed is shadowed."""
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.append(cwd)


def _check_out(path: str, param: str = "--out") -> Path:
    """A figure file antigrad may write (new, or a figure it wrote), else a usage error."""
    from antigrad.lab.outdir import ReportDirError, check_figure_path

    try:
        return check_figure_path(path)
    except ReportDirError as err:
        raise _bad(str(err), param) from None


def _report_dir(out: str | Path, store, param: str = "--out") -> Path:
    """``out`` if a report may replace it (only antigrad's own folders), else a usage error."""
    from antigrad.lab.outdir import ReportDirError, check_report_dir

    try:
        path = check_report_dir(out)
    except ReportDirError as err:
        raise _bad(str(err), param) from None
    if store.path is not None and path.resolve() in store.path.absolute().resolve().parents:
        raise _bad(f"{str(out)!r} holds the result store {store.name!r}; a report replaces "
                   "its folder whole: name another folder", param)
    return path


def _save_figure(fig, path: Path) -> None:
    """Save ``fig`` to ``path`` atomically (temporary file, then rename) and say so."""
    from antigrad.lab.outdir import FIGURE_CREATOR

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=110, metadata={"Creator": FIGURE_CREATOR})
        os.chmod(tmp, 0o644)
        _check_out(str(path))  # again: the file may have appeared while we drew
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    console.print(f"wrote {path.resolve()}")


#: What every command imports (torch, the lab, the store).
_COMMAND_IMPORTS = ("antigrad.lab",)
#: Whether the command runs as the console script, in a process of its own (set by
#: :func:`main`; a command called in another program's process leaves its collector alone).
_owns_process = False


def _imports_frozen(command: Callable[..., None]) -> Callable[..., None]:
    """``command``, preceded in the console script's own process by the imports every
    command makes (torch, the lab, the store: some 250k objects that live until the process
    exits), done with automatic garbage collection off and then frozen for good, so that no
    collection walks them (five walks, ~0.5 s of CPU, in a short comparison). It runs once
    the options are parsed: a bad option is reported without waiting for the imports."""

    @functools.wraps(command)
    def run(*args: object, **kwargs: object) -> None:
        if _owns_process:
            _import_for_good(_COMMAND_IMPORTS)
        command(*args, **kwargs)

    return run


def _import_for_good(modules: tuple[str, ...]) -> None:
    """Import ``modules`` with automatic collection off, then freeze every object alive
    for good (:func:`~antigrad.train.collector.freeze_for_good`) before collection is back
    as the caller set it (also when an import raises: then nothing is frozen). A collection
    after the imports would walk all of them to find some 7k unreachable ones (~0.2 s);
    those stay frozen with the rest until the process exits. Only for a program that owns
    its process."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        for name in modules:
            importlib.import_module(name)
        from .train.collector import freeze_for_good  # train imports torch: not at start-up

        freeze_for_good()
    finally:
        if enabled:
            gc.enable()


@app.command("list")
@_imports_frozen
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
    console.print("Also: antigrad:CLASS, torch:CLASS or module:attribute (your class, chain "
                  "or factory), each with (key=value, ...) and @SCHEDULE; your own problem "
                  "as module:function. See docs/lab.md.")


_STORE_HELP = ("result store: an SQLite file, sqlite:///PATH, or a PostgreSQL database "
               "postgresql://USER:PASSWORD@HOST:PORT/DATABASE (pip install "
               "'antigrad\\[postgres]')")


def _open_store(location: str):
    """The store ``--store`` names (a bad URL or a missing driver: exit 2)."""
    from antigrad.lab import Store, StoreError

    try:
        return Store(location)
    except StoreError as err:
        raise _bad(str(err), "--store") from None


_OPTIMIZER_HELP = ("optimizer: a lecture name (see `antigrad list`), antigrad:CLASS, "
                   "torch:CLASS or module:function, each optionally with (key=value, ...) "
                   "and @SCHEDULE, e.g. torch:SGD(momentum=0.9) or adam@cosine; repeat or "
                   "comma-separate  \\[default: the nine lecture optimizers]")


@app.command()
@_imports_frozen
def compare(
    problem: Annotated[str | None, typer.Option(
        "--problem", "-p", help="training problem or module:function  "
        "\\[default: mnist1d-mlp]", show_default=False)] = None,
    optimizer: Annotated[list[str] | None, typer.Option(
        "--optimizer", "-o", help=_OPTIMIZER_HELP, show_default=False)] = None,
    schedule: Annotated[str | None, typer.Option(
        help="lr schedule of every optimizer without its own @SCHEDULE: cosine, step, "
        "exponential, inverse-time, linear-warmup, constant, or a torch lr_scheduler class "
        "such as CosineAnnealingLR; with (key=value, ...)  \\[default: none: a constant lr]",
        show_default=False)] = None,
    lr_method: Annotated[str, typer.Option(help="grid or range")] = "grid",
    grid_points: Annotated[int, typer.Option(help="lrs per optimizer (grid), 1 to 25")] = 3,
    lr: Annotated[list[float] | None, typer.Option(
        "--lr", help="explicit lr grid for every optimizer (repeat)")] = None,
    seeds: Annotated[str, typer.Option(
        help="seeds at the chosen lr: a count N (seeds 0..N-1, 1 to 1000) or a list "
        "such as 0,1,42")] = "3",
    steps: Annotated[int | None, typer.Option(
        help="steps per run, up to 10,000,000  \\[default: the problem's]",
        show_default=False)] = None,
    batch_size: Annotated[int | None, typer.Option(
        help="minibatch size  \\[default: the problem's]", show_default=False)] = None,
    eval_every: Annotated[int | None, typer.Option(
        help="evaluate the metric every N steps  \\[default: the problem's]",
        show_default=False)] = None,
    store: Annotated[str, typer.Option(help=_STORE_HELP)] = "runs/antigrad.sqlite",
    out: Annotated[str | None, typer.Option(
        help="report folder (new, empty, or a report antigrad wrote)  "
        "\\[default: runs/<id>-<problem>]", show_default=False)] = None,
    gallery: Annotated[bool, typer.Option(help="add the lecture's pictures")] = True,
    replicas: Annotated[bool, typer.Option(
        help="train an lr grid or the seeds of 8 runs or more as one batched model (the "
        "same results); --no-replicas: every run alone")] = True,
    budget: Annotated[int | None, typer.Option(
        help="tuning protocol: N search trials per optimizer (1 to 1000), scored on a "
        "validation split of the training data, then the seeds at the best lr  "
        "\\[default: none: the lr grid]", show_default=False)] = None,
    search: Annotated[str | None, typer.Option(
        help="what --budget searches, comma-separated: lr, weight_decay, beta1 (or the "
        "momentum), schedule (constant, cosine, warmup-cosine); each where an optimizer "
        "has it  \\[default: lr]", show_default=False)] = None,
    ensemble: Annotated[int | None, typer.Option(
        help="with --budget: K models per seed at the chosen configuration, also scored "
        "as one ensemble (averaged outputs), 1 to 100  \\[default: 1]",
        show_default=False)] = None,
    restarts: Annotated[int | None, typer.Option(
        help="with --budget: K models per seed at the chosen configuration, also scored "
        "by the one with the lowest final training loss (restarts that keep the best), 1 "
        "to 100; with --ensemble, the same K  \\[default: 1]", show_default=False)] = None,
    resume: Annotated[int | None, typer.Option(
        help="go on with the interrupted comparison ID in --store: only its runs not yet "
        "stored are run", show_default=False)] = None,
    create_only: Annotated[bool, typer.Option(
        "--create-only", help="save the comparison and its work list in --store, print its "
        "id and train nothing: `antigrad work ID` processes do the work")] = False,
) -> None:
    """Run optimizers on a problem (each at a chosen lr, over seeds), save the results as
    they finish, write an HTML report. Other processes, here or on other machines, can
    share the work: `antigrad work ID --store ...`."""
    store = _open_store(store)
    if resume is not None:
        _resume_options_unchanged(problem, optimizer, schedule, lr, steps, batch_size,
                                  eval_every, budget, create_only, search, ensemble,
                                  restarts)
        out_dir = None if out is None else _report_dir(out, store)
        cmp, recording = _resume(resume, store)
    else:
        config = _compare_config(problem, optimizer, schedule, lr_method, grid_points, lr,
                                 seeds, steps, batch_size, eval_every, budget,
                                 _search_names(search), 1 if ensemble is None else ensemble,
                                 1 if restarts is None else restarts)
        out_dir = None if out is None else _report_dir(out, store)
        cmp, recording = _begin(config, store)
    with recording:
        if create_only:
            _plan_only(cmp, store)
            return
        if out_dir is None:
            out_dir = _default_report_dir(cmp, store, recording)
        typer.echo(_estimate(cmp), err=True)
        cmp = _run(cmp, store, replicas)
    _report(cmp, store, out_dir, gallery, f"comparison {cmp.id} saved in {store.name}")


def _resume_options_unchanged(problem, optimizer, schedule, lr, steps, batch_size,
                              eval_every, budget, create_only, search=None,
                              ensemble=None, restarts=None) -> None:
    """Exit 2 if options that describe a new comparison come with ``--resume``."""
    given = [name for name, value in (
        ("--problem", problem), ("--optimizer", optimizer), ("--schedule", schedule),
        ("--lr", lr), ("--steps", steps), ("--batch-size", batch_size),
        ("--eval-every", eval_every), ("--budget", budget), ("--search", search),
        ("--ensemble", ensemble), ("--restarts", restarts),
        ("--create-only", create_only or None))
        if value is not None]
    if given:
        raise _bad(f"{', '.join(given)} cannot change a resumed comparison (it goes on "
                   "with its own settings)", "--resume")


def _plan_only(cmp, store) -> None:
    """List the comparison's work in the store and say how to work on it."""
    from antigrad.lab import StoreError
    from antigrad.lab.queue import WorkQueue

    try:
        with WorkQueue(store, cmp.id) as queue:
            queue.plan()
    except StoreError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    typer.echo(_estimate(cmp), err=True)
    typer.echo(f"comparison {cmp.id} created in {store.name}; work on it with: "
               f"antigrad work {cmp.id} --store {store.name}", err=True)
    typer.echo(cmp.id)


def _search_names(text: str | None) -> list[str]:
    """``--search`` split at commas (the lr alone when not given)."""
    if text is None:
        return ["lr"]
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise _bad("nothing named to search (the value is empty)", "--search")
    return names


def _compare_config(problem, optimizer, schedule, lr_method, grid_points, lr, seeds, steps,
                    batch_size, eval_every, budget, search=None, ensemble=1, restarts=1):
    """The comparison the options describe, validated (exit 2 naming the option)."""
    from antigrad.lab import CompareConfig
    from antigrad.lab.optimizers import optimizer_names

    names = _optimizer_texts(optimizer, schedule) or optimizer_names()
    if schedule is not None and not optimizer:
        names = _optimizer_texts(names, schedule)
    config = CompareConfig(_problem_name(problem), names, lr_method, grid_points, lr or None,
                           _parse_seeds(seeds), steps, batch_size, eval_every, budget,
                           search or ["lr"], ensemble, restarts)
    _validate_config(config)
    return config


def _resume(cid: int, store):
    """The interrupted comparison ``cid`` and a recording that goes on with it (exit 2
    before any work unless it exists and is incomplete)."""
    from antigrad.lab import StoreError

    try:
        return store.resume(cid)
    except StoreError as err:
        raise _bad(str(err), "--resume") from None


def _optimizer_texts(values: list[str] | None, schedule: str | None) -> list[str]:
    """``-o`` values split at top-level commas, each given ``@schedule`` unless it has one
    (the schedule is checked first, as ``--schedule``)."""
    from antigrad.lab.spec_text import split_top_level

    names = [n for v in values or [] for n in split_top_level(v, ",")]
    if values is not None and not names:
        raise _bad("no optimizer named (the value is empty)", "--optimizer")
    if schedule is None:
        return names
    _check_schedule(schedule)
    return [n if len(split_top_level(n, "@")) > 1 else f"{n}@{schedule.strip()}"
            for n in names]


def _check_schedule(text: str) -> None:
    from antigrad.errors import ConfigError
    from antigrad.lab.schedules import parse_schedule

    if not text.strip():
        raise _bad("no schedule named (the value is empty)", "--schedule")
    try:
        parse_schedule(text)
    except ConfigError as err:
        raise _bad(str(err), "--schedule") from None


def _parse_seeds(text: str) -> int | list[int]:
    """``"3"`` -> 3 (a count); ``"0,1,42"`` or ``"7,"`` -> a list of seeds."""
    parts = [p.strip() for p in text.split(",")]
    try:
        values = [int(p) for p in parts if p]
    except ValueError:
        raise _bad(f"invalid seeds {text!r} (a count such as 3, or seeds such as 0,1,42)",
                   "--seeds") from None
    if not values:
        raise _bad("no seeds given (the value is empty)", "--seeds")
    return values[0] if len(parts) == 1 else values


_CONFIG_OPTIONS = {"optimizers": "--optimizer", "lr_method": "--lr-method",
                   "grid_points": "--grid-points", "lrs": "--lr", "seeds": "--seeds",
                   "steps": "--steps", "batch_size": "--batch-size",
                   "eval_every": "--eval-every", "schedule": "--optimizer",
                   "budget": "--budget", "search": "--search", "ensemble": "--ensemble",
                   "restarts": "--restarts"}


def _problem_name(value: str | None, param: str = "--problem") -> str:
    """The problem named (stripped), or the default one."""
    from antigrad.problems import DEFAULT_PROBLEM

    if value is not None and not value.strip():
        raise _bad("no problem named (the value is empty)", param)
    return DEFAULT_PROBLEM if value is None else value.strip()


def _validate_config(config) -> None:
    """``config.validate()``, its errors as usage errors naming the option."""
    from antigrad.errors import EntryPointError, UnknownNameError
    from antigrad.lab.compare import ConfigError

    _user_code_path()
    try:
        config.validate()
    except (UnknownNameError, EntryPointError) as err:
        raise _bad(str(err), "--problem" if err.kind == "problem" else "--optimizer") from None
    except ConfigError as err:
        raise _bad(str(err), _CONFIG_OPTIONS.get(err.field)) from None


def _begin(config, store):
    """A new comparison, begun in the store (checked first: exit 2, nothing run)."""
    from antigrad.lab import StoreError
    from antigrad.lab.compare import new_comparison

    cmp = new_comparison(config)
    try:
        return cmp, store.begin(cmp)
    except StoreError as err:
        raise _bad(str(err), "--store") from None


def _default_report_dir(cmp, store, recording) -> Path:
    """``runs/<id>-<problem>``, checked; if refused, the just-begun comparison is removed."""
    from antigrad.lab.report import default_report_dir

    try:
        return _report_dir(default_report_dir(cmp, store.report_root), store, "--store")
    except typer.BadParameter:
        recording.discard()
        raise


def _estimate(cmp) -> str:
    """What the comparison will do, said before it starts."""
    from antigrad.lab.compare import count_runs
    from antigrad.problems import get_training_problem

    c = cmp.config
    steps = c.steps or get_training_problem(c.problem).steps
    tune = "1 range test" if c.lr_method == "range" else f"{len(c.lrs or []) or c.grid_points} lrs"
    runs, seeds = count_runs(c), c.seed_list()
    shared = "" if c.lr_method == "range" else f", seed {seeds[0]} shared"
    if c.budget is not None:
        tune, shared = f"{c.budget} validation trials", ""
        if c.group_size() > 1:
            shared = f" x {c.group_size()} models"
    trained = [r for r in cmp.runs if r.phase != "ensemble"]
    left = f", {runs - len(trained)} left" if trained else ""
    return (f"compare {c.problem}: {len(c.optimizers)} optimizer(s) x ({tune} + "
            f"{len(seeds)} seed(s){shared}) = {runs} runs of up to {steps:,} steps "
            f"(at most {runs * steps:,} steps{left}); comparison {cmp.id} in the store")


def _run(cmp, store, replicas: bool = True):
    """Work on ``cmp`` in this process (other workers may join) with a progress bar until
    it is complete; the complete comparison, read back from the store."""
    from antigrad.lab import StoreError
    from antigrad.lab.worker import work_on

    typer.echo(f"comparison {cmp.id} in {store.name}; more workers can join: "
               f"antigrad work {cmp.id} --store {store.name}", err=True)
    with Progress(TextColumn("{task.description:<28}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err_console, transient=False) as bar:
        task = bar.add_task(f"compare {cmp.config.problem}", total=None)

        def progress(work, stored: int | None, total: int) -> None:
            bar.update(task, description=work.label(), total=total,
                       **({} if stored is None else {"completed": stored}))

        try:
            work_on(store, cmp.id, replicas=replicas, progress=progress)
            return store.load(cmp.id)
        except KeyboardInterrupt:
            bar.stop()
            kept = len(store.load(cmp.id).runs)
            typer.echo(f"interrupted: comparison {cmp.id} in {store.name} keeps its {kept} "
                       f"finished run(s); `antigrad report {cmp.id}` draws them; `antigrad "
                       f"compare --resume {cmp.id} --store {store.name}` goes on", err=True)
            raise typer.Exit(130) from None
        except StoreError as err:
            bar.stop()
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(1) from None


def _report(cmp, store, out: Path | None, gallery: bool, saved: str = "") -> None:
    """Write ``cmp``'s HTML report (next to ``store`` unless ``out``), print the table."""
    from antigrad.lab import ReportDirError, write_report
    from antigrad.lab.gallery import gallery_pictures
    from antigrad.lab.report import default_report_dir

    out = out or _report_dir(default_report_dir(cmp, store.report_root), store, "--store")
    figures = gallery_pictures() if gallery else None  # drawn once, then cached
    try:
        path = write_report(cmp, out, gallery=figures)
    except ReportDirError as err:  # the folder changed while the report was drawn
        kept = (f"; comparison {cmp.id} is in {store.name}: `antigrad report {cmp.id} "
                "--out DIR`")
        typer.echo(f"error: report not written: {err}{kept if saved else ''}", err=True)
        raise typer.Exit(2) from None
    _print_summary(cmp)
    if cmp.config.budget is not None:  # best-so-far vs trials, and the seed-noise verdicts
        from antigrad.lab.tuning import tuning_text

        typer.echo(tuning_text(cmp), nl=False)
    if saved:
        console.print(saved)
    console.print(f"report: {path.resolve()}")


#: Columns left out, in this order, while the table is wider than the terminal.
_DROPPABLE = ("s→target", "steps→target", "train loss", "s/run", "diverged")


def _print_summary(cmp) -> None:
    """The results table: rich on a terminal, fitted to its width (less important columns
    left out, long names folded, never cut); plain fixed-width text otherwise (logs)."""
    from antigrad.lab.table import SHORT_HEADERS, summary_rows, summary_text

    if not console.is_terminal:
        typer.echo(summary_text(cmp), nl=False)
        return
    rows = summary_rows(cmp)
    keep = _fitting_columns(SHORT_HEADERS, rows, console.width)
    t = Table(title=f"{cmp.title} — {cmp.metric}, target {cmp.target:g} "
                    f"({cmp.seconds:.1f} s)")
    for i in keep:
        h = SHORT_HEADERS[i]
        if h == "optimizer":  # only names fold; numbers keep their width
            t.add_column(h, overflow="fold", min_width=8)
        else:
            t.add_column(h, justify="right", no_wrap=True,
                         min_width=max(len(h), *(len(r[i]) for r in rows)))
    for row in rows:
        t.add_row(*(row[i] for i in keep))
    console.print(t)
    if len(keep) < len(SHORT_HEADERS):
        console.print("(a narrow terminal: some columns left out; all are in summary.txt)")


def _fitting_columns(headers: list[str], rows: list[list[str]], width: int) -> list[int]:
    """Indices of the columns to show so that numbers are never folded: drop
    :data:`_DROPPABLE` ones until the widest cells (and 3 characters of border each) fit;
    the optimizer column may fold."""
    def need(i: int) -> int:
        cells = [headers[i], *(r[i] for r in rows)]
        return 3 + (12 if headers[i] == "optimizer" else max(map(len, cells)))

    keep = list(range(len(headers)))
    for name in _DROPPABLE:
        if sum(map(need, keep)) + 1 <= width:
            break
        keep.remove(headers.index(name))
    return keep


@app.command()
@_imports_frozen
def work(
    comparison: Annotated[int, typer.Argument(help="the comparison to work on")],
    store: Annotated[str, typer.Option(help=_STORE_HELP)] = "runs/antigrad.sqlite",
    lease: Annotated[float, typer.Option(
        help="seconds without a heartbeat after which this worker's claims are retaken by "
        "others (it renews them every quarter lease while it trains)")] = 60.0,
    worker: Annotated[str | None, typer.Option(
        help="this worker's name; restarted under the same name it retakes its claims at "
        "once  \\[default: HOST:PID]", show_default=False)] = None,
    replicas: Annotated[bool, typer.Option(
        help="claim 8 or more grid points, trials or seeds at once and train them as one "
        "batched model; --no-replicas: one run per claim (work spreads more evenly over "
        "many workers)")] = True,
) -> None:
    """Work on a comparison in a shared store until it is complete: claim the runs not yet
    done, train them, save each at once. Start it as often as you like, on this machine
    or (with a PostgreSQL --store) on others; then `antigrad report ID`."""
    from antigrad.lab import StoreError
    from antigrad.lab.worker import work_on

    _user_code_path()  # the comparison's problem may be a module:function of this folder
    st = _open_store(store)
    if not (math.isfinite(lease) and lease > 0):
        raise _bad(f"invalid lease {lease!r} (must be a finite number of seconds > 0)",
                   "--lease")
    if worker is not None and not (worker.strip() and worker.isprintable()):
        raise _bad(f"invalid worker name {worker!r} (printable, not empty)", "--worker")
    try:
        cmp = st.load(comparison)
    except StoreError as err:
        raise _bad(str(err), "COMPARISON") from None
    if cmp.complete:
        typer.echo(f"comparison {comparison} in {st.name} is complete: nothing to do",
                   err=True)
        return

    def progress(item, stored: int | None, total: int) -> None:
        done = f"saved ({stored}/{total})" if stored is not None else \
            "not saved: another worker took it over"
        typer.echo(f"{item.label()}: {done}", err=True)

    try:
        report = work_on(st, comparison, worker=worker, lease=lease, replicas=replicas,
                         progress=progress)
    except KeyboardInterrupt:
        typer.echo(f"interrupted: its claims are given back; comparison {comparison} goes "
                   "on with the other workers (or `antigrad work` again)", err=True)
        raise typer.Exit(130) from None
    except StoreError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"comparison {comparison} is complete; worker {report.worker} saved "
               f"{len(report.stored)} result(s); `antigrad report {comparison} --store "
               f"{st.name}` draws it", err=True)


@app.command()
@_imports_frozen
def landscape(
    surface: Annotated[str, typer.Option("--surface", "-s", help="2-D surface")] = "rosenbrock",
    optimizer: Annotated[list[str] | None, typer.Option(
        "--optimizer", "-o", help="optimizer (repeat or comma-separate)")] = None,
    lr: Annotated[list[str] | None, typer.Option(
        "--lr", help="VALUE for all, or NAME=VALUE (repeat); default: the surface's")] = None,
    steps: Annotated[int, typer.Option(help="steps per path, 1 to 100,000")] = 200,
    start: Annotated[str | None, typer.Option(help="start point 'x,y'")] = None,
    out: Annotated[str, typer.Option(help=".png, .svg or .pdf")] = "landscape.png",
) -> None:
    """Draw optimizer paths over a surface's contour lines (diverged runs marked)."""
    from antigrad.lab.figures import plot_trajectories
    from antigrad.lab.optimizers import get_optimizer
    from antigrad.problems import get_surface

    path = _check_out(out)
    surf = _lookup(get_surface, surface, "--surface")
    names = _names(optimizer)
    if optimizer is not None and not names:
        raise _bad("no optimizer named (the value is empty)", "--optimizer")
    names = names or ["sgd", "momentum", "nesterov", "rmsprop", "adam"]
    for name in names:
        _first_order(_lookup(get_optimizer, name, "--optimizer"), "landscape")
    _in_range(steps, 1, MAX_PATH_STEPS, "--steps")
    lrs = _parse_lrs(lr or [], names)
    point = _parse_point(start) if start is not None else None
    fig = plot_trajectories(surf, {n: lrs.get(n) for n in names}, steps=steps, start=point,
                            lr_rule="surface")
    _save_figure(fig, path)


def _first_order(spec, command: str):
    """``spec``, unless its optimizer needs a closure (second-order methods run in
    ``compare``, not in the one-gradient-per-step paths and range test)."""
    import torch

    from antigrad.lab.optimizers import needs_closure

    if needs_closure(spec.build([torch.nn.Parameter(torch.zeros(2))], spec.default_lr)):
        raise _bad(f"{spec.name!r} evaluates the loss itself (a second-order method); "
                   f"`antigrad {command}` takes one gradient per step: run it with "
                   "`antigrad compare`", "--optimizer")
    return spec


#: Longest path ``landscape`` draws, and longest range test ``lr-find`` runs.
MAX_PATH_STEPS = 100_000
MAX_RANGE_STEPS = 100_000
#: Widest lr range ``lr-find`` sweeps (lr-max / lr-min).
MAX_LR_SPAN = 1e16


def _in_range(value: int, lo: int, hi: int, param: str) -> None:
    if not lo <= value <= hi:
        raise _bad(f"{value:,} is out of range (from {lo:,} to {hi:,})", param)


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
    if not (math.isfinite(x) and math.isfinite(y)):
        raise _bad(f"invalid point {text!r} (both coordinates must be finite)", "--start")
    return x, y


def _positive(value: float, param: str) -> float:
    if not (value > 0 and math.isfinite(value)):
        raise _bad(f"invalid value {value!r} (must be a finite number > 0)", param)
    return value


@app.command("lr-find")
@_imports_frozen
def lr_find(
    problem: Annotated[str | None, typer.Option(
        "--problem", "-p", help="training problem or module:function; default: "
        "mnist1d-mlp")] = None,
    optimizer: Annotated[str, typer.Option(
        "--optimizer", "-o", help="a first-order optimizer, as for compare")] = "adam",
    lr_min: Annotated[float, typer.Option(help="first lr, finite > 0")] = 1e-5,
    lr_max: Annotated[float, typer.Option(help="last lr, finite > lr-min")] = 10.0,
    steps: Annotated[int, typer.Option(help="steps, 3 to 100,000")] = 100,
    out: Annotated[str | None, typer.Option(help="figure: .png, .svg or .pdf")] = None,
) -> None:
    """Learning-rate range test: grow the lr until the loss explodes; suggest one."""
    from antigrad.lab import lr_range_test
    from antigrad.lab.figures import plot_lr_range
    from antigrad.lab.optimizers import get_optimizer
    from antigrad.problems import get_training_problem

    path = None if out is None else _check_out(out)
    prob = _lookup(get_training_problem, _problem_name(problem), "--problem")
    spec = _first_order(_lookup(get_optimizer, optimizer, "--optimizer"), "lr-find")
    _positive(lr_min, "--lr-min")
    _positive(lr_max, "--lr-max")
    if not lr_min < lr_max:
        raise _bad(f"need lr-min < lr-max, got {lr_min:g} and {lr_max:g}", "--lr-max")
    if lr_max / lr_min > MAX_LR_SPAN:
        raise _bad(f"lr-max / lr-min = {lr_max / lr_min:g} spans more than "
                   f"{math.log10(MAX_LR_SPAN):.0f} decades", "--lr-max")
    _in_range(steps, 3, MAX_RANGE_STEPS, "--steps")
    result = lr_range_test(prob, spec, lr_min=lr_min, lr_max=lr_max, steps=steps)
    console.print(f"{spec.name} on {prob.name}: " + (
        f"suggested lr = {result.suggestion:.3g}" if result.suggestion is not None
        else "no suggestion (the loss diverged within the first steps: lower --lr-min)")
        + (f" (loss exploded at lr = {result.diverged_at:.3g})" if result.diverged else ""))
    if path is not None:
        _save_figure(plot_lr_range(result), path)


@app.command()
@_imports_frozen
def report(
    comparison: Annotated[int | None, typer.Argument(help="comparison id; default: newest")] = None,
    store: Annotated[str, typer.Option(help=_STORE_HELP)] = "runs/antigrad.sqlite",
    out: Annotated[str | None, typer.Option(
        help="report folder (new, empty, or a report antigrad wrote)")] = None,
    gallery: Annotated[bool, typer.Option(help="add the lecture's pictures")] = True,
    list_: Annotated[bool, typer.Option("--list", help="list stored comparisons")] = False,
) -> None:
    """Rebuild the HTML report of a stored comparison (the store is only read)."""
    from antigrad.lab import StoreError

    st = _open_store(store)
    out_dir = None if out is None or list_ else _report_dir(out, st)
    try:
        if list_:
            _print_listing(st.list(), st.name)
            return
        cmp = st.load(comparison)
    except StoreError as err:
        raise _bad(str(err), "COMPARISON" if comparison is not None else "--store") from None
    _report(cmp, st, out_dir, gallery)


@app.command()
@_imports_frozen
def export(
    comparison: Annotated[int | None, typer.Argument(
        help="comparison id  \\[default: the newest]", show_default=False)] = None,
    format_: Annotated[str, typer.Option(
        "--format", help="csv (one row per run) or json (settings, summary, runs with "
        "curves)")] = "csv",
    out: Annotated[str | None, typer.Option(
        help="a new file to write  \\[default: stdout]", show_default=False)] = None,
    store: Annotated[str, typer.Option(help=_STORE_HELP)] = "runs/antigrad.sqlite",
) -> None:
    """Export a stored comparison as CSV or JSON (the store is only read; --out never
    replaces an existing file)."""
    from antigrad.lab import StoreError
    from antigrad.lab.export import FORMATS, export_text
    from antigrad.lab.outdir import ReportDirError, check_new_file, write_new_file

    if format_ not in FORMATS:
        raise _bad(f"unknown format {format_!r}; choose from: {', '.join(FORMATS)}",
                   "--format")
    try:
        path = None if out is None else check_new_file(out)
    except ReportDirError as err:
        raise _bad(str(err), "--out") from None
    try:
        cmp = _open_store(store).load(comparison)
    except StoreError as err:
        raise _bad(str(err), "COMPARISON" if comparison is not None else "--store") from None
    text = export_text(cmp, format_)
    if path is None:
        typer.echo(text, nl=False)
        return
    try:
        write_new_file(path, text)
    except ReportDirError as err:
        raise _bad(str(err), "--out") from None
    err_console.print(f"wrote comparison {cmp.id} ({len(cmp.runs)} runs) to {path.resolve()}")


@app.command()
@_imports_frozen
def reproduce(
    target: Annotated[str, typer.Argument(help="the published table: mnist1d")],
    seeds: Annotated[str, typer.Option(help="seeds, comma-separated")] = "42,0,1",
    steps: Annotated[int, typer.Option(help="steps per run (the paper: 8000)")] = 8000,
    models: Annotated[str | None, typer.Option(
        help="models, comma-separated: logistic, mlp, cnn, gru  \\[default: all four; "
        "with --tuned: mlp,cnn]", show_default=False)] = None,
    jobs: Annotated[int | None, typer.Option(
        help="worker processes  \\[default: the number of CPUs]", show_default=False)] = None,
    out: Annotated[str | None, typer.Option(
        help="also write the results to this new .json or .csv file", show_default=False)
        ] = None,
    tuned: Annotated[bool, typer.Option(
        help="instead of the paper's recipe, the lecture's methods under the tuning "
        "protocol (compare --budget, --search, --ensemble on each model), with a verdict "
        "against the paper")] = False,
    optimizer: Annotated[str, typer.Option(
        "--optimizer", "-o", help="with --tuned: optimizers, comma-separated")
        ] = "adamw,nesterov",
    budget: Annotated[int, typer.Option(help="with --tuned: trials per optimizer")] = 12,
    search: Annotated[str, typer.Option(help="with --tuned: the search space (as compare's)")
                      ] = "lr,weight_decay,beta1,schedule",
    ensemble: Annotated[int, typer.Option(help="with --tuned: models per seed group")] = 3,
    store: Annotated[str, typer.Option(help="with --tuned: " + _STORE_HELP)
                     ] = "runs/antigrad.sqlite",
    from_: Annotated[str | None, typer.Option(
        "--from", help="with --tuned: train nothing, print the verdict table of these "
        "finished tuned comparisons in --store (ids, comma-separated)",
        show_default=False)] = None,
) -> None:
    """Train the MNIST-1D paper's four models with its recipe (torch Adam, lr 0.01,
    batches of 100 in order) and print the final test accuracy beside the paper's; with
    --tuned, try to beat it with the lab's tuning protocol."""
    from antigrad.lab import reproduce as repro

    if target not in repro.TARGETS:
        raise _bad(f"unknown target {target!r}; choose from: {', '.join(repro.TARGETS)}",
                   "TARGET")
    seed_list = _seed_list(seeds)
    if steps <= 0:
        raise _bad(f"{steps} is not a number of steps (must be > 0)", "--steps")
    if tuned and (jobs is not None or out is not None):
        raise _bad("--jobs and --out are for the paper's recipe; a tuned comparison runs in "
                   "this process and is saved in --store (`antigrad export ID`)",
                   "--jobs" if jobs is not None else "--out")
    if tuned:
        steps_given = None if steps == repro.PAPER_STEPS else steps
        _reproduce_tuned(models or "mlp,cnn", seed_list, steps_given, optimizer, budget,
                         search, ensemble, store, from_)
        return
    if from_ is not None:
        raise _bad("--from reads tuned comparisons: give --tuned too", "--from")
    model_list = _model_list(models or "logistic,mlp,cnn,gru")
    if jobs is not None and jobs <= 0:
        raise _bad(f"{jobs} is not a number of processes (must be > 0)", "--jobs")
    path, format_ = _repro_out(out)
    start = time.perf_counter()
    rows = repro.reproduce_mnist1d(model_list, seed_list, steps, jobs, _repro_progress)
    seconds = time.perf_counter() - start
    typer.echo(f"{sum(len(r.runs) for r in rows)} runs of {steps} steps, {seconds:.1f} s wall\n")
    typer.echo(repro.rows_text(rows), nl=False)
    if path is not None:
        text = (repro.rows_json(rows, steps, seconds) if format_ == "json"
                else repro.rows_csv(rows))
        _write_export(path, text)


def _reproduce_tuned(models: str, seeds: list[int], steps: int | None, optimizers: str,
                     budget: int, search: str, ensemble: int, location: str,
                     from_: str | None) -> None:
    """``reproduce --tuned``: a tuned comparison per model (each saved in ``store`` as it
    runs; exit 2 on a bad value before any work), or ``--from`` stored ones; then the
    verdict table."""
    from antigrad.lab import CompareConfig, StoreError
    from antigrad.lab.beat_paper import PROBLEM_PREFIX, beat_rows, beat_text

    if from_ is not None:
        ids = _id_list(from_)
        store = _open_store(location)
        try:
            cmps = [store.load(cid) for cid in ids]
            rows = [row for cmp in cmps for row in beat_rows(cmp)]
        except (StoreError, ValueError) as err:
            raise _bad(str(err), "--from") from None
        typer.echo(beat_text(rows), nl=False)
        return
    configs = []
    for model in _model_list(models):
        config = CompareConfig(PROBLEM_PREFIX + model, _optimizer_texts([optimizers], None),
                               seeds=seeds, steps=steps, budget=budget,
                               search=_search_names(search), ensemble=ensemble)
        _validate_config(config)
        configs.append(config)
    store = _open_store(location)
    start, cmps = time.perf_counter(), []
    for config in configs:
        cmp, recording = _begin(config, store)
        with recording:
            typer.echo(_estimate(cmp), err=True)
            cmps.append(_run(cmp, store))
    seconds = time.perf_counter() - start
    typer.echo(f"comparisons {', '.join(str(c.id) for c in cmps)} in {store.name}, "
               f"{seconds:.1f} s wall\n")
    typer.echo(beat_text([row for cmp in cmps for row in beat_rows(cmp)]), nl=False)


def _id_list(text: str) -> list[int]:
    try:
        ids = [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise _bad(f"invalid ids {text!r} (comparison ids such as 3,4)", "--from") from None
    if not ids:
        raise _bad("no comparison id given", "--from")
    return ids


def _seed_list(text: str) -> list[int]:
    seeds = _parse_seeds(text)
    seeds = [seeds] if isinstance(seeds, int) else seeds  # here "3" is seed 3, not a count
    if min(seeds) < 0:
        raise _bad(f"invalid seeds {text!r} (seeds are integers >= 0)", "--seeds")
    return seeds


def _model_list(text: str) -> list[str]:
    from antigrad.errors import UnknownNameError
    from antigrad.lab.reproduce import check_models

    try:
        return check_models([m.strip() for m in text.split(",") if m.strip()])
    except (UnknownNameError, ValueError) as err:
        raise _bad(str(err), "--models") from None


def _repro_out(out: str | None) -> tuple[Path | None, str]:
    """The new file ``--out`` names and its format (from the suffix), or a usage error."""
    from antigrad.lab.outdir import ReportDirError, check_new_file

    if out is None:
        return None, ""
    format_ = Path(out).suffix.lower().lstrip(".")
    if format_ not in ("json", "csv"):
        raise _bad(f"{out!r}: name a .json or .csv file", "--out")
    try:
        return check_new_file(out), format_
    except ReportDirError as err:
        raise _bad(str(err), "--out") from None


def _write_export(path: Path, text: str) -> None:
    from antigrad.lab.outdir import ReportDirError, write_new_file

    try:
        write_new_file(path, text)
    except ReportDirError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    err_console.print(f"wrote {path.resolve()}")


def _repro_progress(result, done: int, total: int) -> None:
    diverged = " (diverged)" if result.diverged else ""
    typer.echo(f"[{done}/{total}] {result.model} seed {result.seed}: "
               f"{result.accuracy:.1f} %{diverged} in {result.seconds:.0f} s", err=True)


def _print_listing(rows: list[dict], store: str) -> None:
    t = Table(title=f"comparisons in {store}")
    for col in ("id", "created", "problem", "seconds", "finished"):
        t.add_column(col)
    for row in rows:
        t.add_row(str(row["id"]), str(row["created"]), str(row["problem"]),
                  f"{row['seconds']:.1f}", "yes" if row["complete"] else "no (interrupted)")
    console.print(t)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``antigrad`` console script: its commands own the process, so
    they freeze their imports for good (:func:`_imports_frozen`)."""
    global _owns_process
    _owns_process = True
    try:
        app(args=argv, prog_name="antigrad")
    finally:
        _owns_process = False


if __name__ == "__main__":
    main()
