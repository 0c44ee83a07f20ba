"""One run of :func:`antigrad.fit` on the training loop (:mod:`antigrad.train.loop`).

Each step: zero the gradients, ``loss = loss_fn(model(*inputs), target)`` on this rank's
slice of the batch, backward, all-reduce (under DDP), measure what the rules need, optimizer
step, scheduler step (``schedule_interval="step"``), record; at the end of an epoch:
epoch record, validation (also every ``val_every`` steps), plateau/epoch scheduler step;
then the stopping rule, the callbacks and, every ``checkpoint_every`` steps, a checkpoint.
While a ``Divergence`` rule watches, a step whose loss is NaN/inf is recorded but not applied.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.optim.lr_scheduler import ReduceLROnPlateau

from ..stop import Fired, Observation, StopRule
from .amp import Precision
from .callbacks import Callback, StopTraining
from .checkpoint import Checkpointer, rng_state, set_rng_state
from .clipping import Clipping, grad_norm
from .data import Data, batch_len, evaluate, forward_loss, grouped
from .loop import Hook, Loop, StepRecord
from .parallel import World
from .result import FitResult, History

__all__ = ["Run", "RunSetup"]


@dataclass
class RunSetup:
    """Everything one run needs, already validated by :func:`antigrad.fit`."""

    model: torch.nn.Module
    loss_fn: Callable[..., torch.Tensor]
    data: Data
    optimizer: torch.optim.Optimizer
    scheduler: Any
    schedule_interval: str
    rule: StopRule
    val: Data | None
    val_every: int | None
    metrics: Mapping[str, Callable[..., Any]]
    monitor: str
    mode: str
    keep_best: bool
    callbacks: list[Callback]
    checkpointer: Checkpointer | None
    checkpoint_every: int | None
    track: frozenset[str]
    seed: int | None
    skip_nonfinite: bool = True
    index: int = 0
    world: World = field(default_factory=World)
    fingerprint: dict[str, str] | None = None
    precision: Precision = field(default_factory=lambda: Precision(None))
    clipping: Clipping = field(default_factory=Clipping)
    accumulate: int = 1


def _clone_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


class Run:
    """The live state of a run (what callbacks see as ``run``)."""

    def __init__(self, setup: RunSetup) -> None:
        self.s = setup
        self.model, self.optimizer, self.scheduler = setup.model, setup.optimizer, setup.scheduler
        self.index = setup.index
        self.history = History()
        self.step = self.epoch = self.batch_in_epoch = 0
        self.prev_loss: float | None = None
        self.epoch_sum, self.epoch_n = 0.0, 0
        self.best_value: float | None = None
        self.best_step: int | None = None
        self.best_state: dict[str, torch.Tensor] | None = None
        self.generator = torch.Generator()
        if setup.seed is None:
            self.generator.seed()
        else:
            self.generator.manual_seed(setup.seed)
        self.epoch_rng: dict[str, Any] | None = None
        self.resumed_from: int | None = None
        self.device = next(iter(setup.model.parameters())).device
        # the data's own shuffling generators (a DataLoader's generator=, its sampler's)
        self.data_generators = setup.data.generators() + \
            (setup.val.generators() if setup.val is not None else [])
        self.params = [p for p in setup.model.parameters() if p.requires_grad]
        self.amp = setup.precision.for_device(self.device)
        # what the hooks of the current step share (see run()): the step's loss, lr,
        # measurements, epoch end, epoch loss and validation; its observation; the verdict
        self.now: dict[str, Any] = {}
        self.obs: Observation | None = None
        self.fired: Fired | None = None

    # ------------------------------------------------------------ checkpoints
    def payload(self, finished: dict[str, Any] | None = None) -> dict[str, Any]:
        s = self.s
        return {
            "format": 1, "run": self.index, "finished": finished, "fingerprint": s.fingerprint,
            "position": {"step": self.step, "epoch": self.epoch,
                         "batch_in_epoch": self.batch_in_epoch},
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "rule": s.rule.state_dict(), "history": self.history.to_dict(),
            "loop": {"prev_loss": self.prev_loss, "epoch_sum": self.epoch_sum,
                     "epoch_n": self.epoch_n},
            "best": {"value": self.best_value, "step": self.best_step,
                     "state": self.best_state},
            "rng": {"now": self._rng_state(), "epoch": self.epoch_rng},
            "scaler": self.amp.state_dict(),
        }

    def restore(self, payload: dict[str, Any]) -> None:
        pos = payload["position"]
        self.step, self.epoch, self.batch_in_epoch = pos["step"], pos["epoch"], \
            pos["batch_in_epoch"]
        self.model.load_state_dict(payload["model"])
        self.optimizer.load_state_dict(payload["optimizer"])
        if self.scheduler is not None and payload["scheduler"] is not None:
            self.scheduler.load_state_dict(payload["scheduler"])
        self.s.rule.load_state_dict(payload["rule"])
        self.history = History.from_dict(payload["history"])
        loop = payload["loop"]
        self.prev_loss, self.epoch_sum, self.epoch_n = loop["prev_loss"], loop["epoch_sum"], \
            loop["epoch_n"]
        best = payload["best"]
        self.best_value, self.best_step, self.best_state = best["value"], best["step"], \
            best["state"]
        self.epoch_rng = payload["rng"]["epoch"]
        self._rng_now = payload["rng"]["now"]
        self.amp.load_state_dict(payload.get("scaler"))
        self.resumed_from = self.step

    def _rng_state(self) -> dict[str, Any]:
        return rng_state(self.generator, self.data_generators)

    def _set_rng_state(self, state: dict[str, Any]) -> None:
        set_rng_state(state, self.generator, self.data_generators)

    def _save(self, finished: dict[str, Any] | None = None) -> None:
        if self.s.checkpointer is not None and self.s.world.main:
            self.s.checkpointer.save(self.step, self.payload(finished))

    # ------------------------------------------------------------ one step
    def _backward(self, group: list[Any]) -> tuple[float, int]:
        """Forward and backward over the step's micro-batches, each weighted by its share of
        the step's examples (so the gradient is that of their mean loss); all-reduced under
        DDP. Returns (mean loss, examples)."""
        s = self.s
        total = sum(batch_len(b) for b in group)
        weighted = s.world.parallel or len(group) > 1
        share = torch.zeros((), device=self.device, dtype=torch.float64)
        for batch in group:
            with self.amp.autocast():
                loss, n_local, _ = forward_loss(self.model, s.loss_fn, batch, self.device,
                                                s.world)
            if loss is not None:
                self.amp.backward(loss * (n_local / total) if weighted else loss)
                share = share + loss.detach().to(torch.float64) * (n_local / total)
        if s.world.parallel:
            (share,) = s.world.reduce_grads_and(self.params, share)
        return float(share), total

    def _train_step(self, group: list[Any]) -> tuple[float, int, float, dict[str, float]]:
        s, params = self.s, self.params
        before = [p.detach().clone() for p in params] if "weight_change" in s.track else None
        self.optimizer.zero_grad(set_to_none=True)
        loss_value, n_global = self._backward(group)
        self.amp.unscale(self.optimizer)
        measured = {"grad_norm": grad_norm(params)} if "grad_norm" in s.track else {}
        lr = float(self.optimizer.param_groups[0]["lr"])
        if s.skip_nonfinite and not math.isfinite(loss_value):
            self.amp.skip()
            return loss_value, n_global, lr, measured   # never apply a NaN step
        clipped = s.clipping.apply(params)
        if clipped is not None:
            measured["grad_norm_clipped"] = clipped
        self.amp.step(self.optimizer)
        # The loop waits for every step's loss anyway: a verdict on its gradients left on
        # the device (the Triton backend) is settled now, so a refused step raises here.
        getattr(self.optimizer, "synchronize", lambda: None)()
        if self.scheduler is not None and s.schedule_interval == "step" \
                and not isinstance(self.scheduler, ReduceLROnPlateau):
            self.scheduler.step()
        if before is not None:
            measured["weight_change"] = math.sqrt(sum(
                float((p.detach() - b).to(torch.float64).pow(2).sum())
                for p, b in zip(params, before, strict=True)))
        return loss_value, n_global, lr, measured

    def _validate(self) -> dict[str, float]:
        s = self.s
        values = evaluate(self.model, s.loss_fn, s.val, s.metrics, self.device, s.world)
        val = {f"val_{k}": v for k, v in values.items()}
        self.history.add_val(step=self.step, epoch=self.epoch, **val)
        if s.monitor not in val:
            raise ValueError(f"Invalid monitor: {s.monitor!r} (validation gives {sorted(val)})")
        v = val[s.monitor]
        better = math.isfinite(v) and (self.best_value is None or
                                       (v < self.best_value if s.mode == "min"
                                        else v > self.best_value))
        if better:
            self.best_value, self.best_step = v, self.step
            if s.keep_best:
                self.best_state = _clone_state(self.model)
        if isinstance(self.scheduler, ReduceLROnPlateau):
            self.scheduler.step(v)
        return val

    # ------------------------------------------------------------ the loop
    def _epoch_batches(self) -> Any:
        if self.batch_in_epoch == 0:
            if self.s.checkpointer is not None:
                self.epoch_rng = self._rng_state()
            return grouped(self.s.data.epoch(self.generator), self.s.accumulate)
        self._set_rng_state(self.epoch_rng)                    # resume mid-epoch: replay
        batches = grouped(self.s.data.epoch(self.generator),   # the epoch's order, skip
                          self.s.accumulate)
        for _ in range(self.batch_in_epoch):                   # what was done, then go on
            next(batches)                                      # from the saved RNG state
        self._set_rng_state(self._rng_now)
        return batches

    def _groups(self) -> Any:
        """The step groups of every epoch, one epoch after another, from the current
        position (a resumed run first finishes its epoch)."""
        while True:
            yield from self._epoch_batches()

    def run(self) -> FitResult:
        """Train until the rule or a callback stops it, through the training loop: one
        :class:`_FitStep` per optimizer step, then (hooks after a step run last to first)
        the record, validation, epoch schedulers, the stopping rule, the callbacks and
        the checkpoint."""
        s = self.s
        if self.resumed_from is None:
            s.world.broadcast_module(self.model)
        elif self.batch_in_epoch == 0:
            self._set_rng_state(self._rng_now)
        self.model.train()
        for cb in s.callbacks:
            cb.on_fit_start(self)
        self.fired = None
        Loop(_FitStep(self), [_Checkpoint(self), _Callbacks(self), _Rule(self),
                              _EpochSchedule(self), _Validate(self), _Record(self)],
             start=self.step).run()
        return self._finish(self.fired)

    def _finish(self, fired: Fired) -> FitResult:
        steps = self.history.steps
        result = FitResult(
            model=self.model, history=self.history, steps=self.step, epochs=self.epoch,
            stopped_by=repr(fired.rule), stop_reason=fired.reason, stopped_at=self.step,
            final_loss=steps["loss"][-1] if steps.get("loss") else None, monitor=self.s.monitor
            if self.s.val is not None else None, best_value=self.best_value,
            best_step=self.best_step, best_state=self.best_state, seed=self.s.seed,
            optimizer=self.optimizer, scheduler=self.scheduler, resumed_from=self.resumed_from)
        self._save(finished={"stopped_by": result.stopped_by, "stop_reason": result.stop_reason})
        for cb in self.s.callbacks:
            cb.on_fit_end(self, result)
        return result

    @classmethod
    def finished_result(cls, setup: RunSetup, payload: dict[str, Any],
                        done: dict[str, str]) -> FitResult:
        """The result of a run resumed from ``payload`` with nothing left to train; ``done``
        says which rule ended it and why."""
        run = cls(setup)
        run.restore(payload)
        return FitResult(
            model=run.model, history=run.history, steps=run.step, epochs=run.epoch,
            stopped_by=done["stopped_by"], stop_reason=done["stop_reason"], stopped_at=run.step,
            final_loss=run.history.steps["loss"][-1], monitor=setup.monitor
            if setup.val is not None else None, best_value=run.best_value,
            best_step=run.best_step, best_state=run.best_state, seed=setup.seed,
            optimizer=run.optimizer, scheduler=run.scheduler, resumed_from=run.step)


class _CallbackRule(StopRule):
    def check(self, obs: Observation) -> str | None:  # pragma: no cover - never asked
        return None

    def __repr__(self) -> str:
        return "StopTraining"


class _FitStep:
    """One optimizer step of fit over the next group of micro-batches; the record's
    ``extra`` holds ``(examples, lr, measured, last batch of its epoch)``."""

    def __init__(self, run: Run) -> None:
        self.run, self.groups = run, run._groups()

    def __call__(self, n: int) -> StepRecord:
        group, last = next(self.groups)
        loss, n_global, lr, measured = self.run._train_step(group)
        return StepRecord(n, loss, None, (n_global, lr, measured, last))


class _FitHook(Hook):
    def __init__(self, run: Run) -> None:
        self.run = run


class _Record(_FitHook):
    """The step's history row, the epoch's running loss and, at its end, the epoch row."""

    def after_step(self, loop: Loop, record: StepRecord) -> None:
        run, (n, lr, measured, last) = self.run, record.extra
        run.step = record.step
        run.batch_in_epoch += 1
        run.history.add_step(step=run.step, epoch=run.epoch, loss=record.loss, lr=lr,
                             **measured)
        run.epoch_sum += record.loss * n
        run.epoch_n += n
        run.now = {"loss": record.loss, "lr": lr, "measured": measured, "last": last,
                   "epoch_loss": None, "val": None}
        if last:
            run.epoch += 1
            run.batch_in_epoch = 0
            run.now["epoch_loss"] = run.epoch_sum / run.epoch_n
            run.epoch_sum, run.epoch_n = 0.0, 0
            run.history.add_epoch(epoch=run.epoch, step=run.step,
                                  train_loss=run.now["epoch_loss"], lr=lr)


class _Validate(_FitHook):
    """Validation at every epoch end, or every ``val_every`` steps."""

    def after_step(self, loop: Loop, record: StepRecord) -> None:
        s, now = self.run.s, self.run.now
        if s.val is None:
            return
        due = now["last"] if s.val_every is None else record.step % s.val_every == 0
        if due:
            now["val"] = self.run._validate()


class _EpochSchedule(_FitHook):
    """An epoch-interval scheduler's step; ReduceLROnPlateau on the epoch's training loss
    when there is no validation."""

    def after_step(self, loop: Loop, record: StepRecord) -> None:
        run, now = self.run, self.run.now
        if not now["last"] or run.scheduler is None:
            return
        plateau = isinstance(run.scheduler, ReduceLROnPlateau)
        if not plateau and run.s.schedule_interval == "epoch":
            run.scheduler.step()
        elif plateau and run.s.val is None:
            run.scheduler.step(now["epoch_loss"])


class _Rule(_FitHook):
    """The stopping rule, asked with the step's observation."""

    def after_step(self, loop: Loop, record: StepRecord) -> None:
        run, now = self.run, self.run.now
        measured = now["measured"]
        run.obs = Observation(step=run.step, epoch=run.epoch, loss=record.loss,
                              prev_loss=run.prev_loss, lr=now["lr"], epoch_end=now["last"],
                              epoch_loss=now["epoch_loss"], val=now["val"],
                              grad_norm=measured.get("grad_norm"),
                              weight_change=measured.get("weight_change"), model=run.model)
        run.prev_loss = record.loss
        run.fired = run.s.rule(run.obs)
        if run.fired is not None:
            loop.stop(run.fired.reason)


class _Callbacks(_FitHook):
    """Every callback sees the step, even after another one (or the rule) asked to stop;
    :class:`StopTraining` from one ends the run."""

    def after_step(self, loop: Loop, record: StepRecord) -> None:
        run = self.run
        for cb in run.s.callbacks:
            try:
                cb.on_step_end(run, run.obs)
                if run.now["last"]:
                    cb.on_epoch_end(run, run.obs)
            except StopTraining as e:
                run.fired = run.fired or Fired(_CallbackRule(), str(e) or "a callback stopped it")
                loop.stop(run.fired.reason)


class _Checkpoint(_FitHook):
    """A checkpoint every ``checkpoint_every`` steps (default: every epoch end), unless
    the run ends here (its end writes one)."""

    def after_step(self, loop: Loop, record: StepRecord) -> None:
        run, every = self.run, self.run.s.checkpoint_every
        if run.fired is not None:
            return
        if (every is not None and run.step % every == 0) or (every is None
                                                             and run.now["last"]):
            run._save()
