"""``module:attribute`` entry points: how a user names their own problem or optimizer.

``"mypkg.tasks:make"`` imports ``mypkg.tasks`` and takes its attribute ``make`` (a dotted
attribute path such as ``"mypkg.tasks:Tasks.small"`` walks attributes). Everything that can
go wrong is said before any work, as an :class:`~antigrad.errors.EntryPointError` naming
the entry point and what is wrong: malformed text, a module that is not found (or fails
to import), a missing attribute. What the attribute must be is the caller's business
(:func:`antigrad.problems.get_training_problem`, :mod:`antigrad.lab.optimizers`).

Example::

    >>> from antigrad.entry_points import load_entry_point
    >>> load_entry_point("math:sqrt", "function")(9.0)
    3.0
"""

from __future__ import annotations

import difflib
import re
from importlib import import_module
from typing import Any

from .errors import EntryPointError

__all__ = ["EntryPointError", "is_entry_point", "load_entry_point"]

_MODULE = r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*"
_ENTRY = re.compile(rf"({_MODULE}):({_MODULE})")


def is_entry_point(text: str) -> bool:
    """Whether ``text`` is written as ``module:attribute`` (it may still fail to load)."""
    return isinstance(text, str) and ":" in text


def _nearest(name: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _import(kind: str, text: str, module: str) -> Any:
    try:
        return import_module(module)
    except ModuleNotFoundError as err:
        missing = err.name or module
        own = module == missing or module.startswith(missing + ".")
        where = "" if own else f" (it imports {missing!r}, which is not found)"
        raise EntryPointError(kind, text, f"module {module!r} not found{where}; is it "
                              "installed or on PYTHONPATH?") from None
    except Exception as err:  # the user's module raised while importing
        raise EntryPointError(kind, text, f"importing module {module!r} failed: "
                              f"{type(err).__name__}: {err}") from None


def load_entry_point(text: str, kind: str) -> Any:
    """The object ``text = "module:attribute"`` names; :class:`EntryPointError` otherwise.

    ``kind`` names what the entry point should give (used in messages).
    """
    match = _ENTRY.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise EntryPointError(kind, str(text), "write it as module:attribute, e.g. "
                              "'mypkg.tasks:make'")
    module, attrs = match.groups()
    obj = _import(kind, text, module)
    for i, attr in enumerate(attrs.split(".")):
        if not hasattr(obj, attr):
            owner = module if i == 0 else f"{module}:{'.'.join(attrs.split('.')[:i])}"
            public = [n for n in dir(obj) if not n.startswith("_")]
            raise EntryPointError(kind, text, f"{owner!r} has no attribute {attr!r}"
                                  + _nearest(attr, public))
        obj = getattr(obj, attr)
    return obj
