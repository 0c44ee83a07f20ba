"""The tuning protocol of ``antigrad compare --budget N``: search, select on validation, test.

For each optimizer:

1. **Search.** ``N`` trials of Optuna's TPE sampler over the declared search space
   (:mod:`~antigrad.lab.search_space`, ``config.search``): the lr, log-uniform over
   :data:`LR_DECADES` decades either side of the optimizer's default lr, and where asked
   and the optimizer has them the weight decay, β1 / momentum and the schedule. Each trial
   trains with the first seed on the training data *minus* a validation split
   (:func:`validation_problem`) and is scored by the problem's metric on that split; a
   diverged trial fails (it is never chosen).
2. **Select** the trial with the best validation metric. The test set is not looked at.
3. **Test.** Run every seed at the chosen configuration on the whole training set,
   evaluated on test. With ``config.ensemble = K > 1`` each seed is a group of ``K`` runs
   (the seed and ``K - 1`` seeds derived from it, :func:`member_seeds`), and the group is
   also scored as one :class:`~antigrad.train.Ensemble` (the mean of the members'
   outputs, L17): a run of phase ``ensemble`` holding its test metric. With
   ``config.restarts = K > 1`` (the same groups) each group is also scored as restarts
   that keep the best (``fit(..., combine="best")``): the test metric of the member with
   the lowest final training loss (:func:`best_members`; the test set is not looked at to
   choose). Without ``ensemble`` the group's ensemble is still scored and saved (it marks
   the group done), but not reported.

Every trial is saved in the comparison's store as it finishes (a ``tune`` run whose metric
is the validation metric, its drawn hyperparameters in ``params``), and the store is the
study's memory: a resumed comparison (:func:`run_tuned` given a comparison that holds
runs) replays the saved trials into the study and goes on from there. The sampler is
seeded from the optimizer's name and the trial number, so a comparison makes the same
trials whether it ran at once or was interrupted and resumed. The trials run in rounds
(trial ``k`` of every optimizer together), then the seeds of all optimizers together,
each as batched replicas where possible (:func:`~antigrad.lab.batching.run_many`);
ensemble groups train one run after another (their trained models are needed). An
ensemble interrupted before all its members finished retrains them on resume (a run is
deterministic given its seed; members already saved are not saved again).

The report side: :func:`best_so_far` (best validation metric after each trial: how the
ranking depends on the budget) and :func:`noise_verdicts` (whether neighbours in the
ranking differ by more than the seed noise); :func:`tuning_text` writes both as text, with
each optimizer's search space, its chosen configuration and its ensembles.

Optuna is imported only when a comparison is tuned (``pip install antigrad[lab]``).
"""

from __future__ import annotations

import math
import statistics
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import torch

from ..problems.base import Task, TrainingProblem
from ..problems.registry import get_training_problem
from ..train.ensemble import Ensemble
from .batching import run_many
from .compare import Comparison, Progress, Recorder, count_runs
from .optimizers import OptimizerSpec, get_optimizer
from .runner import RunRequest, RunResult, train_run
from .search_space import (
    LR_DECADES,
    configured,
    distributions,
    hyperparameters,
    space_text,
    suggest,
)

__all__ = ["LR_DECADES", "VALIDATION_FRACTION", "validation_problem", "search_space",
           "member_seeds", "run_tuned", "trial_request", "draw_trial", "run_trial", "chosen",
           "chosen_lr", "final_spec", "run_group", "best_members", "best_so_far",
           "noise_verdicts", "tuning_text"]

#: Seeds of an ensemble's members: the group's seed, then ``seed + k * MEMBER_SEED_STEP``.
MEMBER_SEED_STEP = 1_000_003

#: The share of the training rows held out for selection.
VALIDATION_FRACTION = 0.2

#: The split's permutation is drawn from this seed: the same rows for every optimizer,
#: seed and trial (it does not depend on the run's seed).
SPLIT_SEED = 20_240_601


def _split(task: Task, fraction: float) -> Task:
    """``task`` with its training rows split: a fixed random ``fraction`` of them become
    the evaluation set (in place of the test set), the rest the training set."""
    n = len(task.x_train)
    held = int(round(n * fraction))
    if not 1 <= held < n:
        raise ValueError(f"Invalid training set: {n} rows cannot give a validation split "
                         f"of {fraction:g} (need at least one row on each side)")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(SPLIT_SEED))
    val, train = order[:held], order[held:]
    return replace(task, x_train=task.x_train[train], y_train=task.y_train[train],
                   x_test=task.x_train[val], y_test=task.y_train[val])


def validation_problem(problem: TrainingProblem,
                       fraction: float = VALIDATION_FRACTION) -> TrainingProblem:
    """``problem`` with its test set replaced by a validation split of its training data
    (the same rows for every seed); its metric is named ``validation ...``."""
    if isinstance(fraction, bool) or not isinstance(fraction, int | float) or not (
            0 < fraction < 1):
        raise ValueError(f"Invalid fraction: {fraction!r} (must be a number in (0, 1))")
    build = problem.build
    metric = problem.metric.replace("test ", "")
    return replace(problem, build=lambda seed: _split(build(seed), fraction),
                   metric=f"validation {metric}")


def search_space(spec: OptimizerSpec, search: list[str] | None = None) -> dict[str, Any]:
    """Optuna distributions of the hyperparameters ``spec``'s trials may draw (``search``:
    the searched names, default the lr alone)."""
    return distributions(spec, search or ["lr"])


def member_seeds(seed: int, members: int) -> list[int]:
    """The seeds of a group of ``members`` runs: ``seed`` first (so a group of one is the
    seed's run), then seeds derived from it."""
    return [(seed + k * MEMBER_SEED_STEP) % 2**31 for k in range(members)]


def _sampler_seed(name: str, trial: int) -> int:
    """A seed for trial number ``trial`` of optimizer ``name``: fixed by both, so a resumed
    study draws what an uninterrupted one would have drawn."""
    return (zlib.crc32(name.encode()) + 7919 * trial) % 2**31


def _study(cmp: Comparison, name: str, space: dict[str, Any]) -> Any:
    """An in-memory study holding ``name``'s trials saved so far (from ``cmp.runs``)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize" if cmp.higher_is_better else "minimize")
    for run in _trials(cmp, name):
        failed = run.diverged or not math.isfinite(run.final_metric)
        params = {"lr": run.lr, **run.params}
        study.add_trial(optuna.trial.create_trial(
            params=params, distributions={k: space[k] for k in params},
            value=None if failed else run.final_metric,
            state=optuna.trial.TrialState.FAIL if failed else optuna.trial.TrialState.COMPLETE))
    return study


def _trials(cmp: Comparison, name: str) -> list[RunResult]:
    return [r for r in cmp.runs if r.optimizer == name and r.phase == "tune"]


def run_tuned(cmp: Comparison, progress: Progress | None = None,
              recorder: Recorder | None = None, *, replicas: bool = True) -> Comparison:
    """Run (or go on with) the budgeted comparison ``cmp``; see the module doc.

    ``cmp`` is fresh (:func:`~antigrad.lab.compare.new_comparison`) or an interrupted one
    read back from a store: trials and seeds it already holds are not run again. The
    trials run in rounds, trial ``k`` of every optimizer together, then the seeds of all
    optimizers together; with ``replicas`` each as batched models where possible
    (:func:`~antigrad.lab.batching.run_many`).
    """
    config = cmp.config
    if config.budget is None:
        raise ValueError("Invalid comparison: it has no tuning budget (use run_compare)")
    if cmp.complete:
        raise ValueError(f"Invalid comparison: comparison {cmp.id} is complete "
                         "(nothing to resume)")
    config.validate()
    problem = get_training_problem(config.problem)
    held_out = validation_problem(problem)
    start, before = time.perf_counter(), cmp.seconds
    total, done = count_runs(config), len([r for r in cmp.runs if r.phase != "ensemble"])

    def finished(label: str, run: RunResult) -> None:
        nonlocal done
        cmp.seconds = before + time.perf_counter() - start
        cmp.runs.append(run)
        if recorder is not None:
            recorder.add_run(run)
        done += 1
        if progress is not None:
            progress(label, done, total)

    _tune_all(cmp, held_out, finished, replicas)
    _test_all(cmp, problem, finished, recorder, replicas)
    cmp.seconds = before + time.perf_counter() - start
    cmp.complete = True
    if recorder is not None:
        recorder.finish()
    return cmp


def _common(cmp: Comparison) -> dict[str, int | None]:
    c = cmp.config
    return dict(steps=c.steps, batch_size=c.batch_size, eval_every=c.eval_every)


def _tune_all(cmp: Comparison, held_out: TrainingProblem,
              finished: Callable[[str, RunResult], None], replicas: bool) -> None:
    """The missing trials in rounds: trial ``k`` of every optimizer that lacks it, trained
    together. An optimizer's trial ``k`` depends only on its own trials before it, so the
    rounds draw the trials a search of one optimizer at a time draws."""
    budget = cmp.config.budget
    for number in range(budget):
        names = [n for n in cmp.config.optimizers if len(_trials(cmp, n)) == number]
        if names:
            drawn = [draw_trial(cmp, n, number) for n in names]
            run_many(held_out, [q for q, _ in drawn], **_common(cmp), replicas=replicas,
                     train_alone=train_run, on_result=_saving(finished, [
                         f"{n} trial {number + 1}/{budget}" for n in names],
                         [params for _, params in drawn]))


def _saving(finished: Callable[[str, RunResult], None], labels: list[str],
            params: list[dict[str, Any]]) -> Callable[[int, RunResult], None]:
    """``run_many``'s ``on_result``: request ``i``'s run, with its drawn hyperparameters
    ``params[i]``, saved under ``labels[i]``."""
    def save(i: int, run: RunResult) -> None:
        run.params = dict(params[i])
        finished(labels[i], run)
    return save


def draw_trial(cmp: Comparison, name: str, number: int
               ) -> tuple[RunRequest, dict[str, Any]]:
    """Trial ``number`` of ``name`` (see :func:`trial_request`) and its drawn
    hyperparameters besides the lr (to save with its run)."""
    import optuna

    spec, first, search = get_optimizer(name), cmp.config.seed_list()[0], cmp.config.search
    study = _study(cmp, name, search_space(spec, search))
    if len(study.trials) != number:
        raise ValueError(f"Invalid trial number: {number} ({name} holds "
                         f"{len(study.trials)} trials; trials run in order)")
    study.sampler = optuna.samplers.TPESampler(seed=_sampler_seed(name, number))
    params = suggest(study.ask(), spec, search)
    lr = params.pop("lr")
    return RunRequest(configured(spec, params), lr, first, "tune"), params


def trial_request(cmp: Comparison, name: str, number: int) -> RunRequest:
    """Trial ``number`` of optimizer ``name`` as a run to train: the study is rebuilt from
    the trials ``cmp`` holds (exactly ``number`` of them), the sampler seeded by the name
    and the number draws the lr and the rest of the search space (the request's spec has
    them set), to train with the first seed. The same trial whichever process asks, and
    whenever."""
    return draw_trial(cmp, name, number)[0]


def run_trial(cmp: Comparison, name: str, number: int,
              held_out: TrainingProblem | None = None) -> RunResult:
    """Trial ``number`` of optimizer ``name`` (:func:`trial_request`) trained on
    ``held_out`` (the problem's :func:`validation_problem`); its drawn hyperparameters in
    the run's ``params``."""
    q, params = draw_trial(cmp, name, number)
    if held_out is None:
        held_out = validation_problem(get_training_problem(cmp.config.problem))
    run = train_run(held_out, q.spec, q.lr, q.seed, phase=q.phase, **_common(cmp))
    run.params = params
    return run


def chosen(cmp: Comparison, name: str) -> tuple[float, dict[str, Any]]:
    """The lr and drawn hyperparameters of ``name``'s best trial by validation metric
    (ties: the earliest); the optimizer's default lr (and its own settings) if every
    trial diverged."""
    ok = [r for r in _trials(cmp, name) if not r.diverged and math.isfinite(r.final_metric)]
    if not ok:
        return get_optimizer(name).default_lr, {}
    sign = -1.0 if cmp.higher_is_better else 1.0
    best = min(ok, key=lambda r: sign * r.final_metric)
    return best.lr, dict(best.params)


def chosen_lr(cmp: Comparison, name: str) -> float:
    """The lr of ``name``'s best trial (see :func:`chosen`)."""
    return chosen(cmp, name)[0]


def final_spec(cmp: Comparison, name: str) -> OptimizerSpec:
    """``name``'s optimizer at its chosen hyperparameters (the lr aside): what its seeds
    train with."""
    return configured(get_optimizer(name), chosen(cmp, name)[1])


def _test_all(cmp: Comparison, problem: TrainingProblem,
              finished: Callable[[str, RunResult], None], recorder: Recorder | None,
              replicas: bool) -> None:
    """Every optimizer's seeds not yet run at its chosen configuration, on the whole
    training set, tested: all trained together; with ensembles, each seed's group (its
    members one after another, then their ensemble scored and saved)."""
    labels, requests, params = [], [], []
    for name in cmp.config.optimizers:
        lr, drawn = chosen(cmp, name)
        if cmp.chosen_lr.get(name) != lr:
            cmp.chosen_lr[name] = lr
            if recorder is not None:
                recorder.choose(name, None)
        if cmp.config.group_size() > 1:
            _groups(cmp, name, problem, finished, recorder)
            continue
        spec = configured(get_optimizer(name), drawn)
        have = {r.seed for r in cmp.final_runs(name)}
        for seed in cmp.config.seed_list():
            if seed not in have:
                labels.append(f"{name} seed {seed}")
                requests.append(RunRequest(spec, lr, seed))
                params.append(drawn)
    if requests:
        run_many(problem, requests, **_common(cmp), replicas=replicas, train_alone=train_run,
                 on_result=_saving(finished, labels, params))


def _groups(cmp: Comparison, name: str, problem: TrainingProblem,
            finished: Callable[[str, RunResult], None], recorder: Recorder | None) -> None:
    """``name``'s ensemble groups not yet scored: members saved as they finish (through
    ``finished``), each ensemble saved beside them (no training run of its own)."""
    for seed in cmp.config.seed_list():
        if seed in {r.seed for r in cmp.ensemble_runs(name)}:
            continue
        for run in run_group(cmp, name, seed, problem):
            if run.phase == "ensemble":
                cmp.runs.append(run)
                if recorder is not None:
                    recorder.add_run(run)
            else:
                finished(f"{name} seed {run.seed}", run)


def run_group(cmp: Comparison, name: str, seed: int,
              problem: TrainingProblem | None = None) -> Iterator[RunResult]:
    """Seed ``seed``'s ensemble group at ``name``'s chosen configuration, as it finishes:
    each member's run (phase ``final``) unless ``cmp`` already holds it (a member of an
    interrupted group is retrained, not saved twice), then the ensemble of all members
    (phase ``ensemble``): :class:`~antigrad.train.Ensemble`'s metric on the test set."""
    problem = problem or get_training_problem(cmp.config.problem)
    lr, params = chosen(cmp, name)
    spec = configured(get_optimizer(name), params)
    saved = {r.seed for r in cmp.final_runs(name)}
    tasks: list[Task] = []
    runs = []
    for member in member_seeds(seed, cmp.config.group_size()):
        run = train_run(problem, spec, lr, member, on_done=tasks.append, **_common(cmp))
        run.params = dict(params)
        runs.append(run)
        if member not in saved:
            yield run
    yield _ensemble_result(problem, tasks, runs, seed)


def _ensemble_result(problem: TrainingProblem, tasks: list[Task], runs: list[RunResult],
                     seed: int) -> RunResult:
    """The ensemble of ``tasks``' trained models (:class:`~antigrad.train.Ensemble`: the
    mean of their outputs) as a run of phase ``ensemble``: its test metric, no curve;
    diverged (no metric) if a member diverged."""
    first = runs[0]
    diverged = any(r.diverged for r in runs)
    metric = math.nan
    if not diverged:
        model = Ensemble([t.model for t in tasks])
        model.eval()
        with torch.no_grad():
            metric = float(tasks[0].metric(model, tasks[0].x_test, tasks[0].y_test))
    seconds = sum(r.seconds for r in runs)
    result = RunResult(first.optimizer, first.lr, seed, first.steps, diverged, math.nan,
                       metric, seconds, evals=[(first.steps, seconds, metric)],
                       phase="ensemble", params=dict(first.params))
    result.steps_to_target = first.steps if problem.reached(metric) else None
    return result


def best_members(cmp: Comparison, name: str) -> list[RunResult]:
    """Per scored seed group of ``name`` (in order): the member with the lowest final
    training loss (:meth:`~antigrad.lab.runner.RunResult.tail_loss`, the mean minibatch
    loss over the last 10% of steps; a diverged member's is ``inf``): restarts that keep
    the best, chosen without looking at the test set. Its ``final_metric`` is the group's
    score."""
    by_seed = {r.seed: r for r in cmp.final_runs(name)}
    best = []
    for group in cmp.ensemble_runs(name):
        members = [by_seed[s] for s in member_seeds(group.seed, cmp.config.group_size())
                   if s in by_seed]
        if members:
            best.append(min(members, key=lambda r: r.tail_loss()))
    return best


# -- reporting -----------------------------------------------------------------------------

def best_so_far(cmp: Comparison, name: str) -> list[float]:
    """The best validation metric among ``name``'s first ``k`` trials, for ``k = 1..``
    (``nan`` while every trial so far diverged)."""
    pick = max if cmp.higher_is_better else min
    out, best = [], math.nan
    for run in _trials(cmp, name):
        value = math.nan if run.diverged else run.final_metric
        if math.isfinite(value):
            best = value if math.isnan(best) else pick(best, value)
        out.append(best)
    return out


def _checkpoints(budget: int) -> list[int]:
    """Trial counts to report: 1, 2, 5, 10, 20, 50, ... below the budget, and the budget."""
    points, k = [], 0
    while True:
        value = (1, 2, 5)[k % 3] * 10 ** (k // 3)
        if value >= budget:
            return [*points, budget]
        points.append(value)
        k += 1


def _ranking_text(order: list[tuple[str, float]]) -> str:
    """``a > b = c``: names best first, ``=`` between equal values (a tie is no ranking)."""
    text = ""
    for i, (name, value) in enumerate(order):
        if i:
            text += " = " if value == order[i - 1][1] else " > "
        text += name
    return text


def noise_verdicts(cmp: Comparison) -> list[str]:
    """For each pair of neighbours in the ranking: whether the better one's lead exceeds
    the seed noise (their mean ± std intervals are apart) or is within noise."""
    ranked = [s for s in cmp.ranking() if not math.isnan(s.metric_mean)]
    lines = []
    for a, b in zip(ranked, ranked[1:], strict=False):
        gap = abs(a.metric_mean - b.metric_mean)
        pair = (f"{a.optimizer} {a.metric_mean:.4f} ± {a.metric_std:.4f} vs {b.optimizer} "
                f"{b.metric_mean:.4f} ± {b.metric_std:.4f}")
        if min(a.runs - a.diverged, b.runs - b.diverged) < 2:
            verdict = "noise unknown (fewer than 2 seeds)"
        elif gap <= a.metric_std + b.metric_std:
            verdict = "within noise"
        else:
            verdict = "apart (beyond seed noise)"
        lines.append(f"{pair}: {verdict}")
    return lines


def tuning_text(cmp: Comparison) -> str:
    """Best-so-far validation metric vs trials (with the ranking at each trial count) and
    the noise verdicts; empty for a comparison without a tuning budget."""
    budget = cmp.config.budget
    if budget is None:
        return ""
    names = cmp.config.optimizers
    curves = {n: best_so_far(cmp, n) for n in names}
    points = _checkpoints(budget)
    width = max(len("optimizer"), *map(len, names))
    lines = [f"\nbest validation metric after k trials (of {budget}; seed "
             f"{cmp.config.seed_list()[0]}, {VALIDATION_FRACTION:.0%} of the training rows "
             "held out)",
             "optimizer".ljust(width) + "".join(f"  k={k:<8}" for k in points)]
    for n in names:
        cells = [curves[n][k - 1] if k <= len(curves[n]) else math.nan for k in points]
        lines.append(n.ljust(width) + "".join(f"  {v:<10.4f}" for v in cells))
    sign = -1.0 if cmp.higher_is_better else 1.0
    for k in points:
        have = [(n, curves[n][k - 1]) for n in names
                if k <= len(curves[n]) and math.isfinite(curves[n][k - 1])]
        order = sorted(have, key=lambda item: sign * item[1])
        lines.append(f"ranking after {k} trial(s): " + (_ranking_text(order) or "—"))
    lines += ["", "test metric at the chosen lr, neighbours in the ranking "
              "(mean ± std over seeds):", *noise_verdicts(cmp)]
    return "\n".join([*_space_lines(cmp), *lines, *ensemble_lines(cmp)]) + "\n"


def chosen_text(cmp: Comparison, name: str) -> str:
    """``name``'s chosen configuration: ``lr=0.003, weight_decay=1e-05, beta1=0.93,
    schedule=cosine``."""
    lr, params = chosen(cmp, name)
    parts = [f"lr={lr:.3g}"]
    for key, value in hyperparameters(params).items():
        parts.append(f"{key}={value:.3g}" if isinstance(value, float) else f"{key}={value}")
    return ", ".join(parts)


def _space_lines(cmp: Comparison) -> list[str]:
    """Each optimizer's search space and its chosen configuration."""
    lines = [f"\nsearch space ({', '.join(cmp.config.search)}) and the chosen configuration:"]
    for name in cmp.config.optimizers:
        lines += [f"  {name}: {space_text(get_optimizer(name), cmp.config.search)}",
                  f"  {' ' * len(name)}  chosen: {chosen_text(cmp, name)}"]
    return lines


def _mean_std(values: list[float]) -> str:
    if not values:
        return "—"
    std = statistics.stdev(values) if len(values) > 1 else math.nan
    return f"{statistics.fmean(values):.4f} ± {std:.4f}"


def ensemble_lines(cmp: Comparison) -> list[str]:
    """Per optimizer: the single models' test metric (mean ± std over every final run)
    beside the ensembles' and the best-of-K restarts' (mean ± std over seed groups), each
    where asked; empty without groups."""
    members, c = cmp.config.group_size(), cmp.config
    if members == 1:
        return []
    scored = [what for what, asked in (
        (f"ensembles of {members} (the mean of the members' outputs)", c.ensemble > 1),
        (f"best of {members} restarts (the member with the lowest final training loss)",
         c.restarts > 1)) if asked]
    lines = ["", f"{' and '.join(scored)} vs single models, test metric (mean ± std):"]
    for name in c.optimizers:
        single = [r.final_metric for r in cmp.final_runs(name) if not r.diverged]
        line = f"  {name}: single models {_mean_std(single)} over {len(single)} run(s)"
        if c.ensemble > 1:
            groups = [r.final_metric for r in cmp.ensemble_runs(name) if not r.diverged]
            line += f"; ensembles {_mean_std(groups)} over {len(groups)} group(s)"
        if c.restarts > 1:
            best = [r.final_metric for r in best_members(cmp, name) if not r.diverged]
            line += f"; best of {members} {_mean_std(best)} over {len(best)} group(s)"
        lines.append(line)
    return lines
