"""Two-dimensional loss surfaces with known minima, for drawing optimizer paths (SPEC L18).

Each :class:`Surface` is a function of ``w = (x, y)`` written with torch operations so
that autograd gives its gradient, with the box worth drawing, a starting point that
shows the surface's difficulty, its known minima and suggested learning rates for the
plain (``"sgd"``) and the per-axis adaptive (``"adaptive"``) families of methods.

Example::

    >>> import torch
    >>> from antigrad.problems import surfaces
    >>> s = surfaces.rosenbrock()
    >>> float(s(torch.tensor([1.0, 1.0])))
    0.0
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

__all__ = ["Surface", "quadratic", "rosenbrock", "beale", "himmelblau", "six_hump_camel",
           "saddle", "rastrigin", "SURFACES"]

Point = tuple[float, float]


@dataclass(frozen=True)
class Surface:
    """A 2-D loss surface ``f(x, y)`` with its known minima.

    Attributes:
        name: registry name, e.g. ``"rosenbrock"``.
        title: formula or description shown on plots.
        fn: ``fn(x, y) -> f`` on tensors, element-wise (so it also evaluates grids).
        bounds: ``((xmin, xmax), (ymin, ymax))``, the box drawn by the figures.
        minima: the known global minimizers (all with value ``min_value``).
        min_value: ``f`` at the global minimum, ``None`` when unbounded below.
        start: a starting point that shows the surface's difficulty.
        lrs: suggested learning rates per optimizer family (``"sgd"``, ``"adaptive"``).
        log_levels: draw contours at log-spaced levels (surfaces with a huge range).
        saddles: known saddle points, drawn as crosses.
        local_minima: known local minimizers that are not global (higher values).
    """

    name: str
    title: str
    fn: Callable[[Tensor, Tensor], Tensor]
    bounds: tuple[Point, Point]
    minima: tuple[Point, ...]
    min_value: float | None
    start: Point
    lrs: dict[str, float] = field(default_factory=dict)
    log_levels: bool = True
    saddles: tuple[Point, ...] = ()
    local_minima: tuple[Point, ...] = ()

    @property
    def all_minima(self) -> tuple[Point, ...]:
        """The global minima, then the local ones."""
        return self.minima + self.local_minima

    def __call__(self, w: Tensor) -> Tensor:
        """``f(w)`` for ``w`` of shape ``(..., 2)``."""
        if w.shape[-1] != 2:
            raise ValueError(f"Invalid w: shape {tuple(w.shape)} (last dimension must be 2)")
        return self.fn(w[..., 0], w[..., 1])

    def grid(self, n: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(X, Y, Z)`` on an ``n x n`` grid over :attr:`bounds`, for contour plots."""
        if n < 2:
            raise ValueError(f"Invalid n: {n} (must be >= 2)")
        (x0, x1), (y0, y1) = self.bounds
        xs = torch.linspace(x0, x1, n, dtype=torch.float64)
        ys = torch.linspace(y0, y1, n, dtype=torch.float64)
        X, Y = torch.meshgrid(xs, ys, indexing="xy")
        with torch.no_grad():
            Z = self.fn(X, Y)
        return X.numpy(), Y.numpy(), Z.numpy()

    def nearest_minimum(self, point: Point) -> int:
        """Index in :attr:`all_minima` (global first) of the minimum closest to ``point``."""
        if not self.all_minima:
            raise ValueError(f"surface {self.name!r} has no known minima")
        d = [math.dist(point, m) for m in self.all_minima]
        return int(np.argmin(d))


def quadratic(condition: float = 10.0, angle: float = 0.0) -> Surface:
    """Ill-conditioned quadratic ``f = 1/2 (u^2 + condition * v^2)``.

    ``(u, v)`` are ``(x, y)`` rotated by ``angle`` radians; with ``angle = 0`` the axes of
    different curvature are the coordinate axes, where per-axis adaptive methods shine.
    The Hessian's eigenvalues are 1 and ``condition``: plain GD is stable for
    ``lr < 2 / condition``. Minimum 0 at the origin.
    """
    if not condition >= 1:
        raise ValueError(f"Invalid condition: {condition} (must be >= 1)")
    c, s = math.cos(angle), math.sin(angle)

    def fn(x: Tensor, y: Tensor) -> Tensor:
        u, v = c * x + s * y, -s * x + c * y
        return 0.5 * (u**2 + condition * v**2)

    return Surface(
        name="quadratic", title=f"quadratic, condition number {condition:g}", fn=fn,
        bounds=((-5.0, 5.0), (-2.5, 2.5)), minima=((0.0, 0.0),), min_value=0.0,
        start=(-4.5, 1.5), lrs={"sgd": 1.6 / condition, "adaptive": 0.3}, log_levels=False,
    )


def rosenbrock(a: float = 1.0, b: float = 100.0) -> Surface:
    """Rosenbrock's banana ``(a - x)^2 + b (y - x^2)^2``: minimum 0 at ``(a, a^2)``."""
    return Surface(
        name="rosenbrock", title=f"Rosenbrock ({a:g} - x)² + {b:g}(y - x²)²",
        fn=lambda x, y: (a - x) ** 2 + b * (y - x**2) ** 2,
        bounds=((-2.0, 2.0), (-1.0, 3.0)), minima=((a, a * a),), min_value=0.0,
        start=(-1.5, 2.0), lrs={"sgd": 1e-3, "adaptive": 0.1},
    )


def beale() -> Surface:
    """Beale's function: minimum 0 at ``(3, 0.5)``, flat valleys and steep walls."""

    def fn(x: Tensor, y: Tensor) -> Tensor:
        return ((1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2
                + (2.625 - x + x * y**3) ** 2)

    return Surface(
        name="beale", title="Beale", fn=fn, bounds=((-1.0, 4.5), (-1.5, 2.0)),
        minima=((3.0, 0.5),), min_value=0.0, start=(1.0, 1.5),
        lrs={"sgd": 1e-2, "adaptive": 0.05},
    )


def himmelblau() -> Surface:
    """Himmelblau's function: four global minima, all with value 0."""
    return Surface(
        name="himmelblau", title="Himmelblau (x² + y - 11)² + (x + y² - 7)²",
        fn=lambda x, y: (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2,
        bounds=((-5.0, 5.0), (-5.0, 5.0)),
        minima=((3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186),
                (3.584428, -1.848126)),
        min_value=0.0, start=(-0.27, -0.92), lrs={"sgd": 5e-3, "adaptive": 0.1},
        saddles=(),
    )


def six_hump_camel() -> Surface:
    """The six-hump camel ``(4 − 2.1x² + x⁴/3)x² + xy + (4y² − 4)y²``: six minima of three
    different values — two global (−1.0316), two at −0.2155, two at 2.1043 — so where a
    run lands matters, and keeping the best of several restarts pays (L17).

    Minimizers Newton-polished to 6 decimals: the global ones in ``minima``, the four
    others in ``local_minima``.
    """
    return Surface(
        name="six-hump-camel", title="six-hump camel: minima −1.03, −0.22, 2.10",
        fn=lambda x, y: (4 - 2.1 * x**2 + x**4 / 3) * x**2 + x * y + (4 * y**2 - 4) * y**2,
        bounds=((-2.2, 2.2), (-1.2, 1.2)),
        minima=((0.089842, -0.712656), (-0.089842, 0.712656)),
        min_value=-1.0316284534898774, start=(-1.9, 1.1),
        lrs={"sgd": 0.01, "adaptive": 0.05},
        local_minima=((-1.703607, 0.796084), (1.703607, -0.796084),
                      (-1.607105, -0.568651), (1.607105, 0.568651)),
    )


def saddle() -> Surface:
    """A saddle ``x^2 / 2 + y^4 / 4 - y^2 / 2``: saddle at the origin, minima at ``(0, ±1)``.

    Bounded below (minimum ``-1/4``), so a method that escapes the saddle lands in a true
    minimum instead of running to infinity. Started next to the saddle's stable axis.
    """
    return Surface(
        name="saddle", title="saddle x²/2 + y⁴/4 - y²/2",
        fn=lambda x, y: 0.5 * x**2 + 0.25 * y**4 - 0.5 * y**2,
        bounds=((-2.0, 2.0), (-1.75, 1.75)), minima=((0.0, 1.0), (0.0, -1.0)),
        min_value=-0.25, start=(-1.8, 1e-3), lrs={"sgd": 0.1, "adaptive": 0.05},
        log_levels=False, saddles=((0.0, 0.0),),
    )


def rastrigin(A: float = 10.0) -> Surface:
    """Rastrigin ``2A + sum(w^2 - A cos(2 pi w))``: minimum 0 at the origin, many local ones."""
    return Surface(
        name="rastrigin", title="Rastrigin",
        fn=lambda x, y: (2 * A + x**2 - A * torch.cos(2 * math.pi * x)
                         + y**2 - A * torch.cos(2 * math.pi * y)),
        bounds=((-5.12, 5.12), (-5.12, 5.12)), minima=((0.0, 0.0),), min_value=0.0,
        start=(2.3, -3.1), lrs={"sgd": 2e-3, "adaptive": 0.1}, log_levels=False,
    )


#: Surface factories by name (each called with its defaults).
SURFACES: dict[str, Callable[[], Surface]] = {
    "quadratic": quadratic, "rosenbrock": rosenbrock, "beale": beale,
    "himmelblau": himmelblau, "six-hump-camel": six_hump_camel, "saddle": saddle,
    "rastrigin": rastrigin,
}
