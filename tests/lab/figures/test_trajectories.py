"""The Rosenbrock picture: each method at its range-test lr, long enough to see who arrives."""

import math

import numpy as np
import pytest

from antigrad.lab.figures import plot_trajectories
from antigrad.lab.surface_range import surface_range_lr
from antigrad.problems.surfaces import rosenbrock


def test_rosenbrock_default_shows_who_reaches_the_minimum():
    fig = plot_trajectories()
    surf, loss = fig.axes
    paths = {x.get_gid()[5:]: x for x in surf.lines if (x.get_gid() or "").startswith("path:")}
    assert list(paths) == ["sgd", "momentum", "nesterov", "rmsprop", "adam"]
    dist = {n: math.dist((x.get_xdata()[-1], x.get_ydata()[-1]), (1.0, 1.0))
            for n, x in paths.items()}
    assert all(len(x.get_xdata()) == 3001 for x in paths.values())  # none diverged
    assert dist["adam"] < 1e-3
    assert dist["momentum"] < 0.1 and dist["nesterov"] < 0.1
    assert dist["sgd"] > 0.5  # plain GD is still crawling down the valley
    # the lrs in the legend are the range test's, not the old fixed ones
    texts = [t.get_text() for t in surf.get_legend().get_texts()]
    for name in paths:
        assert f"{name}, lr={surface_range_lr(rosenbrock(), name):g}" in texts
    assert "range test" in fig.get_suptitle()
    (note,) = [t for t in surf.texts if t.get_gid() == "distances"]
    assert f"adam: {dist['adam']:.1g}" in note.get_text()
    assert loss.get_ylim()[0] >= 1e-12


def test_lr_rule_surface_keeps_the_surfaces_lrs():
    fig = plot_trajectories("rosenbrock", {"sgd": None, "adam": 0.05}, steps=5,
                            lr_rule="surface")
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "sgd, lr=0.001" in texts and "adam, lr=0.05" in texts
    with pytest.raises(ValueError, match="lr_rule"):
        plot_trajectories(steps=5, lr_rule="guess")
    assert np.isfinite(surface_range_lr(rosenbrock(), "sgd"))
