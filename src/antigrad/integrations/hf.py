r"""The lecture's stopping rules and schedule verdict as Hugging Face ``TrainerCallback``\ s
(``pip install antigrad[hf]``).

- :class:`Stop`: an :mod:`antigrad.stop` rule (``|``/``&`` combinations too) sets
  ``control.should_training_stop`` at the step where it fires in :func:`antigrad.fit`;
- :class:`RobbinsMonro`: the Robbins–Monro verdict of the Trainer's lr scheduler before
  the first step (a warning, or with ``strict=True`` a ``ValueError``).

The Trainer does not hand callbacks the loss, so :class:`Stop` reads it from the model's
output (``output.loss``, the loss the Trainer backpropagates) with a forward hook during
training; with gradient accumulation a step's loss is the example-weighted mean of its
micro-batches. Evaluation metrics ``eval_X`` reach the rules as ``val_X`` (so
``Patience(monitor="val_loss")`` works as in ``fit``). Gradient norms are those the
optimizer steps with, i.e. after the Trainer's clipping (``max_grad_norm``, 1.0 by
default; set it to 0 for the raw norm that ``fit`` sees). transformers is imported only by
this module.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from ..schedules import Verdict
from ..stop import Observation, StopRule
from ._common import batch_len, loss_value, report_verdicts
from ._watch import RuleWatch, WatchedRule

__all__ = ["Stop", "RobbinsMonro"]


class Stop(WatchedRule, TrainerCallback):
    """Stop training at the first step where ``rule`` fires, as :func:`antigrad.fit` would.

    A step followed by an evaluation (``eval_strategy``) is judged with that evaluation's
    results, the last step of an epoch with the epoch's mean training loss. After the run,
    ``stopped_by``, ``stop_reason`` and ``stopped_at`` say which rule fired, why, and at
    which step (None if none did).

    Example::

        >>> from antigrad import stop
        >>> from antigrad.integrations.hf import Stop
        >>> Stop(stop.GradNorm(1e-4) & stop.LossChange(1e-8)).rule
        All(GradNorm(tol=0.0001), LossChange(tol=1e-08))
    """

    def __init__(self, rule: StopRule) -> None:
        self.watch = RuleWatch(rule)
        self.stopped_at: int | None = None
        self._hook: Any = None
        self._reset_step()

    def _reset_step(self) -> None:
        self._pending: Observation | None = None
        self._sum, self._n = 0.0, 0

    def _capture(self, module: torch.nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
        if not module.training or not torch.is_grad_enabled():
            return                          # evaluation, not a training step
        loss = loss_value(output)
        if loss is not None:
            n = batch_len(kwargs) if kwargs else batch_len(args)
            self._sum, self._n = self._sum + loss * n, self._n + n

    def on_train_begin(self, args: TrainingArguments, state: TrainerState,
                       control: TrainerControl, model: torch.nn.Module | None = None,
                       **kwargs: Any) -> None:
        self.watch.reset()
        self.stopped_at = None
        self._reset_step()
        self._hook = model.register_forward_hook(self._capture, with_kwargs=True)

    def on_pre_optimizer_step(self, args: TrainingArguments, state: TrainerState,
                              control: TrainerControl, model: torch.nn.Module | None = None,
                              optimizer: torch.optim.Optimizer | None = None,
                              **kwargs: Any) -> None:
        self.watch.before_step(model.parameters(), optimizer.param_groups[0]["lr"])

    def on_step_begin(self, args: TrainingArguments, state: TrainerState,
                      control: TrainerControl, model: torch.nn.Module | None = None,
                      **kwargs: Any) -> None:
        if self._pending is not None:      # an evaluation was expected but did not run
            self._judge(control, model, self._pending, None)

    def on_step_end(self, args: TrainingArguments, state: TrainerState,
                    control: TrainerControl, model: torch.nn.Module | None = None,
                    **kwargs: Any) -> None:
        if self._n == 0:
            raise ValueError("Invalid model output: antigrad's Stop reads the loss from the "
                             "model's output (output.loss), and there was none")
        loss, n, self._sum, self._n = self._sum / self._n, self._n, 0.0, 0
        last = float(state.epoch).is_integer()       # epoch + (step + 1) / steps_in_epoch
        obs = self.watch.after_step(loss, n, model.parameters(), epoch_end=last)
        if last or control.should_evaluate:
            self._pending = obs
        else:
            self._judge(control, model, obs, None)

    def on_epoch_end(self, args: TrainingArguments, state: TrainerState,
                     control: TrainerControl, model: torch.nn.Module | None = None,
                     **kwargs: Any) -> None:
        if self._pending is not None and not control.should_evaluate:
            self._judge(control, model, self._pending, None)

    def on_evaluate(self, args: TrainingArguments, state: TrainerState,
                    control: TrainerControl, metrics: dict[str, Any] | None = None,
                    model: torch.nn.Module | None = None, **kwargs: Any) -> None:
        if self._pending is None:
            return
        val = {"val_" + k.removeprefix("eval_"): float(v) for k, v in (metrics or {}).items()
               if k.startswith("eval_") and isinstance(v, (int, float))}
        self._judge(control, model, self._pending, val)

    def on_train_end(self, args: TrainingArguments, state: TrainerState,
                     control: TrainerControl, model: torch.nn.Module | None = None,
                     **kwargs: Any) -> None:
        if self._pending is not None:
            self._judge(control, model, self._pending, None)
        if self._hook is not None:
            self._hook.remove()
            self._hook = None

    def _judge(self, control: TrainerControl, model: torch.nn.Module | None, obs: Observation,
               val: dict[str, float] | None) -> None:
        self._pending = None
        if self.watch.judge(obs, val, model) is not None and self.stopped_at is None:
            self.stopped_at = obs.step
            control.should_training_stop = True


class RobbinsMonro(TrainerCallback):
    """Before the first step, the Robbins–Monro verdict (Σε = ∞, Σε² < ∞) of the Trainer's
    lr scheduler (:func:`antigrad.schedules.robbins_monro`; the Trainer's own schedules
    are ``LambdaLR``\\ s, judged numerically). A failing schedule gets a warning, or with
    ``strict=True`` a ``ValueError`` before any training; ``verdicts`` holds the verdict.

    Example::

        >>> from antigrad.integrations.hf import RobbinsMonro
        >>> RobbinsMonro(strict=True).verdicts
        []
    """

    def __init__(self, strict: bool = False, horizon: int = 1_000_000) -> None:
        self.strict, self.horizon = bool(strict), horizon
        self.verdicts: list[Verdict] = []

    def on_train_begin(self, args: TrainingArguments, state: TrainerState,
                       control: TrainerControl, lr_scheduler: Any = None,
                       **kwargs: Any) -> None:
        schedulers = [] if lr_scheduler is None else [lr_scheduler]
        self.verdicts = report_verdicts(schedulers, self.horizon, self.strict)
