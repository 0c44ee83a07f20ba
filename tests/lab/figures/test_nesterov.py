"""L8: the look-ahead points drawn are where Nesterov took its gradients, w_t − γv_{t−1}."""

import numpy as np
import pytest

from antigrad.lab.figures import plot_nesterov_lookahead


def data(ax, gid):
    lines = [x for x in ax.lines if x.get_gid() == gid]
    return [np.column_stack([x.get_xdata(), x.get_ydata()]) for x in lines]


def test_lookahead_points_and_heavy_ball_evaluations():
    gamma = 0.9
    fig = plot_nesterov_lookahead(gamma=gamma, steps=30, shown=6)
    ax, loss_ax = fig.axes
    (nag,), (nag_seen,) = data(ax, "path:nesterov"), data(ax, "evaluated:nesterov")
    (hb,), (hb_seen,) = data(ax, "path:momentum"), data(ax, "evaluated:momentum")
    assert len(nag) == len(hb) == 31 and len(nag_seen) == len(hb_seen) == 30
    # heavy ball takes every gradient at its iterate ...
    assert np.allclose(hb_seen, hb[:-1])
    # ... Nesterov at w_t − γ v_{t−1}, where v_{t−1} = w_{t−1} − w_t
    assert np.allclose(nag_seen[0], nag[0])
    assert np.allclose(nag_seen[1:], nag[1:-1] + gamma * (nag[1:-1] - nag[:-2]))
    (shown,) = data(ax, "lookahead")
    assert np.allclose(shown, nag_seen[1:6])
    assert len(data(ax, "lookahead-link")) == 5
    # and it damps the oscillation: far lower loss after the same steps
    hb_loss, nag_loss = (np.asarray(x.get_ydata()) for x in loss_ax.lines)
    assert nag_loss[-1] < hb_loss[-1] / 10


def test_bad_inputs():
    with pytest.raises(ValueError, match="gamma"):
        plot_nesterov_lookahead(gamma=1.0)
    with pytest.raises(TypeError, match="gamma"):
        plot_nesterov_lookahead(gamma=None)
    with pytest.raises(ValueError, match="steps"):
        plot_nesterov_lookahead(steps=1)
