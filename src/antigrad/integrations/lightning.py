r"""The lecture's training tools as PyTorch Lightning callbacks (``antigrad[lightning]``).

=======================  ============================================================
:class:`Stop`            an :mod:`antigrad.stop` rule (``|``/``&`` combinations too) sets
                         ``trainer.should_stop`` at the step where it fires in ``fit``
:class:`RobbinsMonro`    the Robbins–Monro verdict of every lr scheduler, before training
:class:`FindLR`          :func:`antigrad.find_lr` on the training data, then sets the lr
:class:`FindBatchSize`   :func:`antigrad.find_batch_size`, then sets ``batch_size``
:func:`fit_restarts`     restarts (L17): K Trainers from fresh weights, best-of or ensemble
=======================  ============================================================

The rules, verdicts and probes are antigrad's own objects; these classes only feed them
from Lightning's hooks. A step's loss is what ``training_step`` returned (the loss of the
batch at the weights before the step), its lr the first param group's at the optimizer
step; validation results are the ``callback_metrics`` whose names start with ``val``
(log ``val_loss`` for :class:`~antigrad.stop.Patience`). Lightning itself is imported
only by this module.
"""

from __future__ import annotations

import contextlib
import copy
import math
import statistics
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.utilities.parsing import lightning_hasattr, lightning_setattr

from ..schedules import Verdict
from ..stop import Observation, StopRule
from ..train.batch_size import BatchSizeResult, find_batch_size
from ..train.ensemble import Ensemble, reset_parameters
from ..train.lr_finder import LRFinderResult, find_lr
from ._common import StepAsModel, batch_len, loss_value, report_verdicts
from ._watch import RuleWatch, WatchedRule

__all__ = ["Stop", "RobbinsMonro", "FindLR", "FindBatchSize", "fit_restarts",
           "RestartsResult"]


def _validation_follows(trainer: pl.Trainer, batch_idx: int) -> bool:
    """Whether Lightning validates right after this (not last) batch of the epoch."""
    every = getattr(trainer, "val_check_batch", None)
    if not getattr(trainer, "enable_validation", False) or not every \
            or (isinstance(every, float) and math.isinf(every)):
        return False
    n = trainer.check_val_every_n_epoch or 1
    return (batch_idx + 1) % int(every) == 0 and (trainer.current_epoch + 1) % n == 0


class Stop(WatchedRule, pl.Callback):
    """Stop training at the first step where ``rule`` fires, as :func:`antigrad.fit` would.

    The observation of a step that Lightning follows with a validation (the epoch's last
    step, or every ``val_check_interval`` batches) is judged once that validation is done,
    with its results, and the epoch's last step also with the epoch's mean training loss
    (weighted by batch size), so ``Patience`` and ``LossChange(on="epoch")`` see what they
    see in ``fit``. After the run, ``stopped_by``, ``stop_reason`` and ``stopped_at`` say
    which rule fired, why and at which step (None if none did).

    Example::

        >>> from antigrad import stop
        >>> from antigrad.integrations.lightning import Stop
        >>> Stop(stop.LossChange(1e-6) | stop.MaxSteps(1000)).rule
        Any(LossChange(tol=1e-06), MaxSteps(n=1000))
    """

    def __init__(self, rule: StopRule) -> None:
        self.watch = RuleWatch(rule)
        self.stopped_at: int | None = None
        self._reset_batch()

    def _reset_batch(self) -> None:
        self._pending: Observation | None = None
        self._val: dict[str, float] | None = None
        self._sum, self._n = 0.0, 0

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.watch.reset()
        self.stopped_at = None
        self._reset_batch()
        self._seen = trainer.global_step

    def on_before_optimizer_step(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                                 optimizer: torch.optim.Optimizer) -> None:
        self.watch.before_step(pl_module.parameters(), optimizer.param_groups[0]["lr"])

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                             batch: Any, batch_idx: int) -> None:
        if self._pending is not None:      # a validation was expected but did not run
            self._judge(trainer, pl_module, self._pending, None)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                           outputs: Any, batch: Any, batch_idx: int) -> None:
        loss = loss_value(outputs)
        if loss is None:
            raise ValueError("Invalid training_step output: antigrad's Stop needs the loss "
                             "(return it, or a dict with 'loss')")
        # Lightning hands on the loss divided by accumulate_grad_batches (what it
        # backpropagates); undo that to record the batch's own loss, as fit does
        loss *= trainer.accumulate_grad_batches
        n = batch_len(batch)
        self._sum, self._n = self._sum + loss * n, self._n + n
        if trainer.global_step == self._seen:
            return                          # gradients still accumulating: no step yet
        self._seen = trainer.global_step
        loss, n, self._sum, self._n = self._sum / self._n, self._n, 0.0, 0
        last = bool(trainer.is_last_batch)
        obs = self.watch.after_step(loss, n, pl_module.parameters(), epoch_end=last)
        if last or _validation_follows(trainer, batch_idx):
            self._pending = obs
        else:
            self._judge(trainer, pl_module, obs, None)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or self._pending is None:
            return
        val = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val")}
        if self._pending.epoch_end:
            self._val = val                 # judged at the epoch's end, just after
        else:
            self._judge(trainer, pl_module, self._pending, val)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._pending is not None:
            self._judge(trainer, pl_module, self._pending, self._val)

    def _judge(self, trainer: pl.Trainer, pl_module: pl.LightningModule, obs: Observation,
               val: dict[str, float] | None) -> None:
        self._pending, self._val = None, None
        if self.watch.judge(obs, val, pl_module) is not None and self.stopped_at is None:
            self.stopped_at = obs.step
            trainer.should_stop = True


class RobbinsMonro(pl.Callback):
    """Before the first step, the Robbins–Monro verdict (Σε = ∞, Σε² < ∞) of every lr
    scheduler of the run (:func:`antigrad.schedules.robbins_monro`: exact for antigrad's
    schedules, numeric for ``LambdaLR`` and closed-form torch schedulers, "cannot tell"
    for the others). A schedule that fails gets a warning, or with ``strict=True`` a
    ``ValueError`` before any training. ``verdicts`` holds them, one per scheduler."""

    def __init__(self, strict: bool = False, horizon: int = 1_000_000) -> None:
        self.strict, self.horizon = bool(strict), horizon
        self.verdicts: list[Verdict] = []

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        schedulers = [c.scheduler for c in trainer.lr_scheduler_configs]
        self.verdicts = report_verdicts(schedulers, self.horizon, self.strict)


@contextlib.contextmanager
def _no_logging(module: pl.LightningModule) -> Iterator[None]:
    """``self.log`` is a no-op while a probe runs ``training_step`` outside the loop."""
    module.log = module.log_dict = lambda *a, **k: None  # type: ignore[method-assign]
    try:
        yield
    finally:
        del module.log, module.log_dict


def _as_model(module: pl.LightningModule) -> StepAsModel:
    return StepAsModel(module, lambda batch: module.training_step(batch, 0))


class FindLR(pl.Callback):
    """The learning-rate range test (:func:`antigrad.find_lr`) on the run's training data
    and first optimizer, before the first step; then every param group's lr (their ratios
    kept) and the schedulers' base lrs are set to the suggestion, capped at a tenth of the
    lr of the lowest loss unless ``cap=False`` (``LRFinderResult.safe_suggestion``). The
    weights and the optimizer's state are restored after the test. ``result`` is the
    :class:`~antigrad.train.LRFinderResult`, ``lr`` the lr set; other keyword arguments go
    to ``find_lr`` (``lr_min``, ``lr_max``, ``steps``, ``method``, ...)."""

    def __init__(self, *, cap: bool = True, **find_lr_args: Any) -> None:
        self.cap, self.args = bool(cap), find_lr_args
        self.result: LRFinderResult | None = None
        self.lr: float | None = None

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        opt = trainer.optimizers[0]
        wrapped = _as_model(pl_module)
        with _no_logging(pl_module):
            self.result = find_lr(wrapped, wrapped.loss, trainer.train_dataloader,
                                  optimizer=opt, **self.args)
        lr = self.result.safe_suggestion if self.cap else self.result.suggestion
        if lr is None:
            raise ValueError("Invalid lr_min: the range test diverged before it could "
                             "suggest an lr (lower lr_min)")
        base = opt.param_groups[0]["lr"]    # the groups keep their lr ratios
        ratios = [g["lr"] / base if base else 1.0 for g in opt.param_groups]
        for group, ratio in zip(opt.param_groups, ratios, strict=True):
            group["lr"] = lr * ratio
            if "initial_lr" in group:
                group["initial_lr"] = group["lr"]
        for config in trainer.lr_scheduler_configs:
            if config.scheduler.optimizer is opt and hasattr(config.scheduler, "base_lrs"):
                config.scheduler.base_lrs = [g["lr"] for g in opt.param_groups]
        self.lr = lr


def _first_batch(trainer: pl.Trainer, pl_module: pl.LightningModule) -> Any:
    source = trainer.datamodule if trainer.datamodule is not None else pl_module
    try:
        loader = source.train_dataloader()
    except Exception as e:  # noqa: BLE001 - Lightning raises its own error when undefined
        raise ValueError("Invalid sample: None (pass sample=, or define train_dataloader() "
                         "on the module or datamodule)") from e
    return next(iter(loader))


class FindBatchSize(pl.Callback):
    """The batch-size probe (:func:`antigrad.find_batch_size`) before the data loaders are
    built; then ``attr`` (``batch_size``) on the module, its ``hparams`` or the datamodule
    is set to the result (Lightning's ``lightning_setattr``), so ``train_dataloader()``
    builds batches of that size. ``sample`` is a few examples (default: the first batch
    of ``train_dataloader()``); ``result`` is the :class:`~antigrad.train.BatchSizeResult`;
    other keyword arguments go to ``find_batch_size``."""

    def __init__(self, sample: Any = None, *, attr: str = "batch_size",
                 **find_batch_size_args: Any) -> None:
        self.sample, self.attr, self.args = sample, attr, find_batch_size_args
        self.result: BatchSizeResult | None = None

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        sample = self.sample if self.sample is not None else _first_batch(trainer, pl_module)
        parts = (sample,) if isinstance(sample, torch.Tensor) else tuple(sample)
        parts = tuple(t.to(pl_module.device) if isinstance(t, torch.Tensor) else t
                      for t in parts)
        wrapped = _as_model(pl_module)
        with _no_logging(pl_module):
            self.result = find_batch_size(wrapped, wrapped.loss, parts, **self.args)
        if not lightning_hasattr(pl_module, self.attr):
            raise ValueError(f"Invalid attr: {self.attr!r} (neither the module, its hparams "
                             "nor the datamodule has it, so the batch size cannot be set)")
        lightning_setattr(pl_module, self.attr, self.result.batch_size)


@dataclass
class RestartsResult:
    """The runs of :func:`fit_restarts`: each run's ``scores`` (``monitor`` at its final
    weights), the ``best_run`` and ``mean_run_score``; ``model`` is the module with the
    best run's weights, or with ``combine="ensemble"`` the :class:`~antigrad.train.Ensemble`
    of all runs (``ensemble_score`` when ``score`` was given); ``trainers`` are the runs'."""

    model: torch.nn.Module
    scores: list[float]
    best_run: int
    mean_run_score: float
    ensemble_score: float | None
    trainers: list[pl.Trainer]


def _final_score(trainer: pl.Trainer, module: pl.LightningModule, monitor: str,
                 fit_args: dict[str, Any]) -> float:
    if "datamodule" in fit_args:
        metrics = trainer.validate(module, datamodule=fit_args["datamodule"], verbose=False)
    elif fit_args.get("val_dataloaders") is not None:
        metrics = trainer.validate(module, dataloaders=fit_args["val_dataloaders"],
                                   verbose=False)
    else:
        metrics = [{k: float(v) for k, v in trainer.callback_metrics.items()}]
    if not metrics or monitor not in metrics[0]:
        raise ValueError(f"Invalid monitor: {monitor!r} (the run logged "
                         f"{sorted(metrics[0]) if metrics else []})")
    return float(metrics[0][monitor])


def fit_restarts(make_trainer: Callable[[int], pl.Trainer], module: pl.LightningModule, *,
                 runs: int = 3, combine: str = "best", monitor: str = "val_loss",
                 mode: str = "min", seed: int = 0,
                 init: Callable[[torch.nn.Module], None] | None = None,
                 score: Callable[[torch.nn.Module], float] | None = None,
                 **fit_args: Any) -> RestartsResult:
    """Restarts (L17) with Lightning: ``runs`` calls of ``make_trainer(k).fit(module,
    **fit_args)``, run 0 from the module's weights and run k from ``init(module)``
    (default :func:`~antigrad.train.reset_parameters`) under ``torch.manual_seed(seed + k)``
    (inside ``torch.random.fork_rng``), each with a fresh Trainer and optimizer.

    Each run is scored by ``score(module)`` or else by ``trainer.validate`` on the run's
    validation data (``monitor``, ``mode``); the module ends with the best run's weights.
    ``combine="ensemble"`` also returns the :class:`~antigrad.train.Ensemble` of the runs.
    A function around ``Trainer.fit`` rather than a callback: a Trainer's loops, step
    counter, loggers and checkpoints belong to one run, so each run gets its own.
    """
    if isinstance(runs, bool) or not isinstance(runs, int) or runs < 1:
        raise ValueError(f"Invalid runs: {runs!r} (must be an integer >= 1)")
    if combine not in ("best", "ensemble"):
        raise ValueError(f"Invalid combine: {combine!r} (must be 'best' or 'ensemble')")
    if mode not in ("min", "max"):
        raise ValueError(f"Invalid mode: {mode!r} (must be 'min' or 'max')")
    if not callable(make_trainer):
        raise TypeError(f"Invalid make_trainer: {make_trainer!r} (must be a callable "
                        "k -> lightning Trainer)")
    scores, states, trainers = [], [], []
    for k in range(runs):
        with torch.random.fork_rng(devices=range(torch.cuda.device_count())):
            torch.manual_seed(seed + k)
            if k > 0:
                (init or reset_parameters)(module)
            trainer = make_trainer(k)
            trainer.fit(module, **fit_args)
        scores.append(score(module) if score is not None
                      else _final_score(trainer, module, monitor, fit_args))
        states.append({n: v.detach().clone() for n, v in module.state_dict().items()})
        trainers.append(trainer)
    best = scores.index((min if mode == "min" else max)(scores))
    model: torch.nn.Module = module
    ensemble_score = None
    if combine == "ensemble":
        members = _members(module, states)
        model = Ensemble(members)
        ensemble_score = None if score is None else float(score(model))
    module.load_state_dict(states[best])
    return RestartsResult(model=model, scores=scores, best_run=best,
                          mean_run_score=statistics.fmean(scores),
                          ensemble_score=ensemble_score, trainers=trainers)


def _members(module: torch.nn.Module, states: Sequence[dict[str, torch.Tensor]]
             ) -> list[torch.nn.Module]:
    members = []
    trainer = getattr(module, "_trainer", None)
    module.trainer = None           # copy the weights, not the last run's Trainer
    try:
        for state in states:
            member = copy.deepcopy(module)
            member.load_state_dict(state)
            members.append(member)
    finally:
        module.trainer = trainer
    return members
