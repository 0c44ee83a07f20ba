"""Benchmark problems: 2-D loss surfaces, synthetic noisy problems, real data with models.

- :mod:`~antigrad.problems.surfaces`: quadratic (chosen condition number), Rosenbrock,
  Beale, Himmelblau, the six-hump camel (minima of different values), a saddle,
  Rastrigin — each with its known minima.
- :mod:`~antigrad.problems.stochastic`: a 100-D noisy quadratic (DeepOBS style) and
  noisy least squares, with known optima.
- :mod:`~antigrad.problems.workloads`: logistic regression on breast cancer, an MLP on
  digits, an MLP and a small CNN on MNIST-1D (generated offline, cached).

Every problem is reachable by name through :func:`get_problem`; a user's own training
problem by a ``module:function`` entry point (:func:`get_training_problem`).
"""

from .base import Task, TrainingProblem, accuracy, cross_entropy_loss
from .registry import (
    DEFAULT_PROBLEM,
    EntryPointError,
    UnknownNameError,
    get_problem,
    get_surface,
    get_training_problem,
    problem_names,
    surface_names,
    training_problem_names,
)
from .surfaces import Surface

__all__ = ["Task", "TrainingProblem", "Surface", "accuracy", "cross_entropy_loss",
           "DEFAULT_PROBLEM", "UnknownNameError", "EntryPointError", "get_problem", "get_surface",
           "get_training_problem", "problem_names", "surface_names",
           "training_problem_names"]
