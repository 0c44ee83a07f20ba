"""Every exception antigrad raises on purpose, in one place.

Each class keeps a standard base, so code that catches the standard exception keeps
working: ``except FloatingPointError`` catches both non-finite errors, ``except ValueError``
catches a bad name, config or report folder. All are importable from ``antigrad``,
``antigrad.errors`` and the module that raises them.

This module sits below every other one: it imports nothing of antigrad's and no torch.

Example::

    >>> import antigrad
    >>> issubclass(antigrad.NonFiniteGradientError, FloatingPointError)
    True
    >>> try:
    ...     antigrad.problems.get_problem("rosenbrok")
    ... except antigrad.UnknownNameError as err:
    ...     print(err.kind, err.name)
    problem rosenbrok
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["NonFiniteGradientError", "NonFiniteLossError", "HessianMemoryError",
           "CheckpointError", "StoreError", "UnknownNameError", "ConfigError",
           "ReportDirError", "EntryPointError", "StopTraining"]


class NonFiniteGradientError(FloatingPointError):
    """A gradient holds NaN or infinity; the step was not applied."""


class NonFiniteLossError(FloatingPointError):
    """The loss (or its gradient) stayed NaN/inf however far the line search backtracked.

    Parameters are left at the last point whose loss was finite.
    """


class HessianMemoryError(MemoryError):
    """A dense ``n × n`` matrix would not fit in the allowed memory; nothing was allocated."""


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be used (missing, truncated, corrupted, foreign)."""


class StoreError(LookupError):
    """A result store that cannot be used, a comparison it does not hold, or a malformed one."""


class UnknownNameError(ValueError):
    """A name that is not in a registry (or a hyperparameter nothing reads); the message
    names the nearest valid choice (``nearest``), if one is close, and lists them all."""

    def __init__(self, kind: str, name: object, choices: Iterable[str]) -> None:
        self.kind, self.name, self.choices = kind, name, list(choices)
        close = difflib.get_close_matches(str(name), self.choices, n=1)
        self.nearest = close[0] if close else None
        hint = f" (did you mean {self.nearest!r}?)" if self.nearest else ""
        super().__init__(f"unknown {kind} {name!r}{hint}; choose from: "
                         f"{', '.join(self.choices)}")


class ConfigError(ValueError):
    """A bad :class:`~antigrad.lab.CompareConfig` value; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class EntryPointError(ValueError):
    """A ``module:attribute`` entry point (a user's problem or optimizer) that cannot be used:
    its module is not found, the attribute is missing, calling it fails or it gives the wrong
    type. ``kind`` says what it should give (``"problem"``, ``"optimizer"``), ``target`` is
    the text as written."""

    def __init__(self, kind: str, target: str, message: str) -> None:
        self.kind, self.target = kind, target
        super().__init__(f"{kind} entry point {target!r}: {message}")


class ReportDirError(ValueError):
    """A report folder that antigrad must not (or cannot) write."""


class StopTraining(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raise from a callback to end training after the current step."""
