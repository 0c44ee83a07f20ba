"""``antigrad.fit``: train a model by full-batch GD (L3) or minibatch SGD (L5), with
schedules (L6), stopping rules (S1–S3), restarts and ensembles (L17), checkpoints and DDP."""

from __future__ import annotations

import contextlib
import copy
import os
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau

from .. import validation
from ..engine import ChainOptimizer
from ..stop import Divergence, MaxEpochs, MaxSteps, StopRule
from .budget import RunRule, end_of_resumed_run
from .callbacks import ProgressBar, as_callbacks
from .checkpoint import Checkpointer, CheckpointError, load_checkpoint
from .data import Data, evaluate
from .ensemble import Ensemble, reset_parameters
from .fingerprint import check_fingerprint, fingerprint
from .fit_config import FitConfig
from .parallel import World
from .result import FitResult
from .run import Run, RunSetup

__all__ = ["fit", "fit_with"]

def _optimizer_factory(model: torch.nn.Module, optimizer: Any, lr: Any
                       ) -> Callable[[float | None], torch.optim.Optimizer]:
    if lr is not None:
        validation.at_least("lr", lr)
    params = lambda: [p for p in model.parameters() if p.requires_grad]  # noqa: E731
    if optimizer is None:
        from ..optim import SGD
        if lr is None:
            raise ValueError("Invalid lr: None (required when optimizer is None: fit then "
                             "uses antigrad.SGD(params, lr=lr))")
        return lambda lr_: SGD(params(), lr=lr if lr_ is None else lr_)
    if isinstance(optimizer, torch.optim.Optimizer):
        if lr is not None:
            raise ValueError(f"Invalid lr: {lr} (the optimizer instance sets its own lr; "
                             "pass optimizer as a class or callable to use lr=)")
        own = {id(p) for p in model.parameters()}
        if any(id(p) not in own for g in optimizer.param_groups for p in g["params"]):
            raise ValueError("Invalid optimizer: it holds parameters that are not the model's")
        return lambda lr_: optimizer
    if callable(optimizer):
        def build(lr_: float | None) -> torch.optim.Optimizer:
            rate = lr if lr_ is None else lr_
            opt = optimizer(params()) if rate is None else optimizer(params(), lr=rate)
            if not isinstance(opt, torch.optim.Optimizer):
                raise TypeError(f"Invalid optimizer: the factory returned "
                                f"{type(opt).__name__} (must be a torch.optim.Optimizer)")
            return opt
        return build
    raise TypeError(f"Invalid optimizer: {optimizer!r} (must be None, a torch.optim.Optimizer "
                    "or a callable params -> Optimizer, such as torch.optim.Adam)")


def _scheduler_factory(schedule: Any, optimizer: Any) -> Callable[[Any], Any]:
    if schedule is None:
        return lambda opt: None
    if isinstance(schedule, (LRScheduler, ReduceLROnPlateau)):
        if not isinstance(optimizer, torch.optim.Optimizer) or schedule.optimizer is not optimizer:
            raise ValueError("Invalid schedule: a scheduler instance must be attached to the "
                             "optimizer instance passed as optimizer=; otherwise pass a "
                             "callable optimizer -> scheduler")
        return lambda opt: schedule
    if callable(schedule):
        def build(opt: torch.optim.Optimizer) -> Any:
            sched = schedule(opt)
            if not isinstance(sched, (LRScheduler, ReduceLROnPlateau)):
                raise TypeError(f"Invalid schedule: the factory returned {type(sched).__name__}"
                                " (must be an LRScheduler or ReduceLROnPlateau)")
            return sched
        return build
    raise TypeError(f"Invalid schedule: {schedule!r} (must be None, an LRScheduler or a "
                    "callable optimizer -> LRScheduler)")


def fit(model: torch.nn.Module, loss_fn: Callable[..., torch.Tensor], train: Any, *,
        optimizer: Any = None, lr: float | None = None, epochs: int | None = None,
        steps: int | None = None, batch_size: int | None = None, drop_last: bool = False,
        schedule: Any = None, schedule_interval: str = "step", stop: StopRule | None = None,
        divergence: float | None = 1e3, val: Any = None, val_batch_size: int | None = None,
        val_every: int | None = None, metrics: Mapping[str, Callable[..., Any]] | None = None,
        monitor: str = "val_loss", mode: str = "min", keep_best: bool = True,
        track: Iterable[str] = (), callbacks: Any = None, progress: bool | None = None,
        checkpoint: str | os.PathLike[str] | None = None, checkpoint_every: int | None = None,
        keep_checkpoints: int = 2, resume: bool | str | os.PathLike[str] = False,
        restarts: int | Sequence[Mapping[str, Any]] = 1, combine: str = "best",
        init: Callable[[torch.nn.Module], None] | None = None, seed: int | None = 0,
        device: str | torch.device | None = None, precision: str | None = None,
        clip_grad_norm: float | None = None, clip_grad_value: float | None = None,
        accumulate: int = 1,
        ) -> FitResult:
    r"""Train ``model`` to minimise ``L(w) = 1/N Σ loss_fn(model(x_n), y_n)``.

    ``batch_size=None`` with tensor data is full-batch gradient descent,
    ``w_{t+1} = w_t − ε ∇L(w_t)`` (one step per epoch); ``batch_size=K`` is minibatch SGD,
    ``w_{t+1} = w_t − ε_t · 1/K Σ_{n∈I_t} ∇ℓ_n``, reshuffled every epoch from a
    ``torch.Generator`` seeded with ``seed``. Training ends at the first step where the rule
    ``Divergence(divergence) | stop | MaxSteps(steps) | MaxEpochs(epochs)`` fires.

    Args:
        model: the ``nn.Module`` to train (in place). Not DDP-wrapped: under ``torchrun``
            fit shards every batch over the ranks and all-reduces the gradients itself.
        loss_fn: ``loss_fn(output, target) -> scalar`` batch mean (``loss_fn(output)``
            for batches of inputs only).
        train: tensor(s) ``(*inputs, target)``, a ``Dataset`` or a ``DataLoader``.
        optimizer: ``None`` (``antigrad.SGD(params, lr=lr)``), an optimizer instance, or a
            callable ``params -> Optimizer`` (a class such as ``torch.optim.Adam`` is
            called with ``lr=lr`` when ``lr`` is given). An antigrad optimizer left at its
            default ``nonfinite`` raises :class:`~antigrad.NonFiniteGradientError` on a
            NaN/inf gradient during the fit (the torch-compatible classes apply such
            gradients elsewhere, as torch); pass ``nonfinite="skip"`` or ``"ignore"`` to it
            to choose otherwise.
        schedule: an LR scheduler on that optimizer instance, or a callable
            ``optimizer -> scheduler`` (needed with restarts of a factory optimizer);
            stepped after every optimizer step (``schedule_interval="step"``) or epoch.
            ``ReduceLROnPlateau`` is stepped with the monitored value at each validation
            (with the epoch's training loss when there is no ``val``).
        stop: a :mod:`antigrad.stop` rule; ``divergence``: the factor k of the default
            ``Divergence(k)`` rule (NaN/inf loss, or loss > k × first loss); None disables.
        val: validation data, evaluated (model in eval mode, no grad) at every epoch end
            or every ``val_every`` steps into ``val_loss`` and ``val_<name>`` for each of
            ``metrics`` (``name -> fn(output, target)``, batch means).
        monitor, mode: the value whose best (``min``/``max``) is tracked (``best_value``,
            ``best_step``; ``best_state`` with ``keep_best``) and that ranks restarts.
        track: extra per-step measurements: ``"grad_norm"``, ``"weight_change"``.
        callbacks: :class:`~antigrad.train.Callback` objects or step functions ``obs -> None``.
        progress: a rich progress bar; ``None`` = only when stderr is a terminal.
        checkpoint: a folder; a checkpoint (model, optimizer, scheduler, stop rules,
            history, RNG states, loop position) is written atomically every
            ``checkpoint_every`` steps (default: every epoch) and at the end, keeping the
            last ``keep_checkpoints``. ``resume=True`` continues from the newest good one
            (bit-identical to an uninterrupted run); ``resume=path`` from that file. A
            checkpoint of another run configuration (model, optimizer hyperparameters,
            schedule, loss, data, seed: see ``docs/training.md``) raises
            :class:`CheckpointError` naming what differs; the budget (``epochs``,
            ``steps``) may grow: a finished run continues to it.
        restarts: K runs (run 0 from the model's weights, run k from ``init(model)`` under
            ``torch.manual_seed(seed + k)``; default ``init`` calls every module's
            ``reset_parameters``), or a list of per-run overrides (``lr``, ``optimizer``,
            ``schedule``, ``seed``). ``combine="best"`` keeps the run with the best
            ``monitor`` (on ``val``, else on the training data, at each run's final
            weights); ``"ensemble"`` returns the :class:`Ensemble` of all runs as
            ``result.model``. Either way ``model`` ends with the best run's weights.
        seed: seeds the shuffling and, inside ``torch.random.fork_rng`` (the caller's RNG
            is left untouched), torch's global RNG; ``None`` for no seeding.
        device: moves the model there first (``model.to(device)``); every batch is moved
            to the model's device. ``None``: where the model is.
        precision: ``"bf16"`` (``torch.autocast`` in bfloat16), ``"fp16"`` (float16
            autocast with a ``torch.amp.GradScaler``) or ``None`` (as the model is).
        clip_grad_norm, clip_grad_value: clip the gradients before each step with
            ``torch.nn.utils.clip_grad_norm_`` / ``clip_grad_value_``; the history then
            has ``grad_norm_clipped`` (after) beside ``grad_norm`` (before clipping).
        accumulate: k micro-batches per optimizer step, each back-propagated with its
            share of the examples, so a step's gradient is that of their mean loss (as one
            batch k times larger); ``steps`` count optimizer steps.

    Returns:
        :class:`~antigrad.train.FitResult`: ``history`` (per step, epoch, validation),
        ``stopped_by`` / ``stop_reason`` / ``stopped_at``, ``best_*``; with restarts
        ``runs``, ``best_run``, ``ensemble_score``, ``mean_run_score``.

    Example::

        >>> import torch, antigrad
        >>> x = torch.randn(64, 3, generator=torch.Generator().manual_seed(0))
        >>> y = x @ torch.tensor([[1.0], [-2.0], [0.5]])
        >>> r = antigrad.fit(torch.nn.Linear(3, 1), torch.nn.functional.mse_loss, (x, y),
        ...                  lr=0.3, steps=500, stop=antigrad.stop.LossChange(1e-12),
        ...                  progress=False)
        >>> r.final_loss < 1e-9, r.stopped_by
        (True, 'LossChange(tol=1e-12)')
    """
    _check_model(model, loss_fn)
    config = FitConfig(
        optimizer=optimizer, lr=lr, epochs=epochs, steps=steps, batch_size=batch_size,
        drop_last=drop_last, schedule=schedule, schedule_interval=schedule_interval,
        stop=stop, divergence=divergence, val=val, val_batch_size=val_batch_size,
        val_every=val_every, metrics=metrics, monitor=monitor, mode=mode,
        keep_best=keep_best, track=track, callbacks=callbacks, progress=progress,
        checkpoint=checkpoint, checkpoint_every=checkpoint_every,
        keep_checkpoints=keep_checkpoints, resume=resume, restarts=restarts, combine=combine,
        init=init, seed=seed, device=device, precision=precision,
        clip_grad_norm=clip_grad_norm, clip_grad_value=clip_grad_value, accumulate=accumulate)
    return fit_with(model, loss_fn, train, config)


def fit_with(model: torch.nn.Module, loss_fn: Callable[..., torch.Tensor], train: Any,
             config: FitConfig) -> FitResult:
    """:func:`fit` with its options given as one :class:`FitConfig`."""
    _check_model(model, loss_fn)
    plan = _Plan.prepare(model, loss_fn, train, config)
    results, states = [], []
    for k, overrides in enumerate(config.runs):
        results.append(_restart(plan, k, overrides))
        states.append({k_: v.detach().clone() for k_, v in model.state_dict().items()})
    if len(results) == 1:
        return results[0]
    return _combine(model, loss_fn, results, states, plan.val or plan.data, config.metrics,
                    config.monitor, config.mode, config.combine, plan.world)


def _check_model(model: Any, loss_fn: Any) -> None:
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"Invalid model: {type(model).__name__} (must be a torch.nn.Module)")
    if isinstance(model, torch.nn.parallel.DistributedDataParallel):
        raise TypeError("Invalid model: DistributedDataParallel (pass the plain module; fit "
                        "shards batches and all-reduces gradients itself)")
    if not any(p.requires_grad for p in model.parameters()):
        raise ValueError("Invalid model: it has no trainable parameters")
    if not callable(loss_fn):
        raise TypeError(f"Invalid loss_fn: {loss_fn!r} (must be callable)")


@dataclass
class _Plan:
    """What every run of one fit shares: the data, the rule, the optimizer and scheduler
    factories, the callbacks, one checkpointer per run, and the optimizer's and
    scheduler's starting states (restored for every restart of an instance)."""

    model: torch.nn.Module
    loss_fn: Callable[..., torch.Tensor]
    config: FitConfig
    data: Data
    val: Data | None
    rule: RunRule
    world: World
    make_opt: Callable[[float | None], torch.optim.Optimizer]
    make_sched: Callable[[Any], Any]
    callbacks: list[Any]
    checkpointers: list[Checkpointer | None]
    opt_start: dict[str, Any] | None
    sched_start: dict[str, Any] | None

    @classmethod
    def prepare(cls, model: torch.nn.Module, loss_fn: Callable[..., torch.Tensor], train: Any,
                c: FitConfig) -> _Plan:
        data = Data(train, c.batch_size, c.drop_last, "train")
        _place(model, c.device)
        val = None if c.val is None else Data(c.val, c.val_batch_size, False, "val")
        world = World()
        make_opt = _optimizer_factory(model, c.optimizer, c.lr)
        make_sched = _scheduler_factory(c.schedule, c.optimizer)
        instance = isinstance(c.optimizer, torch.optim.Optimizer)
        return cls(
            model=model, loss_fn=loss_fn, config=c, data=data, val=val, rule=_rule(c),
            world=world, make_opt=make_opt, make_sched=make_sched,
            callbacks=_callbacks(c, data, world),
            checkpointers=_checkpointers(c.checkpoint, len(c.runs), c.keep_checkpoints, world),
            opt_start=copy.deepcopy(c.optimizer.state_dict()) if instance else None,
            sched_start=copy.deepcopy(c.schedule.state_dict())
            if isinstance(c.schedule, (LRScheduler, ReduceLROnPlateau)) else None)

    def optimizer(self, k: int, overrides: Mapping[str, Any]) -> torch.optim.Optimizer:
        """Run k's optimizer: its override or fit's, at its lr; a restarted instance from
        its starting state."""
        if "optimizer" in overrides:
            opt = _optimizer_factory(self.model, overrides["optimizer"],
                                     self.config.lr)(overrides.get("lr"))
        else:
            opt = self.make_opt(overrides.get("lr"))
        _raise_on_nonfinite(opt)
        if self.opt_start is not None and k > 0:
            opt.load_state_dict(self.opt_start)
        return opt

    def scheduler(self, k: int, overrides: Mapping[str, Any], opt: torch.optim.Optimizer
                  ) -> Any:
        sched = (_scheduler_factory(overrides["schedule"], opt)(opt) if "schedule" in overrides
                 else self.make_sched(opt))
        if self.sched_start is not None and k > 0:
            sched.load_state_dict(copy.deepcopy(self.sched_start))
        return sched


def _rule(c: FitConfig) -> RunRule:
    """``Divergence(divergence) | stop`` (kept on resume) and the budget rules."""
    fixed: list[StopRule] = [] if c.divergence is None else [Divergence(c.divergence)]
    fixed += [] if c.stop is None else [c.stop]
    return RunRule(fixed, [r for r in (c.steps and MaxSteps(c.steps),
                                       c.epochs and MaxEpochs(c.epochs)) if r])


def _callbacks(c: FitConfig, data: Data, world: World) -> list[Any]:
    """The user's callbacks, and a progress bar when wanted (on the main rank)."""
    callbacks = as_callbacks(c.callbacks)
    if world.main and ProgressBar.wanted(c.progress):
        per_epoch = data.batches_per_epoch()
        total = c.steps or (c.epochs * -(-per_epoch // c.accumulate)
                            if c.epochs and per_epoch else None)
        callbacks = [*callbacks, ProgressBar(total)]
    return callbacks


def _restart(plan: _Plan, k: int, overrides: Mapping[str, Any]) -> FitResult:
    """Run k, from its own seed (inside ``fork_rng``: the caller's RNG is untouched) and,
    after the first, from ``init(model)``."""
    c, seed = plan.config, overrides["seed"]
    fork = torch.random.fork_rng(devices=range(torch.cuda.device_count())) \
        if seed is not None else contextlib.nullcontext()
    with fork:
        if seed is not None:
            torch.manual_seed(seed)
        if k > 0:
            (c.init or reset_parameters)(plan.model)
        opt = plan.optimizer(k, overrides)
        sched = plan.scheduler(k, overrides, opt)
        plan.rule.reset()
        needs = frozenset().union(*(cb.needs for cb in plan.callbacks))
        setup = RunSetup(
            model=plan.model, loss_fn=plan.loss_fn, data=plan.data, optimizer=opt,
            scheduler=sched, schedule_interval=c.schedule_interval, rule=plan.rule,
            val=plan.val, val_every=c.val_every, metrics=c.metrics, monitor=c.monitor,
            mode=c.mode, keep_best=c.keep_best, callbacks=plan.callbacks,
            checkpointer=plan.checkpointers[k], checkpoint_every=c.checkpoint_every,
            track=c.track | plan.rule.needs | needs, seed=seed,
            skip_nonfinite=_has_divergence(plan.rule), index=k, world=plan.world,
            precision=c.precision_policy, accumulate=c.accumulate, clipping=c.clipping)
        return _one_run(setup, c.resume)


def _place(model: torch.nn.Module, device: Any) -> None:
    if device is None:
        return
    if not isinstance(device, (str, torch.device)):
        raise TypeError(f"Invalid device: {device!r} (must be a str, a torch.device or None)")
    try:
        device = torch.device(device)
    except RuntimeError as e:
        raise ValueError(f"Invalid device: {device!r} ({e})") from None
    model.to(device)


def _raise_on_nonfinite(opt: torch.optim.Optimizer) -> None:
    """fit refuses NaN/inf gradients: an antigrad optimizer whose ``nonfinite`` was not
    chosen (the torch-compatible classes default to torch's "ignore") raises instead."""
    if isinstance(opt, ChainOptimizer) and not opt.nonfinite_chosen:
        opt.nonfinite = "raise"


def _has_divergence(rule: StopRule) -> bool:
    if isinstance(rule, Divergence):
        return True
    return any(_has_divergence(r) for r in getattr(rule, "rules", ()))


def _checkpointers(checkpoint: Any, n_runs: int, keep: int, world: World
                   ) -> list[Checkpointer | None]:
    """One checkpointer per run (``dir/run-k`` with restarts), each folder checked to be
    writable (and cleared of stale temporary files) before any training."""
    if checkpoint is None:
        return [None] * n_runs
    root = Path(checkpoint)
    out = [Checkpointer(root / f"run-{k}" if n_runs > 1 else root, keep)
           for k in range(n_runs)]
    if world.main:
        for ck in out:
            ck.prepare()
    return out


def _one_run(setup: RunSetup, resume: Any) -> FitResult:
    """Train run ``setup``: from scratch, or from its checkpoint (to its current budget)."""
    setup.fingerprint = fingerprint(setup)
    payload = _resume_payload(setup, resume)
    if payload is None:
        return Run(setup).run()
    done = end_of_resumed_run(payload, setup.rule)
    if done is not None:
        return Run.finished_result(setup, payload, done)
    run = Run(setup)
    run.restore(payload)
    return run.run()


def _resume_payload(setup: RunSetup, resume: Any) -> dict[str, Any] | None:
    if not resume:
        return None
    explicit = isinstance(resume, (str, os.PathLike))
    if explicit:
        source, payload = resume, load_checkpoint(resume)
    else:
        latest = setup.checkpointer.latest() if setup.checkpointer else None
        if latest is None:
            return None
        source, payload = setup.checkpointer.path(latest[0]), latest[1]
    if payload.get("format") != 1 or payload.get("run") != setup.index:
        raise CheckpointError(f"Invalid checkpoint for run {setup.index}: format "
                              f"{payload.get('format')!r}, run {payload.get('run')!r}")
    check_fingerprint(payload, setup.fingerprint or {}, source, explicit)
    return payload


def _combine(model: torch.nn.Module, loss_fn: Callable[..., torch.Tensor],
             results: list[FitResult], states: list[dict[str, torch.Tensor]], data: Data,
             metrics: dict[str, Callable[..., Any]], monitor: str, mode: str, combine: str,
             world: World) -> FitResult:
    key = monitor.removeprefix("val_")
    device = next(iter(model.parameters())).device
    for result, state in zip(results, states, strict=True):
        model.load_state_dict(state)
        result.score = evaluate(model, loss_fn, data, metrics, device, world)[key]
    scores = [r.score for r in results]
    pick = min if mode == "min" else max
    best = scores.index(pick(scores))
    model.load_state_dict(states[best])
    top = copy.copy(results[best])
    top.runs, top.best_run, top.mean_run_score = results, best, statistics.fmean(scores)
    if combine == "ensemble":
        members = []
        for state in states:
            member = copy.deepcopy(model)
            member.load_state_dict(state)
            members.append(member)
        top.model = Ensemble(members)
        top.ensemble_score = evaluate(top.model, loss_fn, data, metrics, device, world)[key]
    return top
