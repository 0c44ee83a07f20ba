"""L15: the step drawn goes to the minimum of the drawn quadratic model; on a quadratic
loss it lands on the minimum."""

import math

import numpy as np
import pytest

from antigrad.lab.figures import plot_newton_step
from antigrad.lab.figures.newton import newton_step


def xy(ax, gid):
    (x,) = [x for x in ax.lines if x.get_gid() == gid]
    return np.asarray(x.get_xdata()), np.asarray(x.get_ydata())


def test_step_lands_on_the_models_minimum():
    w0 = 1.5
    fig = plot_newton_step(w0)
    ax, quad = fig.axes
    ws, model = xy(ax, "model")
    _, loss = xy(ax, "loss")
    assert np.allclose(loss, np.exp(ws) - 2 * ws)
    # the model is L's second-order Taylor expansion at w0 (e^w − 2w: L' = e^w − 2, L'' = e^w)
    expected = (math.exp(w0) - 2 * w0) + (math.exp(w0) - 2) * (ws - w0) \
        + 0.5 * math.exp(w0) * (ws - w0) ** 2
    assert np.allclose(model, expected)
    (w1,), (m1,) = xy(ax, "model-minimum")
    assert w1 == pytest.approx(w0 - (math.exp(w0) - 2) / math.exp(w0), abs=1e-12)
    assert m1 == pytest.approx(model.min(), abs=1e-3)
    # not quadratic: the step lands near, not on, L's minimum ln 2, and L fell
    assert 0.1 < w1 - math.log(2) < 0.5
    _, (l1,) = xy(ax, "w_t+1")
    assert l1 < math.exp(w0) - 2 * w0


def test_one_step_on_a_quadratic_reaches_the_minimum():
    fig = plot_newton_step()
    quad = fig.axes[1]
    xs, ys = xy(quad, "step:newton")
    assert (xs[0], ys[0]) == (-4.5, 1.5)
    assert math.hypot(xs[1], ys[1]) < 1e-9
    gx, gy = xy(quad, "path:gd")
    assert math.hypot(gx[-1], gy[-1]) > 0.5  # ten gradient steps are not there yet


def test_newton_step_of_a_general_quadratic():
    a = np.array([[3.0, 1.0], [1.0, 2.0]])
    b = np.array([1.0, -1.0])
    import torch
    A, B = torch.tensor(a), torch.tensor(b)
    end = newton_step(lambda w: 0.5 * w @ A @ w - B @ w, (5.0, -3.0))
    assert np.allclose(end, np.linalg.solve(a, b), atol=1e-10)


def test_bad_inputs():
    with pytest.raises(ValueError, match="w0"):
        plot_newton_step(float("inf"))
    with pytest.raises(TypeError, match="w0"):
        plot_newton_step("1.5")
