r"""What a second-order method contributes to the shared loop: a search direction.

:class:`~antigrad.second_order.SecondOrderOptimizer` runs one loop for every method
(evaluate, direction, line search, stop); the method itself is a :class:`Direction`
object chosen at construction — :class:`SteepestDescent` here, and ``NewtonDirection``,
``NewtonCG``, ``LevenbergMarquardt``, ``TrustRegionNewton``, ``DiagonalNewtonDirection``,
``BFGSDirection``, ``LBFGSDirection`` in their own modules. A direction

* proposes ``d`` and the first step size to try, ``(d, t0) = direction(p, ctx)``;
* learns from the step ``s`` and the gradient change ``y`` (``remember``; quasi-Newton);
* may globalise the step itself (``move``: Levenberg–Marquardt damping, a trust region)
  instead of handing it to the line search.

Its hyperparameters (``hyperparameters()``) live in the param group, like every antigrad
hyperparameter, so schedulers and ``state_dict()`` see them; what it learns lives in the
optimizer state (``ctx.state``, under the first parameter, as ``torch.optim.LBFGS``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from torch import Tensor

from .flat import FlatParams, Point
from .result import SolveResult

if TYPE_CHECKING:
    from .line_search import LineSearch, Phi


@dataclass
class Context:
    """What a direction may read and write during one ``step()``."""

    flat: FlatParams
    state: dict[str, Any]
    options: dict[str, Any]  # the param group's options, ``lr`` as a float
    result: SolveResult
    #: nonfinite="ignore": a fixed step takes a non-finite point as it is (as torch)
    accept_nonfinite: bool = False


class Direction:
    """A search direction (base class: subclasses define :meth:`direction`)."""

    #: evaluations keep the gradient's graph (for Hessians / Hessian-vector products)
    needs_graph = False
    #: what the optimizer state may hold for this direction (checked on load)
    state_keys: frozenset[str] = frozenset()
    #: the real-number algebra of its curvature refuses complex parameters
    refuses_complex = False

    def hyperparameters(self) -> dict[str, Any]:
        """Param-group defaults this direction reads from ``ctx.options``."""
        return {}

    def setup(self, flat: FlatParams, options: dict[str, Any]) -> None:
        """Checks at construction (memory of dense matrices, ...)."""

    def direction(self, p: Point, ctx: Context) -> tuple[Tensor, float]:
        """The search direction ``d`` at ``p`` and the first step size to try."""
        raise NotImplementedError

    def move(self, phi: Phi, p: Point, d: Tensor, t: float, gtd: float, ctx: Context,
             line_search: LineSearch) -> tuple[float, Point]:
        """Find the next point along (or around) ``d``: the line search, by default."""
        return line_search(phi, p, d, t, gtd, tolerance_change=ctx.options["tolerance_change"],
                           accept_nonfinite=ctx.accept_nonfinite)

    def remember(self, ctx: Context, s: Tensor, y: Tensor) -> None:
        """Learn from the step ``s`` and the gradient change ``y`` (quasi-Newton)."""

    def forget(self, ctx: Context) -> None:
        """Drop learnt curvature (called when it stopped giving a descent direction)."""

    def resume(self, ctx: Context, p: Point) -> None:
        """Called with the first point of every ``step()`` (to finish a loaded history)."""

    def step_taken(self, new: Point, x0: Tensor, d: Tensor, t: float) -> Tensor:
        """The step ``s`` to learn from: where the parameters moved."""
        return new.x - x0

    def check_state(self, owner: str, st: dict[str, Any], n: int) -> None:
        """Refuse loaded buffers that do not fit ``n`` parameters (:func:`check_shape`)."""


def check_shape(owner: str, st: dict[str, Any], key: str, shape: tuple[int, ...]) -> None:
    """ValueError if ``st[key]`` is there but not a tensor of ``shape``."""
    v = st.get(key)
    if v is not None and (not isinstance(v, Tensor) or tuple(v.shape) != shape):
        got = tuple(v.shape) if isinstance(v, Tensor) else type(v).__name__
        raise ValueError(f"{owner}.load_state_dict: {key} has shape {got}, expected {shape} "
                         f"for these {shape[-1]} parameters")


class SteepestDescent(Direction):
    """``d = −∇L(w)``: gradient descent with a line search (the reference direction)."""

    def direction(self, p: Point, ctx: Context) -> tuple[Tensor, float]:
        return p.g.neg(), ctx.options["lr"]
