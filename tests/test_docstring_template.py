"""Every public optimizer's class docstring follows one template (docs/adding_an_optimizer.md):
a one-line summary, a ``.. math::`` block in the notation of SPEC (``w`` the weights, ``g``
the gradient, ``\\varepsilon`` the learning rate, ``s`` the small constant), an ``Args:``
section naming every parameter of ``__init__``, a ``>>>`` example (run by
tests/test_docstrings.py) and a ``Reference:`` line (for the textbook face, the lecture part
``L<n>`` as well)."""

import inspect
import re

import pytest
import torch

import antigrad
import antigrad.second_order
import antigrad.textbook

# Symbols of other notations for what SPEC calls w (weights), varepsilon (learning rate)
# and s (the constant that keeps a denominator away from 0).
FOREIGN_SYMBOLS = {r"\theta": "w (the weights)", r"\eta": r"\varepsilon (the learning rate)",
                   r"\epsilon": "s (the constant in the denominator)"}


def _public_optimizers() -> dict[str, type]:
    found: dict[type, str] = {}
    for module in (antigrad, antigrad.textbook, antigrad.second_order):
        for name in module.__all__:
            value = getattr(module, name)
            if inspect.isclass(value) and issubclass(value, torch.optim.Optimizer):
                found.setdefault(value, f"{module.__name__}.{name}")
    return {name: cls for cls, name in found.items()}


OPTIMIZERS = _public_optimizers()


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _block(lines: list[str], start: int) -> list[str]:
    """The lines after ``lines[start]`` indented deeper than it (blank lines included)."""
    body = []
    for line in lines[start + 1:]:
        if line.strip() and _indent(line) <= _indent(lines[start]):
            break
        body.append(line)
    return body


def _section(doc: str, header: str) -> list[str]:
    """The lines under ``header`` (a line of its own), or [] if there is none."""
    lines = doc.splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip() == header]
    return _block(lines, starts[0]) if starts else []


def _math(doc: str) -> str:
    """The text of every ``.. math::`` block (its first line and the lines under it)."""
    lines = doc.splitlines()
    blocks = []
    for i, line in enumerate(lines):
        if line.strip().startswith(".. math::"):
            blocks.append(line.strip().removeprefix(".. math::"))
            blocks.extend(_block(lines, i))
    return "\n".join(blocks)


def _documented_args(doc: str) -> set[str]:
    """Names at the head of each ``Args:`` entry (``a, b: ...`` documents a and b)."""
    body = [line for line in _section(doc, "Args:") if line.strip()]
    if not body:
        return set()
    indent = min(_indent(line) for line in body)
    names: set[str] = set()
    for line in body:
        head = re.match(r"([\w*, ]+):", line[indent:])
        if _indent(line) == indent and head:
            names.update(n.strip().lstrip("*") for n in head.group(1).split(","))
    return names


def _template_problems(cls: type) -> list[str]:
    doc = inspect.cleandoc(cls.__dict__.get("__doc__") or "")
    problems = []
    lines = doc.splitlines()
    if not lines or not lines[0].strip() or (len(lines) > 1 and lines[1].strip()):
        problems.append("a one-line summary (first line, then a blank line)")
    math = _math(doc)
    if not math.strip():
        problems.append("a '.. math::' block")
    elif r"w \leftarrow" not in math:
        problems.append(r"the update of w in the math block, written 'w \leftarrow ...'")
    for symbol, ours in FOREIGN_SYMBOLS.items():
        if re.search(re.escape(symbol) + r"(?![a-zA-Z])", math):
            problems.append(f"SPEC's notation in the math block: {ours} instead of {symbol}")
    params = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    missing = [p for p in params if p not in _documented_args(doc)]
    if missing:
        problems.append(f"an 'Args:' section naming {', '.join(missing)}")
    if not re.search(r"^\s*>>> ", doc, re.MULTILINE):
        problems.append("an example with '>>>' lines")
    reference = re.search(r"^Reference:(.*)", doc, re.MULTILINE)
    if reference is None:
        problems.append("a 'Reference:' line")
    elif cls.__module__ == "antigrad.textbook" and not re.search(r"\bL\d+\b", reference[1]):
        problems.append("the lecture part (e.g. 'L11', SPEC.md) in the 'Reference:' line")
    return problems


def test_every_public_optimizer_is_collected():
    names = {cls.__name__ for cls in OPTIMIZERS.values()}
    assert {"SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "NAdam", "LBFGS", "LAMB", "LARS",
            "ChainOptimizer", "SecondOrderOptimizer", "Newton", "BFGS", "DiagonalNewton",
            "Momentum", "Nesterov", "AdaGrad", "AdamSimple", "Nadam"} <= names
    assert len(OPTIMIZERS) >= 23


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_docstring_follows_the_template(name):
    problems = _template_problems(OPTIMIZERS[name])
    assert not problems, f"{name}'s docstring lacks: " + "; ".join(problems)


def test_the_check_names_what_is_missing():
    class Bare(torch.optim.Optimizer):
        r"""Summary
        spilling onto a second line.

        .. math:: \theta \leftarrow \theta - \eta g

        Args:
            params: the parameters.
        """

        def __init__(self, params, lr: float = 0.1) -> None:
            super().__init__(params, {"lr": lr})

    problems = _template_problems(Bare)
    assert problems == [
        "a one-line summary (first line, then a blank line)",
        r"the update of w in the math block, written 'w \leftarrow ...'",
        r"SPEC's notation in the math block: w (the weights) instead of \theta",
        r"SPEC's notation in the math block: \varepsilon (the learning rate) instead of \eta",
        "an 'Args:' section naming lr",
        "an example with '>>>' lines",
        "a 'Reference:' line"]
