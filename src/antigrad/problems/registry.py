"""One registry of every benchmark problem: 2-D surfaces and training problems by name.

A training problem may also be a user's own, named by a ``module:function`` entry point
(``"mypkg.tasks:make"``): the function is called without arguments and returns a
:class:`~antigrad.problems.TrainingProblem` (an attribute that *is* one works too). The
module is found on ``sys.path`` (so ``PYTHONPATH``, or the current folder when run as
``python -m antigrad.cli``). Whatever is wrong (module not found, attribute missing, the
call failed, the wrong type) raises :class:`~antigrad.errors.EntryPointError`.

Example::

    >>> from antigrad.problems import get_problem, problem_names
    >>> "mnist1d-mlp" in problem_names()
    True
    >>> get_problem("rosenbrock").minima
    ((1.0, 1.0),)
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache, partial

from ..entry_points import is_entry_point, load_entry_point
from ..errors import EntryPointError, UnknownNameError  # re-exported: its old home
from . import workloads
from .base import TrainingProblem
from .stochastic import noisy_least_squares, noisy_quadratic
from .surfaces import SURFACES, Surface

__all__ = ["UnknownNameError", "EntryPointError", "get_problem", "get_surface",
           "get_training_problem", "problem_names", "surface_names", "training_problem_names",
           "DEFAULT_PROBLEM"]

#: The problem ``antigrad compare`` runs when none is named.
DEFAULT_PROBLEM = "mnist1d-mlp"

_TRAINING: dict[str, Callable[[], TrainingProblem]] = {
    "noisy-quadratic": noisy_quadratic,
    "noisy-least-squares": noisy_least_squares,
    "breast-cancer": workloads.breast_cancer_logreg,
    "digits-mlp": workloads.digits_mlp,
    "mnist1d-mlp": workloads.mnist1d_mlp,
    "mnist1d-cnn": workloads.mnist1d_cnn,
    **{f"mnist1d-paper-{kind}": partial(workloads.mnist1d_paper, kind)
       for kind in workloads.MNIST1D_PAPER},
}


def surface_names() -> list[str]:
    """Names of the 2-D surfaces."""
    return list(SURFACES)


def training_problem_names() -> list[str]:
    """Names of the training problems (the ones ``compare`` accepts)."""
    return list(_TRAINING)


def problem_names() -> list[str]:
    """Every problem name: surfaces, then training problems."""
    return surface_names() + training_problem_names()


def get_surface(name: str) -> Surface:
    """The surface called ``name`` (with its default settings)."""
    if name not in SURFACES:
        raise UnknownNameError("surface", name, surface_names())
    return SURFACES[name]()


@cache
def get_training_problem(name: str) -> TrainingProblem:
    """The training problem called ``name``, or the one a ``module:function`` entry point
    returns (see the module doc)."""
    if is_entry_point(name):
        return _user_problem(name)
    if name not in _TRAINING:
        raise UnknownNameError("problem", name, training_problem_names())
    return _TRAINING[name]()


def _user_problem(text: str) -> TrainingProblem:
    obj = load_entry_point(text, "problem")
    if isinstance(obj, TrainingProblem):
        return obj
    if not callable(obj):
        raise EntryPointError("problem", text, f"{type(obj).__name__} is neither a function "
                              "returning a TrainingProblem nor a TrainingProblem")
    try:
        made = obj()
    except Exception as err:  # the user's function failed: say how, before any work
        raise EntryPointError("problem", text, f"calling it failed: {type(err).__name__}: "
                              f"{err}") from None
    if not isinstance(made, TrainingProblem):
        raise EntryPointError("problem", text, f"it returned {type(made).__name__}, not an "
                              "antigrad.problems.TrainingProblem")
    return made


def get_problem(name: str) -> Surface | TrainingProblem:
    """Any problem by name: a :class:`Surface` or a :class:`TrainingProblem`."""
    if name in SURFACES:
        return get_surface(name)
    if name in _TRAINING:
        return get_training_problem(name)
    raise UnknownNameError("problem", name, problem_names())
