"""The range test on a surface: a tenth of the lr at its lowest loss, and it is stable."""

import pytest

from antigrad.lab.paths import run_path
from antigrad.lab.surface_range import surface_range_lr, surface_range_test
from antigrad.problems.surfaces import quadratic


def test_min_over_ten_on_a_quadratic_is_stable_for_gd():
    surf = quadratic(10.0)
    result = surface_range_test(surf, "sgd")
    lr = surface_range_lr(surf, "sgd")
    assert lr == pytest.approx(result.lr_at_min / 10)
    assert result.method == "min/10" and result.suggestion == pytest.approx(lr)
    assert lr < 2 / 10  # GD on this quadratic is stable below 2/condition
    path = run_path(surf, "sgd", lr, steps=200)
    assert not path.diverged and path.losses[-1] < path.losses[0]


def test_the_surface_is_left_as_it_was():
    surf = quadratic(10.0)
    start = surf.start
    surface_range_test(surf, "adam", start=(1.0, 1.0))
    assert surf.start == start
