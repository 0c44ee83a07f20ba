"""The text of an ``-o``/``--schedule`` value, read safely: ``NAME(key=value, ...)``.

``NAME`` is a registry name (``adam``), a ``module:attribute`` entry point
(``antigrad:AdamW``, ``torch:Adam``, ``mypkg.opt:make``) or a schedule name; the optional
keyword arguments are Python literals (numbers, strings, booleans, ``None``, tuples,
lists, dicts). Nothing is evaluated: the arguments are parsed by :mod:`ast` and each value
is read by :func:`ast.literal_eval`, so a value such as ``__import__('os')`` is refused.
``@`` joins an optimizer and its schedule (``"antigrad:SGD(momentum=0.9)@cosine"``); a
comma outside parentheses separates values (``-o "sgd,adam(eps=1e-6)"``).

Example::

    >>> parse_call("antigrad:AdamW(weight_decay=0.1, betas=(0.9, 0.95))")
    ('antigrad:AdamW', {'weight_decay': 0.1, 'betas': (0.9, 0.95)})
    >>> split_top_level("sgd, adam(betas=(0.8, 0.9))@cosine", ",")
    ['sgd', 'adam(betas=(0.8, 0.9))@cosine']
"""

from __future__ import annotations

import ast
import re
from typing import Any

__all__ = ["split_top_level", "parse_call", "MAX_TEXT"]

#: Longest optimizer or schedule text accepted (it is stored and shown in tables).
MAX_TEXT = 200

_HEAD = re.compile(r"[A-Za-z_][\w.\-]*(:[A-Za-z_][\w.]*)?")
_OPEN, _CLOSE = "([{", ")]}"


def split_top_level(text: str, sep: str) -> list[str]:
    """``text`` split at each ``sep`` outside brackets and quotes, parts stripped and
    empty parts dropped."""
    parts, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def _literal(node: ast.expr, key: str, text: str) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise ValueError(f"invalid value for {key!r} in {text!r}: "
                         f"{ast.unparse(node)!r} is not a literal (a number, string, "
                         "True/False/None, or a tuple/list/dict of them)") from None


def parse_call(text: str) -> tuple[str, dict[str, Any]]:
    """``"NAME(key=literal, ...)"`` -> ``(NAME, {key: value})``; ``"NAME"`` -> ``(NAME, {})``.

    Raises ``ValueError`` saying what is wrong: no name, positional arguments, a value that
    is not a literal, a repeated key, unbalanced parentheses, a text over
    :data:`MAX_TEXT` characters.
    """
    if not isinstance(text, str):
        raise TypeError(f"expected a str, got {type(text).__name__}")
    text = text.strip()
    if len(text) > MAX_TEXT:
        raise ValueError(f"{text[:40]!r}... is longer than {MAX_TEXT} characters")
    head, paren, rest = text.partition("(")
    head = head.strip()
    if not _HEAD.fullmatch(head):
        raise ValueError(f"invalid name {head!r} in {text!r} (write NAME, module:attribute, "
                         "or either with (key=value, ...))")
    if not paren:
        return head, {}
    try:
        call = ast.parse("f(" + rest, mode="eval").body
    except SyntaxError:
        raise ValueError(f"cannot read the arguments of {text!r}: write "
                         f"{head}(key=value, ...) with literal values") from None
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)) or call.args:
        raise ValueError(f"{text!r}: arguments must be given by keyword (key=value)")
    kwargs: dict[str, Any] = {}
    for kw in call.keywords:
        if kw.arg is None:
            raise ValueError(f"{text!r}: '**' is not allowed; write key=value")
        if kw.arg in kwargs:
            raise ValueError(f"{text!r}: {kw.arg!r} is given twice")
        kwargs[kw.arg] = _literal(kw.value, kw.arg, text)
    return head, kwargs
