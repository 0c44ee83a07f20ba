"""The Moré–Garbow–Hillstrom unconstrained test problems, as torch residual functions.

J. J. Moré, B. S. Garbow, K. E. Hillstrom, *Testing unconstrained optimization software*,
ACM Trans. Math. Software 7 (1981) 17–41. Every problem is a sum of squares
``f(x) = Σ_i r_i(x)²`` with ``m`` residuals in ``n`` variables, a standard starting point
``x0`` and, where the paper gives it, the minimum value ``f*``. Written from the paper's
definitions (problems 1–35; Watson at n = 6 and n = 9, so 36 problems), in float64.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

F64 = torch.float64


@dataclass(frozen=True)
class Problem:
    number: int
    name: str
    n: int
    residuals: Callable[[Tensor], Tensor]
    start: tuple[float, ...]
    f_min: float | None = None  # the paper's minimum value (None: not given)
    x_min: tuple[float, ...] | None = None  # a known minimiser (exact), if any

    def f(self, x: Tensor) -> Tensor:
        r = self.residuals(x)
        return r @ r

    def x0(self) -> Tensor:
        return torch.tensor(self.start, dtype=F64)


def t_(values: list[float]) -> Tensor:
    return torch.tensor(values, dtype=F64)


def idx(lo: int, hi: int) -> Tensor:
    """``[lo, lo+1, ..., hi]`` as float64 (the paper's 1-based indices)."""
    return torch.arange(lo, hi + 1, dtype=F64)


# -- 1..19: fixed sizes --------------------------------------------------------------------
def rosenbrock(x: Tensor) -> Tensor:
    return torch.stack([10 * (x[1] - x[0] ** 2), 1 - x[0]])


def freudenstein_roth(x: Tensor) -> Tensor:
    return torch.stack([-13 + x[0] + ((5 - x[1]) * x[1] - 2) * x[1],
                        -29 + x[0] + ((x[1] + 1) * x[1] - 14) * x[1]])


def powell_badly_scaled(x: Tensor) -> Tensor:
    return torch.stack([1e4 * x[0] * x[1] - 1,
                        torch.exp(-x[0]) + torch.exp(-x[1]) - 1.0001])


def brown_badly_scaled(x: Tensor) -> Tensor:
    return torch.stack([x[0] - 1e6, x[1] - 2e-6, x[0] * x[1] - 2])


def beale(x: Tensor) -> Tensor:
    y, i = t_([1.5, 2.25, 2.625]), idx(1, 3)
    return y - x[0] * (1 - x[1] ** i)


def jennrich_sampson(x: Tensor) -> Tensor:
    i = idx(1, 10)
    return 2 + 2 * i - (torch.exp(i * x[0]) + torch.exp(i * x[1]))


def helical_valley(x: Tensor) -> Tensor:
    theta = torch.atan(x[1] / x[0]) / (2 * math.pi) + (0.5 if float(x[0].detach()) < 0 else 0.0)
    return torch.stack([10 * (x[2] - 10 * theta),
                        10 * (torch.sqrt(x[0] ** 2 + x[1] ** 2) - 1), x[2]])


BARD_Y = [0.14, 0.18, 0.22, 0.25, 0.29, 0.32, 0.35, 0.39, 0.37, 0.58, 0.73, 0.96, 1.34,
          2.10, 4.39]


def bard(x: Tensor) -> Tensor:
    u = idx(1, 15)
    v = 16 - u
    w = torch.minimum(u, v)
    return t_(BARD_Y) - (x[0] + u / (v * x[1] + w * x[2]))


GAUSSIAN_Y = [0.0009, 0.0044, 0.0175, 0.0540, 0.1295, 0.2420, 0.3521, 0.3989, 0.3521,
              0.2420, 0.1295, 0.0540, 0.0175, 0.0044, 0.0009]


def gaussian(x: Tensor) -> Tensor:
    t = (8 - idx(1, 15)) / 2
    return x[0] * torch.exp(-x[1] * (t - x[2]) ** 2 / 2) - t_(GAUSSIAN_Y)


MEYER_Y = [34780, 28610, 23650, 19630, 16370, 13720, 11540, 9744, 8261, 7030, 6005, 5147,
           4427, 3820, 3307, 2872]


def meyer(x: Tensor) -> Tensor:
    t = 45 + 5 * idx(1, 16)
    return x[0] * torch.exp(x[1] / (t + x[2])) - t_(MEYER_Y)


def gulf(x: Tensor, m: int = 99) -> Tensor:
    t = idx(1, m) / 100
    y = 25 + (-50 * torch.log(t)) ** (2 / 3)
    return torch.exp(-torch.abs(y - x[1]) ** x[2] / x[0]) - t


def box_3d(x: Tensor, m: int = 10) -> Tensor:
    t = 0.1 * idx(1, m)
    return (torch.exp(-t * x[0]) - torch.exp(-t * x[1])
            - x[2] * (torch.exp(-t) - torch.exp(-10 * t)))


def powell_singular(x: Tensor) -> Tensor:
    return torch.stack([x[0] + 10 * x[1], math.sqrt(5) * (x[2] - x[3]),
                        (x[1] - 2 * x[2]) ** 2, math.sqrt(10) * (x[0] - x[3]) ** 2])


def wood(x: Tensor) -> Tensor:
    return torch.stack([10 * (x[1] - x[0] ** 2), 1 - x[0], math.sqrt(90) * (x[3] - x[2] ** 2),
                        1 - x[2], math.sqrt(10) * (x[1] + x[3] - 2),
                        (x[1] - x[3]) / math.sqrt(10)])


KOWALIK_Y = [0.1957, 0.1947, 0.1735, 0.1600, 0.0844, 0.0627, 0.0456, 0.0342, 0.0323, 0.0235,
             0.0246]
KOWALIK_U = [4, 2, 1, 0.5, 0.25, 0.167, 0.125, 0.1, 0.0833, 0.0714, 0.0625]


def kowalik_osborne(x: Tensor) -> Tensor:
    u = t_(KOWALIK_U)
    return t_(KOWALIK_Y) - x[0] * (u ** 2 + u * x[1]) / (u ** 2 + u * x[2] + x[3])


def brown_dennis(x: Tensor) -> Tensor:
    t = idx(1, 20) / 5
    return ((x[0] + t * x[1] - torch.exp(t)) ** 2
            + (x[2] + x[3] * torch.sin(t) - torch.cos(t)) ** 2)


OSBORNE1_Y = [0.844, 0.908, 0.932, 0.936, 0.925, 0.908, 0.881, 0.850, 0.818, 0.784, 0.751,
              0.718, 0.685, 0.658, 0.628, 0.603, 0.580, 0.558, 0.538, 0.522, 0.506, 0.490,
              0.478, 0.467, 0.457, 0.448, 0.438, 0.431, 0.424, 0.420, 0.414, 0.411, 0.406]


def osborne_1(x: Tensor) -> Tensor:
    t = 10 * (idx(1, 33) - 1)
    return t_(OSBORNE1_Y) - (x[0] + x[1] * torch.exp(-t * x[3]) + x[2] * torch.exp(-t * x[4]))


def biggs_exp6(x: Tensor) -> Tensor:
    t = 0.1 * idx(1, 13)
    y = torch.exp(-t) - 5 * torch.exp(-10 * t) + 3 * torch.exp(-4 * t)
    return (x[2] * torch.exp(-t * x[0]) - x[3] * torch.exp(-t * x[1])
            + x[5] * torch.exp(-t * x[4]) - y)


OSBORNE2_Y = [1.366, 1.191, 1.112, 1.013, 0.991, 0.885, 0.831, 0.847, 0.786, 0.725, 0.746,
              0.679, 0.608, 0.655, 0.616, 0.606, 0.602, 0.626, 0.651, 0.724, 0.649, 0.649,
              0.694, 0.644, 0.624, 0.661, 0.612, 0.558, 0.533, 0.495, 0.500, 0.423, 0.395,
              0.375, 0.372, 0.391, 0.396, 0.405, 0.428, 0.429, 0.523, 0.562, 0.607, 0.653,
              0.672, 0.708, 0.633, 0.668, 0.645, 0.632, 0.591, 0.559, 0.597, 0.625, 0.739,
              0.710, 0.729, 0.720, 0.636, 0.581, 0.428, 0.292, 0.162, 0.098, 0.054]


def osborne_2(x: Tensor) -> Tensor:
    t = (idx(1, 65) - 1) / 10
    return t_(OSBORNE2_Y) - (x[0] * torch.exp(-t * x[4])
                             + x[1] * torch.exp(-(t - x[8]) ** 2 * x[5])
                             + x[2] * torch.exp(-(t - x[9]) ** 2 * x[6])
                             + x[3] * torch.exp(-(t - x[10]) ** 2 * x[7]))


def watson(x: Tensor) -> Tensor:
    n = x.numel()
    t = idx(1, 29) / 29
    j = idx(1, n)
    powers = t.unsqueeze(1) ** (j - 1)  # t_i^(j-1), 29 x n
    deriv = ((j[1:] - 1) * x[1:] * powers[:, :-1]).sum(1)  # sum_{j>=2} (j-1) x_j t^(j-2)
    value = powers @ x
    return torch.cat([deriv - value ** 2 - 1, torch.stack([x[0], x[1] - x[0] ** 2 - 1])])


# -- 21..35: variable sizes ----------------------------------------------------------------
def extended_rosenbrock(x: Tensor) -> Tensor:
    odd, even = x[0::2], x[1::2]
    return torch.stack([10 * (even - odd ** 2), 1 - odd], 1).reshape(-1)


def extended_powell(x: Tensor) -> Tensor:
    a, b, c, d = x[0::4], x[1::4], x[2::4], x[3::4]
    return torch.stack([a + 10 * b, math.sqrt(5) * (c - d), (b - 2 * c) ** 2,
                        math.sqrt(10) * (a - d) ** 2], 1).reshape(-1)


def penalty_1(x: Tensor) -> Tensor:
    return torch.cat([math.sqrt(1e-5) * (x - 1), (x @ x - 0.25).reshape(1)])


def penalty_2(x: Tensor) -> Tensor:
    n, a = x.numel(), math.sqrt(1e-5)
    i = idx(2, n)
    y = torch.exp(i / 10) + torch.exp((i - 1) / 10)
    mid = a * (torch.exp(x[1:] / 10) + torch.exp(x[:-1] / 10) - y)
    tail = a * (torch.exp(x[1:] / 10) - math.exp(-1 / 10))
    last = (idx(1, n).flip(0) * x ** 2).sum() - 1
    return torch.cat([(x[0] - 0.2).reshape(1), mid, tail, last.reshape(1)])


def variably_dimensioned(x: Tensor) -> Tensor:
    s = (idx(1, x.numel()) * (x - 1)).sum()
    return torch.cat([x - 1, s.reshape(1), (s ** 2).reshape(1)])


def trigonometric(x: Tensor) -> Tensor:
    n = x.numel()
    return n - torch.cos(x).sum() + idx(1, n) * (1 - torch.cos(x)) - torch.sin(x)


def brown_almost_linear(x: Tensor) -> Tensor:
    n = x.numel()
    return torch.cat([x[:-1] + x.sum() - (n + 1), (torch.prod(x) - 1).reshape(1)])


def _grid(n: int) -> tuple[float, Tensor]:
    h = 1 / (n + 1)
    return h, idx(1, n) * h


def discrete_boundary_value(x: Tensor) -> Tensor:
    h, t = _grid(x.numel())
    zero = x.new_zeros(1)
    left, right = torch.cat([zero, x[:-1]]), torch.cat([x[1:], zero])
    return 2 * x - left - right + h ** 2 * (x + t + 1) ** 3 / 2


def discrete_integral_equation(x: Tensor) -> Tensor:
    h, t = _grid(x.numel())
    cube = (x + t + 1) ** 3
    lower = torch.cumsum(t * cube, 0)  # sum_{j<=i} t_j (x_j + t_j + 1)^3
    upper = torch.flip(torch.cumsum(torch.flip((1 - t) * cube, [0]), 0), [0])  # j >= i
    upper = torch.cat([upper[1:], x.new_zeros(1)])  # j > i
    return x + h * ((1 - t) * lower + t * upper) / 2


def broyden_tridiagonal(x: Tensor) -> Tensor:
    zero = x.new_zeros(1)
    left, right = torch.cat([zero, x[:-1]]), torch.cat([x[1:], zero])
    return (3 - 2 * x) * x - left - 2 * right + 1


def broyden_banded(x: Tensor, lower: int = 5, upper: int = 1) -> Tensor:
    n = x.numel()
    i, j = torch.arange(n).unsqueeze(1), torch.arange(n).unsqueeze(0)
    band = ((j >= i - lower) & (j <= i + upper) & (j != i)).to(F64)
    return x * (2 + 5 * x ** 2) + 1 - band @ (x * (1 + x))


def linear_full_rank(x: Tensor, m: int = 20) -> Tensor:
    n, s = x.numel(), x.sum()
    return torch.cat([x - 2 / m * s - 1, (-2 / m * s - 1).expand(m - n)])


def linear_rank_1(x: Tensor, m: int = 20) -> Tensor:
    return idx(1, m) * (idx(1, x.numel()) @ x) - 1


def linear_rank_1_zero(x: Tensor, m: int = 20) -> Tensor:
    n = x.numel()
    inner = idx(2, n - 1) @ x[1:-1]
    return torch.cat([x.new_full((1,), -1.0), (idx(2, m - 1) - 1) * inner - 1,
                      x.new_full((1,), -1.0)])


def chebyquad(x: Tensor) -> Tensor:
    n = x.numel()
    y = 2 * x - 1  # shifted Chebyshev polynomials on [0, 1]
    t_prev, t_cur = torch.ones_like(x), y
    out = []
    for i in range(1, n + 1):
        integral = 0.0 if i % 2 else -1 / (i * i - 1)
        out.append(t_cur.mean() - integral)
        t_prev, t_cur = t_cur, 2 * y * t_cur - t_prev
    return torch.stack(out)


def _rosen_start(n: int) -> tuple[float, ...]:
    return tuple(-1.2 if k % 2 == 0 else 1.0 for k in range(n))


def problems() -> list[Problem]:
    """The 36 problems with the paper's starting points (n for the variable-size ones as
    commonly used: 10, Chebyquad 8, extended Powell 12; Watson at n = 6 and 9)."""
    n = 10
    h, t = _grid(n)
    bv_start = tuple(float(v) for v in t * (t - 1))
    return [
        Problem(1, "Rosenbrock", 2, rosenbrock, (-1.2, 1.0), 0.0, (1.0, 1.0)),
        Problem(2, "Freudenstein and Roth", 2, freudenstein_roth, (0.5, -2.0), 0.0,
                (5.0, 4.0)),
        Problem(3, "Powell badly scaled", 2, powell_badly_scaled, (0.0, 1.0), 0.0),
        Problem(4, "Brown badly scaled", 2, brown_badly_scaled, (1.0, 1.0), 0.0,
                (1e6, 2e-6)),
        Problem(5, "Beale", 2, beale, (1.0, 1.0), 0.0, (3.0, 0.5)),
        Problem(6, "Jennrich and Sampson", 2, jennrich_sampson, (0.3, 0.4), 124.362),
        Problem(7, "Helical valley", 3, helical_valley, (-1.0, 0.0, 0.0), 0.0,
                (1.0, 0.0, 0.0)),
        Problem(8, "Bard", 3, bard, (1.0, 1.0, 1.0), 8.21487e-3),
        Problem(9, "Gaussian", 3, gaussian, (0.4, 1.0, 0.0), 1.12793e-8),
        Problem(10, "Meyer", 3, meyer, (0.02, 4000.0, 250.0), 87.9458),
        Problem(11, "Gulf research and development", 3, gulf, (5.0, 2.5, 0.15), 0.0,
                (50.0, 25.0, 1.5)),
        Problem(12, "Box three-dimensional", 3, box_3d, (0.0, 10.0, 20.0), 0.0,
                (1.0, 10.0, 1.0)),
        Problem(13, "Powell singular", 4, powell_singular, (3.0, -1.0, 0.0, 1.0), 0.0,
                (0.0, 0.0, 0.0, 0.0)),
        Problem(14, "Wood", 4, wood, (-3.0, -1.0, -3.0, -1.0), 0.0, (1.0, 1.0, 1.0, 1.0)),
        Problem(15, "Kowalik and Osborne", 4, kowalik_osborne, (0.25, 0.39, 0.415, 0.39),
                3.07505e-4),
        Problem(16, "Brown and Dennis", 4, brown_dennis, (25.0, 5.0, -5.0, -1.0), 85822.2),
        Problem(17, "Osborne 1", 5, osborne_1, (0.5, 1.5, -1.0, 0.01, 0.02), 5.46489e-5),
        Problem(18, "Biggs EXP6", 6, biggs_exp6, (1.0, 2.0, 1.0, 1.0, 1.0, 1.0), 0.0,
                (1.0, 10.0, 1.0, 5.0, 4.0, 3.0)),
        Problem(19, "Osborne 2", 11, osborne_2,
                (1.3, 0.65, 0.65, 0.7, 0.6, 3.0, 5.0, 7.0, 2.0, 4.5, 5.5), 4.01377e-2),
        Problem(20, "Watson (n=6)", 6, watson, (0.0,) * 6, 2.28767e-3),
        Problem(20, "Watson (n=9)", 9, watson, (0.0,) * 9, 1.39976e-6),
        Problem(21, "Extended Rosenbrock", n, extended_rosenbrock, _rosen_start(n), 0.0,
                (1.0,) * n),
        Problem(22, "Extended Powell singular", 12, extended_powell,
                (3.0, -1.0, 0.0, 1.0) * 3, 0.0, (0.0,) * 12),
        Problem(23, "Penalty I", n, penalty_1, tuple(float(j) for j in range(1, n + 1)),
                7.08765e-5),
        Problem(24, "Penalty II", n, penalty_2, (0.5,) * n, 2.93660e-4),
        Problem(25, "Variably dimensioned", n, variably_dimensioned,
                tuple(1 - j / n for j in range(1, n + 1)), 0.0, (1.0,) * n),
        Problem(26, "Trigonometric", n, trigonometric, (1 / n,) * n, 2.79506e-5),
        Problem(27, "Brown almost-linear", n, brown_almost_linear, (0.5,) * n, 0.0,
                (1.0,) * n),
        Problem(28, "Discrete boundary value", n, discrete_boundary_value, bv_start, 0.0),
        Problem(29, "Discrete integral equation", n, discrete_integral_equation, bv_start,
                0.0),
        Problem(30, "Broyden tridiagonal", n, broyden_tridiagonal, (-1.0,) * n, 0.0),
        Problem(31, "Broyden banded", n, broyden_banded, (-1.0,) * n, 0.0),
        Problem(32, "Linear function - full rank", n, linear_full_rank, (1.0,) * n,
                20.0 - n, (-1.0,) * n),
        Problem(33, "Linear function - rank 1", n, linear_rank_1, (1.0,) * n,
                20 * 19 / (2 * 41)),
        Problem(34, "Linear function - rank 1 with zero columns and rows", n,
                linear_rank_1_zero, (1.0,) * n, (400 + 60 - 6) / (2 * 37)),
        Problem(35, "Chebyquad", 8, chebyquad, tuple(j / 9 for j in range(1, 9)),
                3.51687e-3),
    ]
