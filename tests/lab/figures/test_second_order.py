"""L16: the paths drawn are antigrad.second_order's, with the costs their optimizers report;
Newton and the quasi-Newton methods reach Rosenbrock's minimum, GD does not."""

import math

import numpy as np
import pytest
import torch

from antigrad.lab.figures import plot_second_order
from antigrad.lab.figures.second_order import SECOND_ORDER_METHODS, second_order_run
from antigrad.problems.surfaces import quadratic, rosenbrock
from antigrad.second_order import BFGS


def paths(ax):
    return {x.get_gid()[5:]: (np.column_stack([x.get_xdata(), x.get_ydata()]), x.get_label())
            for x in ax.lines if (x.get_gid() or "").startswith("path:")}


def test_who_reaches_rosenbrocks_minimum_and_at_what_cost():
    fig = plot_second_order(gd_steps=300, max_iter=60)
    ax, loss_ax = fig.axes
    drawn = paths(ax)
    assert list(drawn) == ["GD, lr=0.001", "Newton", "diagonal Newton", "BFGS", "L-BFGS"]
    end = {name: math.dist(pts[-1], (1.0, 1.0)) for name, (pts, _) in drawn.items()}
    for name in ("Newton", "BFGS", "L-BFGS"):
        assert end[name] < 1e-3, name
    assert end["GD, lr=0.001"] > 0.5 and end["diagonal Newton"] > 0.5
    gd_label = drawn["GD, lr=0.001"][1]
    assert "300 evaluations" in gd_label and len(drawn["GD, lr=0.001"][0]) == 301
    bfgs_evals = int(drawn["BFGS"][1].split("iterations, ")[1].split(" ")[0])
    assert bfgs_evals < 100  # a few dozen evaluations against GD's hundreds
    assert "Hessian-vector products" in drawn["Newton"][1]
    assert "Hessian-vector products" not in drawn["BFGS"][1]
    assert len([x for x in loss_ax.lines if (x.get_gid() or "").startswith("path:")]) == 5


def test_counts_are_the_optimizers_own():
    run = second_order_run(rosenbrock(), "BFGS", max_iter=60)
    w = torch.nn.Parameter(torch.tensor(rosenbrock().start, dtype=torch.float64))
    opt = BFGS([w], max_iter=60)

    def closure():
        opt.zero_grad()
        loss = rosenbrock()(w)
        loss.backward()
        return loss

    opt.step(closure)
    assert run.evaluations == opt.result.func_evals and run.iterations == opt.result.iterations
    # the one-iteration-per-step path ends where the single solve ends
    assert np.allclose(run.points[-1], w.detach().numpy())
    assert len(run.points) == run.iterations + 1


def test_newton_needs_one_iteration_on_a_quadratic():
    run = second_order_run(quadratic(10.0, angle=0.3), "Newton", max_iter=10)
    assert run.iterations == 1 and np.allclose(run.points[1], 0.0, atol=1e-9)
    assert set(SECOND_ORDER_METHODS) == {"Newton", "diagonal Newton", "BFGS", "L-BFGS"}


def test_bad_inputs():
    with pytest.raises(ValueError, match="max_iter"):
        plot_second_order(max_iter=0)
