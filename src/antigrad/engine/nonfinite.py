"""What a NaN or infinite gradient does: the one place that decides, counts and explains.

``"raise"`` refuses the step with :class:`~antigrad.errors.NonFiniteGradientError` naming
the parameter, ``"skip"`` refuses it silently and counts it, ``"ignore"`` applies it (as
torch.optim does). A refused step writes nothing: the callers check before they write, or
(on the Triton backend) the device checks and the verdict is settled later
(:meth:`NonFinitePolicy.settle`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from ..errors import NonFiniteGradientError
from . import sharded, tritonkernel

MODES = ("raise", "skip", "ignore")

_HOW_TO = "Pass nonfinite='skip' to skip such steps or 'ignore' to apply them."
_UNCHANGED = "the step was not applied and parameters and optimizer state are unchanged. "


class NonFinitePolicy:
    """A mode (see the module docstring), the count of skipped steps, and the verdict of
    the last device-checked step while it is still pending."""

    def __init__(self, mode: str, skipped: int = 0) -> None:
        self.mode = mode
        self.skipped = skipped
        # (device verdict, what to do when it says the step was refused)
        self._pending: tuple[tritonkernel.Verdict, Callable[[int, bool], str]] | None = None

    @property
    def checks(self) -> bool:
        """Whether gradients are checked at all (not with ``"ignore"``)."""
        return self.mode != "ignore"

    @property
    def pending(self) -> bool:
        """Whether a device verdict waits to be settled."""
        return self._pending is not None

    def refuse(self, message: str | Callable[[], str]) -> None:
        """A step was refused: count it (``"skip"``) or raise (``"raise"``). ``message`` may
        be a function, so that finding the culprit costs nothing when skipping."""
        if self.mode == "skip":
            self.skipped += 1
            return
        raise NonFiniteGradientError(message if isinstance(message, str) else message())

    def defer(self, verdict: tritonkernel.Verdict,
              on_refused: Callable[[int, bool], str]) -> None:
        """Keep a device verdict to settle later; ``on_refused(index, has_nan)`` undoes
        what the refused step advanced and returns the message."""
        self._pending = (verdict, on_refused)

    def settle(self) -> None:
        """Settle the pending verdict, if any (waiting for the device if needed)."""
        pending, self._pending = self._pending, None
        if pending is None:
            return
        verdict, on_refused = pending
        bad = verdict.value()
        if bad is not None:
            self.refuse(on_refused(*bad))


def describe(groups: list[dict[str, Any]]) -> str:
    """The message for a refused step: the first parameter whose gradient is not finite."""
    for gi, group in enumerate(groups):
        for i, p in enumerate(group["params"]):
            kind = None if p.grad is None else _not_finite(p.grad)
            if kind is not None:
                return (f"gradient of parameter {i} in param group {gi} (shape "
                        f"{tuple(p.shape)}) contains {kind}; {_UNCHANGED}{_HOW_TO}")
    return f"a gradient shard on another rank is not finite; {_UNCHANGED}{_HOW_TO}"


def describe_deferred(position: int, group_index: int, shape: tuple[int, ...],
                      has_nan: bool) -> str:
    """The message for a step the device refused (its verdict was settled a step later)."""
    return (f"gradient of parameter {position} in param group {group_index} (shape "
            f"{shape}) contained {'NaN' if has_nan else 'infinity'} in the previous step; "
            f"that step was not applied (the device checked it without waiting) and "
            f"parameters and optimizer state are as before it; this call did nothing "
            f"either. {_HOW_TO}")


def _not_finite(grad: Tensor) -> str | None:
    """``"NaN"``, ``"infinity"`` or None (finite), on this rank's shard."""
    (g,), _ = sharded.local_view([grad])
    g = g._values() if g.is_sparse else g
    if bool(torch.isfinite(g).all()):
        return None
    return "NaN" if bool(torch.isnan(g).any()) else "infinity"
