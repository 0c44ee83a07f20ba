"""The ``Args:`` section of a docstring, completed from meanings written once for a family.

A family of optimizers shares most of its arguments (the textbook face: ``params``, ``lr``,
the moments' decay rates, ``nonfinite``). Each shared meaning is written once, in the
family's table; a class's docstring documents only what is its own (an argument it alone
has, or a shared one that means something else there). :func:`complete_args` then writes
the whole section, one entry per ``__init__`` parameter in signature order, so ``help()``
and the rendered docs show every argument, and a declared constraint is stated from the
same object that checks it, so the two cannot disagree.

Example::

    >>> from antigrad.validation import UNIT
    >>> doc = '''Summary.
    ...
    ...     Args:
    ...         gamma: the momentum.
    ...
    ...     Reference: a paper.'''
    >>> print(complete_args(doc, ["lr", "gamma"], {"lr": "learning rate."},
    ...                     {"gamma": UNIT}))
    Summary.
    <BLANKLINE>
        Args:
            lr: learning rate.
            gamma: the momentum. Must be in [0, 1).
    <BLANKLINE>
        Reference: a paper.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable, Mapping

from .validation import Constraint

WIDTH = 92  # the docstrings' own line width (ruff's 100 less the class body's indent)
_ENTRY = re.compile(r"(\w+):\s*(.*)")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _section_end(lines: list[str], header: int) -> int:
    """The index of the first line after ``lines[header]`` that is not indented deeper
    (blank lines just before it belong to what follows)."""
    end = header + 1
    for i in range(header + 1, len(lines)):
        if lines[i].strip() and _indent(lines[i]) <= _indent(lines[header]):
            break
        if lines[i].strip():
            end = i + 1
    return end


def _own_entries(body: list[str]) -> dict[str, list[str]]:
    """The entries a docstring writes itself: name -> its text lines (first line without
    the name, continuation lines stripped)."""
    entries: dict[str, list[str]] = {}
    current: list[str] = []
    base = min((_indent(line) for line in body if line.strip()), default=0)
    for line in body:
        head = _ENTRY.fullmatch(line.strip()) if _indent(line) == base else None
        if head:
            current = entries.setdefault(head[1], [])
            current.append(head[2])
        elif line.strip():
            current.append(line.strip())
    return entries


def _entry(name: str, text: str, constraint: Constraint | None, indent: str) -> list[str]:
    if constraint is not None:
        text = f"{text} Must be {constraint}."
    return textwrap.wrap(f"{name}: {text}", WIDTH, initial_indent=indent,
                         subsequent_indent=indent + "    ", break_on_hyphens=False)


def complete_args(doc: str | None, names: Iterable[str], shared: Mapping[str, str],
                  constraints: Mapping[str, Constraint] | None = None) -> str | None:
    """``doc`` with its ``Args:`` section holding one entry for each of ``names``, in that
    order: the docstring's own entry if it writes one, else the meaning in ``shared``; each
    followed by ``Must be ...`` where ``constraints`` declares one.

    Lenient, since it runs when a class is defined (a user's subclass included): a ``doc``
    without an ``Args:`` section comes back as it is, and a name documented nowhere is left
    out (tests/test_docstring_template.py names it for antigrad's own classes).
    """
    lines = (doc or "").split("\n")
    headers = [i for i, line in enumerate(lines) if line.strip() == "Args:"]
    if not headers:
        return doc
    start = headers[0]
    end = _section_end(lines, start)
    own = _own_entries(lines[start + 1:end])
    indent = " " * (_indent(lines[start]) + 4)
    section = []
    for name in names:
        if name in own or name in shared:
            text = " ".join(own[name]) if name in own else shared[name]
            section += _entry(name, text, (constraints or {}).get(name), indent)
    return "\n".join(lines[:start + 1] + section + lines[end:])
