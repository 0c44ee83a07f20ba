"""The fingerprint of a fit run: what makes a checkpoint *this* run's.

A run is identified by its model (architecture, parameter and buffer names, shapes and
dtypes — not their values), its optimizer (class and every hyperparameter of every group,
the learning rate as set before any schedule moved it), its schedule (class, interval and
settings), its loss function, its training and validation data, the monitored value, the
stopping rules other than the budget, and its seed. The budget (``epochs=``, ``steps=``)
is *not* part of it: a finished run resumed with a larger budget continues where it ended.

The fingerprint is a flat ``{key: text}`` dict saved in every checkpoint; resuming compares
it key by key with the current run's and refuses a checkpoint that differs
(:func:`check_fingerprint`), naming each difference.

Example::

    >>> from antigrad.train.fingerprint import differences
    >>> differences({"seed": "0", "optimizer.group0.lr": "0.01"},
    ...             {"seed": "0", "optimizer.group0.lr": "0.02"})
    ['optimizer.group0.lr: 0.01 in the checkpoint, 0.02 now']
"""

from __future__ import annotations

import functools
import hashlib
import re
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import torch

from .checkpoint import CheckpointError

if TYPE_CHECKING:
    from .data import Data
    from .run import RunSetup

__all__ = ["fingerprint", "differences", "describe", "check_fingerprint"]

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_SAMPLE = 1 << 22          # hash at most this many elements of a data tensor (strided)
_SHOWN = 120               # characters of a value shown in an error message
# scheduler state that is its progress, not its settings
_PROGRESS = {"last_epoch", "best", "cooldown_counter", "num_bad_epochs"}


def describe(value: Any) -> str:
    """A stable text for a hyperparameter-like value (no memory addresses)."""
    if isinstance(value, torch.Tensor):
        return f"tensor({value.tolist()})"
    if isinstance(value, (list, tuple)):
        inner = ", ".join(describe(v) for v in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner})"
    if hasattr(value, "item") and callable(value.item) and not isinstance(value, type):
        try:
            value = value.item()       # NumPy scalars: the number they hold
        except (TypeError, ValueError):
            pass
    return _ADDRESS.sub("", repr(value))


def _callable(fn: Callable[..., Any]) -> str:
    if isinstance(fn, functools.partial):
        args = [describe(a) for a in fn.args] + [f"{k}={describe(v)}"
                                                  for k, v in fn.keywords.items()]
        return f"partial({_callable(fn.func)}, {', '.join(args)})"
    name = getattr(fn, "__qualname__", None)
    if name is not None:
        return f"{getattr(fn, '__module__', '?')}.{name}"
    cls = type(fn)   # a callable object, such as torch.nn.CrossEntropyLoss(...)
    settings = {k: describe(v) for k, v in sorted(vars(fn).items())
                if not k.startswith("_") and isinstance(v, (bool, int, float, str, type(None)))}
    return f"{cls.__module__}.{cls.__qualname__}{settings}"


def _tensor_digest(t: torch.Tensor) -> str:
    flat = t.detach().reshape(-1)
    if flat.numel() > _SAMPLE:   # an evenly strided sample: cheap on large data sets
        flat = flat[::-(-flat.numel() // _SAMPLE)]
    raw = flat.contiguous().cpu().view(torch.uint8).numpy().tobytes()
    return hashlib.sha256(raw).hexdigest()[:16]


def _data(data: Data | None, name: str) -> dict[str, str]:
    if data is None:
        return {name: "None"}
    out = {f"{name}.batching": f"batch_size={data.batch_size}, drop_last={data.drop_last}"}
    if data.tensors is not None:
        for i, t in enumerate(data.tensors):
            out[f"{name}.tensor{i}"] = (f"{str(t.dtype).removeprefix('torch.')} "
                                        f"{tuple(t.shape)} sha256:{_tensor_digest(t)}")
        return out
    source = data.loader if data.loader is not None else data.dataset
    out[name] = f"{type(source).__module__}.{type(source).__qualname__}"
    inner = getattr(source, "dataset", source)
    try:
        size = str(len(inner))
    except TypeError:
        size = "?"
    out[f"{name}.dataset"] = f"{type(inner).__qualname__} of {size}"
    out[f"{name}.generators"] = str(len(data.generators()))
    for attr in ("batch_size", "drop_last", "sampler", "batch_sampler"):
        if hasattr(source, attr) and data.loader is not None:
            value = getattr(source, attr)
            out[f"{name}.{attr}"] = describe(value) if not hasattr(value, "__iter__") \
                else type(value).__qualname__
    return out


def _model(model: torch.nn.Module) -> dict[str, str]:
    out = {"model": describe(model)}
    for key, t in model.state_dict().items():
        out[f"model.{key}"] = f"{str(t.dtype).removeprefix('torch.')} {tuple(t.shape)}"
    return out


def _optimizer(opt: torch.optim.Optimizer) -> dict[str, str]:
    out = {"optimizer": f"{type(opt).__module__}.{type(opt).__qualname__}",
           "optimizer.groups": str(len(opt.param_groups))}
    for i, group in enumerate(opt.param_groups):
        out[f"optimizer.group{i}.params"] = str(len(group["params"]))
        for key, value in group.items():
            if key in ("params", "initial_lr"):
                continue
            if key == "lr" and "initial_lr" in group:
                value = group["initial_lr"]   # a schedule's base lr, however far it moved
            out[f"optimizer.group{i}.{key}"] = describe(value)
    return out


def _schedule(scheduler: Any, interval: str) -> dict[str, str]:
    if scheduler is None:
        return {"schedule": "None"}
    out = {"schedule": f"{type(scheduler).__module__}.{type(scheduler).__qualname__} "
                       f"per {interval}"}
    for key, value in scheduler.state_dict().items():
        if not key.startswith("_") and key not in _PROGRESS:
            out[f"schedule.{key}"] = describe(value)
    return out


def _step_options(setup: RunSetup) -> dict[str, str]:
    # only the options set away from their defaults, so that checkpoints written before
    # these options existed keep matching a run that does not use them
    values = {"precision": setup.precision.name, "clip_grad_norm": setup.clipping.max_norm,
              "clip_grad_value": setup.clipping.max_value, "accumulate": setup.accumulate}
    defaults = {"precision": None, "clip_grad_norm": None, "clip_grad_value": None,
                "accumulate": 1}
    return {k: describe(v) for k, v in values.items() if v != defaults[k]}


def fingerprint(setup: RunSetup) -> dict[str, str]:
    """The fingerprint of the run ``setup`` describes, before it trains."""
    fixed: Sequence[Any] = getattr(setup.rule, "fixed", [setup.rule])
    return {
        **_model(setup.model), **_optimizer(setup.optimizer),
        **_schedule(setup.scheduler, setup.schedule_interval),
        "loss": _callable(setup.loss_fn), **_data(setup.data, "data"),
        **_data(setup.val, "val"), "metrics": describe(sorted(setup.metrics)),
        "monitor": f"{setup.monitor} ({setup.mode})",
        "stop": describe(list(fixed)), "seed": describe(setup.seed),
        **_step_options(setup),
    }


def _short(text: str) -> str:
    return text if len(text) <= _SHOWN else text[:_SHOWN - 3] + "..."


def differences(saved: dict[str, str], now: dict[str, str]) -> list[str]:
    """Each key whose value differs, as ``key: <saved> in the checkpoint, <now> now``."""
    out = []
    for key in [*saved, *(k for k in now if k not in saved)]:
        a, b = saved.get(key, "(absent)"), now.get(key, "(absent)")
        if a != b:
            out.append(f"{key}: {_short(a)} in the checkpoint, {_short(b)} now")
    return out


def check_fingerprint(payload: dict[str, Any], now: dict[str, str], source: Any,
                      explicit: bool) -> None:
    """Refuse (:class:`CheckpointError`) a checkpoint written by another run. One written
    before checkpoints carried a fingerprint cannot be checked: it is refused when found
    in the folder (``resume=True``), accepted with a warning when named (``resume=path``)."""
    saved = payload.get("fingerprint")
    if saved is None:
        if not explicit:
            raise CheckpointError(
                f"Invalid checkpoint {source}: it records no run configuration (written by "
                "an older antigrad), so it cannot be checked to belong to this run; to "
                f"continue from it anyway, pass resume='{source}'")
        warnings.warn(f"Checkpoint {source} records no run configuration (written by an "
                      "older antigrad): resuming from it unchecked", RuntimeWarning,
                      stacklevel=3)
        return
    diff = differences(saved, now)
    if diff:
        more = f"; and {len(diff) - 8} more" if len(diff) > 8 else ""
        raise CheckpointError(
            f"Invalid checkpoint {source}: it belongs to another run configuration ("
            + "; ".join(diff[:8]) + more + "). Resume with the configuration it was "
            "written with, or train into another checkpoint folder")
