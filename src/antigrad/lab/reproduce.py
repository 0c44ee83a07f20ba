"""Reproduce a published table: the MNIST-1D paper's four models with the paper's recipe.

Each of ``mnist1d-paper-logistic/mlp/cnn/gru`` is trained as the paper's repository does
(``notebooks/train.py``): ``torch.optim.Adam`` at lr 0.01, batches of 100 in the stored
order, :data:`PAPER_STEPS` steps, data as generated. Seed 42 is the repository's seed (the
models create their layers in the repository's order, so the initial weights match it).
Runs go in parallel worker processes, one thread each; :func:`reproduce_mnist1d` returns
one :class:`ReproRow` per model: the final test accuracy (mean ± std over seeds) beside
the paper's number and the repository's logged one
(``notebooks/mnist1d-classification.ipynb``: 6000 steps, seed 42).

Example::

    >>> PAPER["cnn"], REPO_LOGGED["cnn"]
    (94.0, 92.3)
    >>> rows = reproduce_mnist1d(["cnn"], [42], steps=8000)  # doctest: +SKIP
    >>> print(rows_text(rows))  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import io
import json
import os
import statistics
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass

from ..errors import UnknownNameError

__all__ = ["TARGETS", "MNIST1D_MODELS", "PAPER", "REPO_LOGGED", "PAPER_SEEDS", "PAPER_STEPS",
           "PAPER_LR", "SeedResult", "ReproRow", "check_models", "reproduce_mnist1d",
           "rows_text", "rows_json", "rows_csv"]

#: The published tables ``antigrad reproduce`` knows.
TARGETS = ("mnist1d",)
MNIST1D_MODELS = ("logistic", "mlp", "cnn", "gru")
#: Test accuracy (%) the paper reports.
PAPER = {"logistic": 32.0, "mlp": 68.0, "cnn": 94.0, "gru": 91.0}
#: Test accuracy (%) the repository's notebook logs (6000 steps, seed 42).
REPO_LOGGED = {"logistic": 31.5, "mlp": 65.1, "cnn": 92.3, "gru": 89.1}
PAPER_SEEDS = (42, 0, 1)
PAPER_STEPS = 8000
PAPER_LR = 0.01


@dataclass(frozen=True)
class SeedResult:
    """One run: its model, seed, final test accuracy (%), wall seconds, divergence."""

    model: str
    seed: int
    accuracy: float
    seconds: float
    diverged: bool


@dataclass(frozen=True)
class ReproRow:
    """One model of the table: the published numbers and the runs over seeds."""

    model: str
    paper: float
    repo_logged: float
    mean: float
    std: float
    runs: tuple[SeedResult, ...]


def check_models(models: Sequence[str]) -> list[str]:
    """``models`` if each is one of :data:`MNIST1D_MODELS` (and there is one at least),
    else :class:`~antigrad.errors.UnknownNameError` / :class:`ValueError`."""
    if not models:
        raise ValueError("no model named; choose from: " + ", ".join(MNIST1D_MODELS))
    for name in models:
        if name not in MNIST1D_MODELS:
            raise UnknownNameError("model", name, MNIST1D_MODELS)
    return list(models)


def _one_run(job: tuple[str, int, int]) -> SeedResult:
    """One paper-recipe run (a top-level function, so worker processes can call it)."""
    model, seed, steps = job
    from ..problems import get_training_problem
    from .optimizers import get_optimizer
    from .runner import train_run

    problem = get_training_problem(f"mnist1d-paper-{model}")
    start = time.perf_counter()
    run = train_run(problem, get_optimizer("torch:Adam"), PAPER_LR, seed, steps=steps)
    return SeedResult(model, seed, 100 * run.final_metric, time.perf_counter() - start,
                      run.diverged)


def _one_thread() -> None:
    """Each worker uses one thread: the workers already fill the cores."""
    import torch

    torch.set_num_threads(1)


def _run_all(jobs: list[tuple[str, int, int]], workers: int,
             progress: Callable[[SeedResult, int, int], None] | None) -> list[SeedResult]:
    results: list[SeedResult] = []

    def done(result: SeedResult) -> None:
        results.append(result)
        if progress is not None:
            progress(result, len(results), len(jobs))

    if workers == 1:  # in this process: no start-up cost, and tests stay quick
        for job in jobs:
            done(_one_run(job))
        return results
    with ProcessPoolExecutor(workers, initializer=_one_thread) as pool:
        for future in as_completed([pool.submit(_one_run, job) for job in jobs]):
            done(future.result())
    return results


def reproduce_mnist1d(models: Sequence[str] = MNIST1D_MODELS,
                      seeds: Sequence[int] = PAPER_SEEDS, steps: int = PAPER_STEPS,
                      jobs: int | None = None,
                      progress: Callable[[SeedResult, int, int], None] | None = None,
                      ) -> list[ReproRow]:
    """Train each of ``models`` from each of ``seeds`` with the paper's recipe for
    ``steps`` steps in ``jobs`` worker processes (default: the number of CPUs; 1 runs in
    this process), calling ``progress(result, done, total)`` after each run."""
    check_models(models)
    if not seeds:
        raise ValueError("no seeds given")
    if isinstance(steps, bool) or not isinstance(steps, int):
        raise TypeError(f"steps must be an int, got {type(steps).__name__}")
    if steps <= 0:
        raise ValueError(f"steps must be > 0, got {steps}")
    from ..problems import datasets

    datasets.mnist1d(standardize=False)  # generate (or read) the data once, before forking
    work = [(m, s, steps) for m in models for s in seeds]
    workers = max(1, min(len(work), jobs or os.cpu_count() or 1))
    results = _run_all(work, workers, progress)
    return [_row(m, [r for s in seeds for r in results if r.model == m and r.seed == s])
            for m in models]


def _row(model: str, runs: list[SeedResult]) -> ReproRow:
    accs = [r.accuracy for r in runs]
    std = statistics.stdev(accs) if len(accs) > 1 else 0.0
    return ReproRow(model, PAPER[model], REPO_LOGGED[model], statistics.fmean(accs), std,
                    tuple(runs))


def _seeds_text(row: ReproRow) -> str:
    return ", ".join(f"{r.seed}: {r.accuracy:.1f}{' (diverged)' if r.diverged else ''}"
                     for r in row.runs)


def rows_text(rows: Sequence[ReproRow]) -> str:
    """The table as Markdown: model, paper, repository log, mean ± std, per seed, s/run."""
    lines = ["| model | paper | repo log (6000 steps, seed 42) | antigrad, mean ± std "
             "| per seed | s / run |", "|---|---:|---:|---:|---|---:|"]
    for row in rows:
        seconds = statistics.fmean(r.seconds for r in row.runs)
        lines.append(f"| {row.model} | {row.paper:.1f} | {row.repo_logged:.1f} | "
                     f"{row.mean:.1f} ± {row.std:.1f} | {_seeds_text(row)} | {seconds:.0f} |")
    return "\n".join(lines) + "\n"


def rows_json(rows: Sequence[ReproRow], steps: int, seconds: float) -> str:
    """The table as JSON: the recipe, the wall time and one entry per model with its runs."""
    doc = {"target": "mnist1d", "optimizer": "torch:Adam", "lr": PAPER_LR, "steps": steps,
           "wall_seconds": seconds, "rows": [asdict(row) for row in rows]}
    return json.dumps(doc, indent=2) + "\n"


def rows_csv(rows: Sequence[ReproRow]) -> str:
    """The table as CSV: one line per run, with its model's published numbers."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["model", "seed", "accuracy", "seconds", "diverged", "paper",
                     "repo_logged", "mean", "std"])
    for row in rows:
        for r in row.runs:
            writer.writerow([row.model, r.seed, f"{r.accuracy:.4f}", f"{r.seconds:.2f}",
                             r.diverged, row.paper, row.repo_logged, f"{row.mean:.4f}",
                             f"{row.std:.4f}"])
    return out.getvalue()
