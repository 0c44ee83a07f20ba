"""Hyperparameter checks shared by every optimizer: a ValueError naming what is wrong.

Any real number is a number here (``int``, ``float``, NumPy scalars such as
``np.float32(1e-3)``, ``fractions.Fraction``, ...), and so is a one-element tensor, as in
torch.optim; ``bool`` is not.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import torch


def number(name: str, value: Any) -> float:
    """``value`` as a float: TypeError if it is not a real number, ValueError if NaN or a
    tensor of more than one element (torch's ``Tensor lr must be 1-element``)."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"Invalid {name}: a tensor of shape {tuple(value.shape)} (a tensor "
                             f"{name} must be 1-element)")
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"Invalid {name}: {value!r} (must be a number)")
    value = float(value)
    if math.isnan(value):
        raise ValueError(f"Invalid {name}: {value} (must not be NaN)")
    return value


def at_least(name: str, value: Any, low: float = 0.0) -> None:
    if not number(name, value) >= low:
        raise ValueError(f"Invalid {name}: {value} (must be >= {low:g})")


def in_unit_interval(name: str, value: Any, closed: bool = False) -> None:
    """``value`` in [0, 1), or [0, 1] with ``closed``."""
    v = number(name, value)
    if not (0.0 <= v <= 1.0 if closed else 0.0 <= v < 1.0):
        raise ValueError(f"Invalid {name}: {value} (must be in [0, 1{']' if closed else ')'})")


def betas(value: Any) -> None:
    """A pair of numbers in [0, 1), both plain numbers or both tensors (as torch requires)."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"Invalid betas: {value!r} (must be a pair (beta1, beta2))")
    in_unit_interval("beta1", value[0])
    in_unit_interval("beta2", value[1])
    if isinstance(value[0], torch.Tensor) != isinstance(value[1], torch.Tensor):
        raise ValueError(f"Invalid betas: {value!r} (must be both numbers or both tensors)")


def no_tensor_with_foreach(foreach: Any, capturable: Any, **values: Any) -> None:
    """torch's Adam/AdamW refuse a tensor lr or betas with foreach=True and capturable=False."""
    if not foreach or capturable:
        return
    for name, value in values.items():
        items = value if isinstance(value, (tuple, list)) else (value,)
        if any(isinstance(v, torch.Tensor) for v in items):
            raise ValueError(f"Invalid {name}: a tensor with foreach=True (as in torch.optim, a "
                             f"tensor {name} needs foreach=False or capturable=True)")


def fused_options(group: dict[str, Any]) -> None:
    """torch.optim refuses ``fused=True`` together with ``foreach=True`` (RuntimeError)."""
    if group.get("fused") and group.get("foreach"):
        raise RuntimeError("Invalid fused=True with foreach=True (torch.optim runs one or the "
                           "other; pass at most one)")


def fused_device(p: torch.Tensor) -> None:
    """With ``fused=True`` torch.optim accepts only floating-point parameters on devices with
    fused kernels, and raises RuntimeError at the first step otherwise (a meta tensor, say)."""
    try:
        from torch.utils._foreach_utils import _get_fused_kernels_supported_devices
        devices = _get_fused_kernels_supported_devices()
    except ImportError:  # an older torch: its documented list
        devices = ["mps", "cuda", "xpu", "hpu", "cpu", "mtia"]
    if p.device.type not in devices or not torch.is_floating_point(p):
        raise RuntimeError(f"Invalid fused=True: a parameter of dtype {p.dtype} on device "
                           f"{p.device.type} (fused=True requires floating-point parameters on "
                           f"one of {devices})")
