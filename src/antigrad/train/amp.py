"""Mixed precision for the fit loop, with torch's own tools.

``precision="bf16"`` runs the forward pass and the loss under
``torch.autocast(device_type, dtype=torch.bfloat16)``; ``"fp16"`` under float16 autocast
with a ``torch.amp.GradScaler`` (the loss is scaled before backward, the gradients are
unscaled before they are measured or clipped, and a step whose gradients overflowed is
skipped by the scaler, which then lowers its scale). The weights and the optimizer state
stay in their own dtype. ``None`` (default) changes nothing.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch

__all__ = ["Precision", "Mixed"]

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class Precision:
    """The validated ``precision=`` option of :func:`antigrad.fit`."""

    def __init__(self, precision: str | None) -> None:
        if precision is not None and precision not in _DTYPES:
            raise ValueError(f"Invalid precision: {precision!r} (must be None, 'bf16' or "
                             "'fp16')")
        self.name = precision

    def for_device(self, device: torch.device) -> Mixed:
        """A fresh autocast/scaler pair for one run on ``device``."""
        return Mixed(_DTYPES.get(self.name) if self.name else None, device)


class Mixed:
    """One run's autocast context and (for float16) gradient scaler."""

    def __init__(self, dtype: torch.dtype | None, device: torch.device) -> None:
        self.dtype, self.device_type = dtype, device.type
        self.scaler = torch.amp.GradScaler(device.type) if dtype is torch.float16 else None

    def autocast(self) -> Any:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def backward(self, loss: torch.Tensor) -> None:
        (loss if self.scaler is None else self.scaler.scale(loss)).backward()

    def unscale(self, optimizer: torch.optim.Optimizer) -> None:
        if self.scaler is not None:
            self.scaler.unscale_(optimizer)

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        if self.scaler is None:
            optimizer.step()
            return
        self.scaler.step(optimizer)
        self.scaler.update()

    def skip(self) -> None:
        """A step not applied (non-finite loss): close the scaler's iteration."""
        if self.scaler is not None:
            self.scaler.update()

    def state_dict(self) -> dict[str, Any] | None:
        return None if self.scaler is None else self.scaler.state_dict()

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        if self.scaler is not None and state is not None:
            self.scaler.load_state_dict(state)
