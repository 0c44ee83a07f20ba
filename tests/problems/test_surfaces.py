"""Surfaces: known minima are minima (value and zero gradient), grids, bad input."""

import math

import pytest
import torch

from antigrad.problems import get_surface, surface_names
from antigrad.problems.surfaces import quadratic


@pytest.mark.parametrize("name", surface_names())
def test_known_minima_have_min_value_and_zero_gradient(name):
    s = get_surface(name)
    assert s.minima, name
    for m in s.minima:
        w = torch.tensor(m, dtype=torch.float64, requires_grad=True)
        f = s(w)
        f.backward()
        assert float(f.detach()) == pytest.approx(s.min_value, abs=1e-8)
        assert float(w.grad.norm()) < 1e-4, (name, m, w.grad)


@pytest.mark.parametrize("name", surface_names())
def test_start_is_worse_than_minimum_and_inside_box(name):
    s = get_surface(name)
    (x0, x1), (y0, y1) = s.bounds
    assert x0 <= s.start[0] <= x1 and y0 <= s.start[1] <= y1
    assert float(s(torch.tensor(s.start, dtype=torch.float64))) > s.min_value + 1e-3


def test_six_hump_camels_local_minima_are_minima_of_higher_value():
    s = get_surface("six-hump-camel")
    assert len(s.minima) == 2 and len(s.local_minima) == 4
    assert s.all_minima == s.minima + s.local_minima
    values = []
    for m in s.local_minima:
        w = torch.tensor(m, dtype=torch.float64, requires_grad=True)
        f = s(w)
        f.backward()
        assert float(w.grad.norm()) < 1e-4, (m, w.grad)
        H = torch.autograd.functional.hessian(s, torch.tensor(m, dtype=torch.float64))
        assert float(torch.linalg.eigvalsh(H).min()) > 0  # a minimum, not a saddle
        values.append(float(f.detach()))
    assert values == pytest.approx([-0.2154638, -0.2154638, 2.1042503, 2.1042503], abs=1e-6)
    assert min(values) > s.min_value + 0.5  # where a run lands matters
    assert s.nearest_minimum((1.6, 0.6)) == 5 and s.nearest_minimum((0.1, -0.7)) == 0


def test_grid_shape_and_values():
    s = get_surface("himmelblau")
    X, Y, Z = s.grid(50)
    assert X.shape == Y.shape == Z.shape == (50, 50)
    assert Z.min() >= 0 and Z[0, 0] == pytest.approx(float(s(torch.tensor([X[0, 0], Y[0, 0]]))))


def test_quadratic_condition_number_is_hessian_ratio():
    for angle in (0.0, 0.7):
        s = quadratic(40.0, angle)
        H = torch.autograd.functional.hessian(s, torch.zeros(2, dtype=torch.float64))
        eig = torch.linalg.eigvalsh(H)
        assert float(eig.max() / eig.min()) == pytest.approx(40.0)


def test_saddle_is_a_saddle():
    s = get_surface("saddle")
    H = torch.autograd.functional.hessian(s, torch.zeros(2, dtype=torch.float64))
    eig = torch.linalg.eigvalsh(H)
    assert eig.min() < 0 < eig.max()


def test_nearest_minimum():
    s = get_surface("himmelblau")
    assert s.nearest_minimum((2.9, 2.1)) == 0
    assert s.nearest_minimum((-3.7, -3.2)) == 2


def test_bad_input():
    with pytest.raises(ValueError, match="condition"):
        quadratic(0.5)
    with pytest.raises(ValueError, match="shape"):
        get_surface("beale")(torch.zeros(3))
    with pytest.raises(ValueError, match="n"):
        get_surface("beale").grid(1)
    assert math.isfinite(get_surface("rastrigin").min_value)
