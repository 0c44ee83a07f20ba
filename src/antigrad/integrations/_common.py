"""What the Lightning and Hugging Face callbacks share: the loss and size of a batch, the
Robbins–Monro verdict of any scheduler, and a training step seen as ``model`` + ``loss_fn``
for :func:`antigrad.find_lr` and :func:`antigrad.find_batch_size`."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import torch

from ..schedules import Verdict, robbins_monro

__all__ = ["loss_value", "batch_len", "verdict_of", "report_verdicts", "StepAsModel"]


def loss_value(output: Any) -> float | None:
    """The loss in a training step's or a model's output: a tensor, ``{"loss": ...}`` or
    an object with ``.loss`` (a transformers ``ModelOutput``); None if it has none."""
    if isinstance(output, torch.Tensor):
        return float(output.detach())
    loss = output.get("loss") if isinstance(output, dict) else getattr(output, "loss", None)
    if isinstance(loss, torch.Tensor):
        loss = loss.detach()
    return None if loss is None else float(loss)


def batch_len(batch: Any) -> int:
    """The number of examples in a batch: the length of its first tensor."""
    parts = [batch] if isinstance(batch, torch.Tensor) else \
        list(batch.values()) if isinstance(batch, dict) else list(batch)
    return next((len(v) for v in parts if isinstance(v, torch.Tensor) and v.dim()), 1)


def verdict_of(scheduler: Any, horizon: int) -> Verdict:
    """:func:`antigrad.schedules.robbins_monro` of ``scheduler``; a scheduler without a
    closed form (``OneCycleLR``, ...) is "cannot tell" rather than an error."""
    try:
        return robbins_monro(scheduler, horizon=horizon)
    except TypeError as e:
        return Verdict(None, str(e))


def report_verdicts(schedulers: list[Any], horizon: int, strict: bool) -> list[Verdict]:
    """The verdicts of ``schedulers``; a warning (``strict``: a ValueError) for each that
    does not satisfy Σε = ∞, Σε² < ∞."""
    verdicts = [verdict_of(s, horizon) for s in schedulers]
    for s, v in zip(schedulers, verdicts, strict=True):
        if v.satisfied is False:
            message = (f"{type(s).__name__} does not satisfy the Robbins–Monro conditions: "
                       f"{v.reason}")
            if strict:
                raise ValueError(f"Invalid schedule: {message}")
            warnings.warn(message, stacklevel=3)
    return verdicts


class StepAsModel(torch.nn.Module):
    """A training step as ``model`` + ``loss_fn`` for antigrad's probes: ``forward`` returns
    the inputs unchanged and :meth:`loss` runs ``step(batch)`` (the trainer's own
    training step, returning a loss tensor or ``{"loss": ...}``) on the whole batch."""

    def __init__(self, module: torch.nn.Module,
                 step: Callable[[Any], Any]) -> None:
        super().__init__()
        self.module, self.step = module, step

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return inputs

    def loss(self, inputs: tuple[torch.Tensor, ...], *target: torch.Tensor) -> torch.Tensor:
        batch = (*inputs, *target)
        out = self.step(batch[0] if len(batch) == 1 else list(batch))
        loss = out if isinstance(out, torch.Tensor) else out["loss"]
        return loss
