"""One registry of every benchmark problem: 2-D surfaces and training problems by name.

Example::

    >>> from antigrad.problems import get_problem, problem_names
    >>> "mnist1d-mlp" in problem_names()
    True
    >>> get_problem("rosenbrock").minima
    ((1.0, 1.0),)
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from ..errors import UnknownNameError  # re-exported: its old home
from .base import TrainingProblem
from .stochastic import noisy_least_squares, noisy_quadratic
from .surfaces import SURFACES, Surface
from .workloads import breast_cancer_logreg, digits_mlp, mnist1d_cnn, mnist1d_mlp

__all__ = ["UnknownNameError", "get_problem", "get_surface", "get_training_problem",
           "problem_names", "surface_names", "training_problem_names", "DEFAULT_PROBLEM"]

#: The problem ``antigrad compare`` runs when none is named.
DEFAULT_PROBLEM = "mnist1d-mlp"

_TRAINING: dict[str, Callable[[], TrainingProblem]] = {
    "noisy-quadratic": noisy_quadratic,
    "noisy-least-squares": noisy_least_squares,
    "breast-cancer": breast_cancer_logreg,
    "digits-mlp": digits_mlp,
    "mnist1d-mlp": mnist1d_mlp,
    "mnist1d-cnn": mnist1d_cnn,
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
    """The training problem called ``name``."""
    if name not in _TRAINING:
        raise UnknownNameError("problem", name, training_problem_names())
    return _TRAINING[name]()


def get_problem(name: str) -> Surface | TrainingProblem:
    """Any problem by name: a :class:`Surface` or a :class:`TrainingProblem`."""
    if name in SURFACES:
        return get_surface(name)
    if name in _TRAINING:
        return get_training_problem(name)
    raise UnknownNameError("problem", name, problem_names())
