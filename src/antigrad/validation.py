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
            raise ValueError(f"Invalid {name} value: a tensor of shape {tuple(value.shape)} "
                             f"(Tensor {name} must be 1-element)")
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"Invalid {name} value: {value!r} (must be a number)")
    value = float(value)
    if math.isnan(value):
        raise ValueError(f"Invalid {name} value: {value} (must not be NaN)")
    return value


def at_least(name: str, value: Any, low: float = 0.0) -> None:
    if not number(name, value) >= low:
        raise ValueError(f"Invalid {name} value: {value} (must be >= {low:g})")


def in_unit_interval(name: str, value: Any, closed: bool = False) -> None:
    """``value`` in [0, 1), or [0, 1] with ``closed``."""
    v = number(name, value)
    if not (0.0 <= v <= 1.0 if closed else 0.0 <= v < 1.0):
        raise ValueError(f"Invalid {name} value: {value} (must be in "
                         f"[0, 1{']' if closed else ')'})")


def betas(value: Any) -> None:
    """A pair of numbers in [0, 1), both plain numbers or both tensors (as torch requires).

    The messages read as torch.optim's (``Invalid beta parameter at index 0: 1.0``) followed
    by why."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"Invalid betas value: {value!r} (must be a pair (beta1, beta2))")
    for index, beta in enumerate(value):
        v = number(f"beta{index + 1}", beta)
        if not 0.0 <= v < 1.0:
            raise ValueError(f"Invalid beta parameter at index {index}: {beta} "
                             f"(beta{index + 1} must be in [0, 1))")
    if isinstance(value[0], torch.Tensor) != isinstance(value[1], torch.Tensor):
        raise ValueError(f"Invalid betas value: {value!r} (betas must be either both floats "
                         f"or both Tensors)")


def no_tensor_with_foreach(foreach: Any, capturable: Any, **values: Any) -> None:
    """torch's Adam/AdamW refuse a tensor lr or betas with foreach=True and capturable=False."""
    if not foreach or capturable:
        return
    for name, value in values.items():
        items = enumerate(value) if isinstance(value, (tuple, list)) else ((None, value),)
        for index, item in items:
            if isinstance(item, torch.Tensor):
                what = name if index is None else f"{name}[{index}]"
                raise ValueError(f"Invalid {what} value: a tensor with foreach=True ({what} as "
                                 f"a Tensor is not supported for capturable=False and "
                                 f"foreach=True, as in torch.optim; pass a float or "
                                 f"foreach=False)")


def fused_options(group: dict[str, Any]) -> None:
    """torch.optim refuses ``fused=True`` together with ``foreach=True`` (RuntimeError)."""
    if group.get("fused") and group.get("foreach"):
        raise RuntimeError("Invalid fused value: True with foreach=True (`fused` and `foreach` "
                           "cannot be `True` together: torch.optim runs one or the other)")


def fused_device(p: torch.Tensor) -> None:
    """With ``fused=True`` torch.optim accepts only floating-point parameters on devices with
    fused kernels, and raises RuntimeError at the first step otherwise (a meta tensor, say)."""
    try:
        from torch.utils._foreach_utils import _get_fused_kernels_supported_devices
        devices = _get_fused_kernels_supported_devices()
    except ImportError:  # an older torch: its documented list
        devices = ["mps", "cuda", "xpu", "hpu", "cpu", "mtia"]
    if p.device.type not in devices or not torch.is_floating_point(p):
        raise RuntimeError(f"Invalid fused value: True for a parameter of dtype {p.dtype} on "
                           f"device {p.device.type} (`fused=True` requires all the params to "
                           f"be floating point Tensors of supported devices: {devices})")
