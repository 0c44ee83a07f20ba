"""L6: the partial sums drawn are those of the schedules' ε_t, and they behave as the
Robbins–Monro verdicts in the legend say."""

import numpy as np
import pytest

from antigrad.lab.figures import plot_robbins_monro
from antigrad.lab.figures.schedules import DEFAULT_SCHEDULES, schedule_values


def curves(ax, prefix):
    return {x.get_gid().split(":", 1)[1]: np.asarray(x.get_ydata())
            for x in ax.lines if (x.get_gid() or "").startswith(prefix)}


def decade_ratio(sums):
    """How much a partial sum grew over the last decade of steps, divided by how much it
    grew over the decade before: < 1 and falling means the series converges (each decade
    adds a fixed fraction of the one before), >= 1 means it diverges."""
    n = len(sums)
    return (sums[-1] - sums[n // 10 - 1]) / (sums[n // 10 - 1] - sums[n // 100 - 1])


def test_partial_sums_and_verdicts():
    fig = plot_robbins_monro()
    lr_ax, sum_ax, sq_ax = fig.axes
    eps, sums, squares = curves(lr_ax, "lr:"), curves(sum_ax, "sum:"), curves(sq_ax, "sum-squares:")
    assert list(eps) == list(DEFAULT_SCHEDULES)
    for label, factory in DEFAULT_SCHEDULES.items():
        expected, _ = schedule_values(factory, 0.1, 20_000)
        assert np.allclose(eps[label], expected)
        assert np.allclose(sums[label], np.cumsum(expected))
        assert np.allclose(squares[label], np.cumsum(expected**2))
    legend = [t.get_text() for t in lr_ax.get_legend().get_texts()]
    satisfied = [t[2:] for t in legend if t.startswith("✓")]
    assert satisfied == ["ε₀/(1 + t/10)", "ε₀/(1 + t/10)^0.75"]
    # what the verdicts claim shows in the data: Σε² of a satisfied schedule adds less every
    # decade while its Σε does not; Σε² of the constant and of p = 1/2 do not slow down;
    # the exponential's Σε stops
    for label in satisfied:
        assert decade_ratio(squares[label]) < 0.5 and decade_ratio(sums[label]) >= 0.9
    assert decade_ratio(squares["constant"]) > 9
    assert decade_ratio(squares["ε₀/(1 + t/10)^0.5"]) > 0.8
    assert decade_ratio(sums["ε₀·0.999^t"]) < 0.5

def test_bad_inputs():
    with pytest.raises(ValueError, match="horizon"):
        plot_robbins_monro(horizon=5)
    with pytest.raises(ValueError, match="base_lr"):
        plot_robbins_monro(base_lr=0.0)
    with pytest.raises(ValueError, match="schedules"):
        plot_robbins_monro(schedules={})
