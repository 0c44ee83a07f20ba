"""The Moré–Garbow–Hillstrom problems of benchmarks/second_order_mgh.py are the paper's:
zero gradient and the paper's value at known minimisers, hand-checked starting values,
and the paper's minimum values reached from the standard start."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

import antigrad
from second_order.so_problems import closure_for

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "second_order_mgh_problems.py"
_SPEC = importlib.util.spec_from_file_location("second_order_mgh_problems", _PATH)
mgh = importlib.util.module_from_spec(_SPEC)
sys.modules[_SPEC.name] = mgh  # dataclasses look their module up there
_SPEC.loader.exec_module(mgh)
PROBLEMS = {p.name: p for p in mgh.problems()}


def grad(p, x):
    x = x.detach().clone().requires_grad_()
    f = p.f(x)
    (g,) = torch.autograd.grad(f, x)
    return float(f.detach()), g


def test_thirty_six_problems_with_their_sizes():
    probs = mgh.problems()
    assert len(probs) == 36 and sorted({p.number for p in probs}) == list(range(1, 36))
    for p in probs:
        assert p.x0().shape == (p.n,) and p.residuals(p.x0()).dim() == 1


@pytest.mark.parametrize("name", [n for n, p in PROBLEMS.items() if p.x_min is not None])
def test_known_minimisers_are_stationary_with_the_papers_value(name):
    p = PROBLEMS[name]
    f, g = grad(p, torch.tensor(p.x_min, dtype=torch.float64))
    assert f == pytest.approx(p.f_min, abs=1e-20)
    assert float(g.abs().max()) <= 1e-10


@pytest.mark.parametrize("name,f0", [
    ("Rosenbrock", 24.2),  # (10 (1 - 1.44))² + 2.2²
    ("Freudenstein and Roth", 400.5),
    ("Beale", 14.203125),  # 1.5² + 2.25² + 2.625²
    ("Helical valley", 2500.0),  # θ = 1/2 at (-1, 0): (10 (0 - 5))²
    ("Powell singular", 215.0),
    ("Wood", 19192.0),
    ("Watson (n=6)", 30.0),  # 29 residuals of -1, then 0 and -1
    ("Linear function - full rank", 50.0),
])
def test_values_at_the_standard_start(name, f0):
    p = PROBLEMS[name]
    assert float(p.f(p.x0())) == pytest.approx(f0, rel=1e-12)


@pytest.mark.parametrize("name", ["Gaussian", "Kowalik and Osborne", "Jennrich and Sampson",
                                  "Watson (n=6)", "Chebyquad"])
def test_papers_minimum_value_is_reached_from_the_start(name):
    p = PROBLEMS[name]
    w = p.x0().requires_grad_()
    opt = antigrad.Newton([w], mode="trust_region", max_iter=500, tolerance_grad=1e-9,
                          tolerance_change=0.0)
    opt.step(closure_for(opt, lambda: p.f(w)))
    assert opt.result.reason == "gradient"
    assert opt.result.loss == pytest.approx(p.f_min, rel=1e-5)
