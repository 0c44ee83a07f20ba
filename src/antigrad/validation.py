"""Hyperparameter checks shared by every optimizer: a ValueError naming what is wrong."""

from __future__ import annotations

import math
from typing import Any

import torch


def number(name: str, value: Any) -> float:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"Invalid {name}: {value!r} (must be a number)")
    if math.isnan(value):
        raise ValueError(f"Invalid {name}: {value} (must not be NaN)")
    return float(value)


def at_least(name: str, value: Any, low: float = 0.0) -> None:
    if not number(name, value) >= low:
        raise ValueError(f"Invalid {name}: {value} (must be >= {low:g})")


def in_unit_interval(name: str, value: Any, closed: bool = False) -> None:
    """``value`` in [0, 1), or [0, 1] with ``closed``."""
    v = number(name, value)
    if not (0.0 <= v <= 1.0 if closed else 0.0 <= v < 1.0):
        raise ValueError(f"Invalid {name}: {value} (must be in [0, 1{']' if closed else ')'})")


def betas(value: Any) -> None:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"Invalid betas: {value!r} (must be a pair (beta1, beta2))")
    in_unit_interval("beta1", value[0])
    in_unit_interval("beta2", value[1])


def unsupported(owner: str, **flags: bool) -> None:
    """torch.optim options that antigrad does not implement raise instead of being ignored."""
    for name, on in flags.items():
        if on:
            raise ValueError(f"Invalid {name}: True ({owner} does not support {name}=True; "
                             f"use the torch.optim optimizer for that)")
