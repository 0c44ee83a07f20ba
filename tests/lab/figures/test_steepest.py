"""L2: the steepest descent direction drawn is −∇L/‖∇L‖ and every slope is ∇Lᵀd."""

import math

import numpy as np
import pytest

from antigrad.lab.figures import plot_steepest_descent
from antigrad.lab.figures.steepest import gradient_at
from antigrad.problems.surfaces import quadratic


def line(ax, gid):
    (found,) = [x for x in ax.lines if x.get_gid() == gid]
    return np.asarray(found.get_xdata(), float), np.asarray(found.get_ydata(), float)


def test_descent_is_minus_the_normalised_gradient():
    surf, point = quadratic(4.0, angle=0.5), (-2.5, 1.0)
    fig = plot_steepest_descent()
    ax, slopes = fig.axes[:2]
    _, grad = gradient_at(surf, point)
    unit = grad / np.linalg.norm(grad)
    for gid, expected in (("descent", -unit), ("ascent", unit)):
        xs, ys = line(ax, gid)
        assert (xs[0], ys[0]) == point
        drawn = np.array([xs[1] - xs[0], ys[1] - ys[0]])
        assert np.allclose(drawn / np.linalg.norm(drawn), expected, atol=1e-12)
    # the tangent of the contour line is perpendicular to the gradient (slope 0)
    xs, ys = line(ax, "tangent")
    assert abs(np.dot([xs[1] - xs[0], ys[1] - ys[0]], grad)) < 1e-9
    # the antigradient does not point at the minimum here (the picture's point)
    to_min = -np.array(point) / np.linalg.norm(point)
    assert np.dot(to_min, -unit) < 0.99


def test_slopes_are_the_taylor_slope_and_extreme_at_the_gradient():
    surf, point = quadratic(4.0, angle=0.5), (-2.5, 1.0)
    fig = plot_steepest_descent(directions=12)
    slopes = fig.axes[-1]
    _, grad = gradient_at(surf, point)
    norm = np.linalg.norm(grad)
    theta, slope = line(slopes, "taylor-slope")
    rad = np.radians(theta)
    assert np.allclose(slope, grad[0] * np.cos(rad) + grad[1] * np.sin(rad))
    assert slope.min() >= -norm - 1e-12 and slope.max() <= norm + 1e-12  # Cauchy–Schwarz
    at, value = line(slopes, "steepest-descent")
    assert value[0] == pytest.approx(-norm)
    assert math.radians(at[0]) == pytest.approx(math.atan2(-grad[1], -grad[0]) % (2 * math.pi))
    # the finite differences measured along 12 directions agree with the first-order slope
    angles, measured = line(slopes, "finite-difference")
    assert len(measured) == 12
    predicted = grad[0] * np.cos(np.radians(angles)) + grad[1] * np.sin(np.radians(angles))
    assert np.allclose(measured, predicted, atol=1e-3 * norm)


def test_bad_inputs():
    with pytest.raises(ValueError, match="stationary"):
        plot_steepest_descent(quadratic(), point=(0.0, 0.0))
    with pytest.raises(ValueError, match="directions"):
        plot_steepest_descent(directions=2)
