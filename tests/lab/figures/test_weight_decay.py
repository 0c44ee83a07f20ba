"""L14: the shrinks drawn are measured with antigrad's Adam and AdamW and follow the formula:
L2-in-Adam shrinks by about T·ε·2λ/σ, AdamW by T·ε·2λ whatever the gradient scale σ."""

import numpy as np
import pytest

from antigrad.lab.figures import plot_weight_decay
from antigrad.lab.figures.weight_decay import shrink_runs


def curve(ax, gid):
    (x,) = [x for x in ax.lines if x.get_gid() == gid]
    return np.asarray(x.get_xdata()), np.asarray(x.get_ydata())


def test_shrink_ratios_follow_the_formula():
    lr, lam, steps = 0.01, 0.005, 300
    fig = plot_weight_decay(lr=lr, weight_decay=lam, steps=steps)
    weights, shrink = fig.axes
    sigma, l2 = curve(shrink, "shrink:l2-adam")
    _, adamw = curve(shrink, "shrink:adamw")
    nominal = steps * lr * 2 * lam
    large = sigma >= 0.5  # where 2λw << σ: the L2 gradient hides inside Adam's denominator
    assert np.allclose(l2[large], nominal / sigma[large], rtol=0.1)
    assert np.allclose(adamw, nominal, rtol=0.05)  # decoupled: the same for every σ
    # between σ = 1 and σ = 10 L2-in-Adam's shrink falls tenfold, AdamW's not at all
    i1, i10 = np.argmin(abs(sigma - 1)), np.argmin(abs(sigma - 10))
    assert l2[i1] / l2[i10] == pytest.approx(10, rel=0.1)
    assert adamw[i1] / adamw[i10] == pytest.approx(1, rel=0.01)
    # small gradients: L2-in-Adam pulls the weight to 0, far beyond AdamW's shrink
    assert l2[0] > 0.9 and l2[0] > 30 * adamw[0]
    _, w_small = curve(weights, "weight:l2-small")
    _, w_large = curve(weights, "weight:l2-large")
    assert abs(w_small[-1]) < 0.05 and w_large[-1] > 0.95


def test_runs_share_their_gradients():
    runs = shrink_runs(np.array([0.1, 1.0]), 0.01, 0.0 + 1e-12, 20)
    # with (almost) no decay, all three runs are the same Adam run
    assert np.allclose(runs.l2_adam, runs.reference, atol=1e-9)
    assert np.allclose(runs.adamw, runs.reference, atol=1e-9)


def test_bad_inputs():
    with pytest.raises(ValueError, match="weight_decay"):
        plot_weight_decay(weight_decay=0)
    with pytest.raises(TypeError, match="lr"):
        plot_weight_decay(lr="fast")
    with pytest.raises(ValueError, match="sigmas"):
        plot_weight_decay(sigmas=[1.0])
