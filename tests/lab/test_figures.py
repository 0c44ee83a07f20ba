"""Every picture: what is drawn (paths, labels, divergence marks), not only that it returns."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from antigrad.lab import CompareConfig, get_optimizer, run_compare, run_path  # noqa: E402
from antigrad.lab import figures as F  # noqa: E402
from antigrad.lab.lr_range import lr_range_test  # noqa: E402
from antigrad.problems import get_surface, get_training_problem  # noqa: E402
from antigrad.problems.surfaces import quadratic  # noqa: E402


def gids(ax, prefix):
    return [line.get_gid() for line in ax.lines if (line.get_gid() or "").startswith(prefix)]


def legend_texts(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_paths_record_iterates_and_divergence():
    ok = run_path(quadratic(10), "sgd", lr=0.1, steps=30)
    assert ok.points.shape == (31, 2) and len(ok.losses) == 31 and not ok.diverged
    assert ok.losses[-1] < ok.losses[0] * 1e-3
    bad = run_path(quadratic(10), "sgd", lr=0.25, steps=500)  # lr > 2 / condition
    assert bad.diverged and len(bad.points) < 501 and np.isfinite(bad.points).all()
    with pytest.raises(ValueError, match="steps"):
        run_path(quadratic(10), "sgd", steps=0)


def test_trajectories_one_path_per_optimizer_over_contours():
    fig = F.plot_trajectories("beale", {"sgd": 0.01, "momentum": 0.003, "adam": 0.05}, steps=20)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    surf, loss = fig.axes
    assert gids(surf, "path:") == ["path:sgd", "path:momentum", "path:adam"]
    assert len(gids(loss, "path:")) == 3
    assert surf.collections, "contour lines drawn"
    assert gids(surf, "minimum") == ["minimum"]
    assert surf.get_xlabel() == "$w_1$" and surf.get_ylabel() == "$w_2$"
    assert loss.get_xlabel() == "step t" and loss.get_yscale() == "log"
    assert "adam, lr=0.05" in legend_texts(surf)
    line = next(x for x in surf.lines if x.get_gid() == "path:sgd")
    assert len(line.get_xdata()) == 21  # w_0 and 20 steps


def test_diverging_run_is_marked():
    fig = F.plot_trajectories("quadratic", {"sgd": 0.3, "adam": 0.1}, steps=50)
    surf, loss = fig.axes
    assert gids(surf, "diverged:") == gids(loss, "diverged:") == ["diverged:sgd"]
    assert any("(diverged)" in t for t in legend_texts(surf))
    assert not any("adam" in t and "diverged" in t for t in legend_texts(surf))


def test_lr_regimes_small_good_large():
    fig = F.plot_lr_regimes(steps=40)
    surf, loss = fig.axes
    assert len(gids(surf, "path:")) == 3 and len(gids(surf, "diverged:")) == 1
    texts = legend_texts(surf)
    assert texts[1].startswith("too small") and "(diverged)" in texts[3]
    assert "(diverged)" not in texts[1] + texts[2]
    assert loss.get_ylabel() == "loss L(w)"
    with pytest.raises(ValueError, match="lrs"):
        F.plot_lr_regimes(lrs=(0.1, 0.01, 0.2))


def test_lr_range_curve_with_suggestion():
    r = lr_range_test(get_training_problem("breast-cancer"), get_optimizer("sgd"), steps=30)
    fig = F.plot_lr_range(r)
    (ax,) = fig.axes
    assert ax.get_xscale() == "log" and "learning rate" in ax.get_xlabel()
    assert ax.get_ylabel() == "training loss"
    (sug,) = [x for x in ax.lines if x.get_gid() == "suggestion"]
    assert sug.get_xdata()[0] == pytest.approx(r.suggestion)
    assert len(gids(ax, "smoothed")) == 1 and len(gids(ax, "raw")) == 1
    assert any(f"{r.suggestion:.3g}" in t for t in legend_texts(ax))


def test_sgd_vs_gd_three_curves_on_two_scales():
    fig = F.plot_sgd_vs_gd(epochs=1, batch_size=50)
    left, right = fig.axes
    assert [g.split(":")[1] for g in gids(left, "path:")][0] == "full-batch GD"
    assert len(gids(left, "path:")) == 3 and len(gids(right, "path:")) == 3
    assert left.get_xlabel() == "step t" and "examples processed" in right.get_xlabel()
    gd, sgd, _ = (x.get_ydata() for x in left.lines)
    assert len(gd) == len(sgd) == 1000 // 50 + 1
    assert gd[-1] <= sgd[-1]  # per step, the full gradient is the better one ...
    gd_x = next(x for x in right.lines if x.get_gid() == "path:full-batch GD").get_xdata()
    assert gd_x[1] == 1.0 and sgd[-1] < gd[1]  # ... per epoch of work, SGD wins (L1, L5)


def test_momentum_zigzag_smoother_path():
    fig = F.plot_momentum_zigzag(steps=60)
    surf, _ = fig.axes
    gd, mom = (x for x in surf.lines if (x.get_gid() or "").startswith("path:"))
    sign_changes = lambda line: int((np.diff(np.sign(line.get_ydata())) != 0).sum())  # noqa: E731
    assert sign_changes(mom) < sign_changes(gd) / 2
    assert "momentum" in legend_texts(surf)[2]


def test_adaptive_vs_sgd_paths_and_result():
    fig = F.plot_adaptive_vs_sgd(steps=80)
    surf, loss = fig.axes
    assert gids(surf, "path:") == ["path:sgd", "path:adagrad", "path:rmsprop", "path:adam"]
    assert "condition number 100" in surf.get_title()
    sgd, *_, adam = (x.get_ydata() for x in loss.lines if x.get_gid().startswith("path:"))
    assert adam[-1] < sgd[-1]


def test_restarts_land_in_several_minima():
    fig = F.plot_restarts(restarts=8, steps=200)
    surf, bars = fig.axes
    assert len(gids(surf, "path:restart-")) == 8
    assert "found" in surf.get_title() and "of 6 minima" in surf.get_title()
    found = int(surf.get_title().split("found ")[1].split(" ")[0])
    assert found >= 2
    assert len(bars.patches) == 8 and bars.get_ylabel() == "final loss L(w)"
    # the minima found differ in value, so keeping the best restart matters (L17)
    finals = np.array([p.get_height() for p in bars.patches])
    assert len(np.unique(finals.round(3))) >= 2
    (best,) = [x for x in bars.lines if x.get_gid() == "best"]
    assert best.get_ydata()[0] == finals.min() == pytest.approx(-1.0316285, abs=1e-4)
    assert finals.max() > finals.min() + 0.5
    with pytest.raises(ValueError, match="restarts"):
        F.plot_restarts(restarts=0)


def test_comparison_figures():
    cmp = run_compare(CompareConfig("noisy-least-squares", ["sgd", "adam"], grid_points=3,
                                    lrs=[0.01, 0.1, 5.0], seeds=2, steps=40, eval_every=10))
    figs = F.comparison_figures(cmp)
    assert list(figs) == ["metric", "loss", "final", "lr"]
    (m,) = figs["metric"].axes
    assert len(gids(m, "path:")) == 2 and gids(m, "target") == ["target"]
    assert m.get_ylabel() == "test mse" and m.get_xlabel() == "step t"
    (lr,) = figs["lr"].axes
    assert len(gids(lr, "path:")) == 2 and lr.get_xscale() == "log"
    assert len(gids(lr, "chosen:")) == 2
    assert "diverged:sgd" in gids(lr, "diverged:")  # lr=5 explodes plain SGD
    (fin,) = figs["final"].axes
    assert [t.get_text() for t in fin.get_yticklabels()] == ["sgd", "adam"]
    assert len(gids(figs["loss"].axes[0], "path:")) == 2


def test_gallery_lists_every_lecture_picture():
    assert list(F.LECTURE_FIGURES) == [
        "steepest-descent", "lr-regimes", "sgd-vs-gd", "schedules", "momentum", "nesterov",
        "adaptive", "weight-decay", "newton", "second-order", "restarts", "trajectories"]
    assert get_surface("rosenbrock").lrs


def test_loss_curve_is_drawn_at_the_steps_it_holds():
    from antigrad.lab import CompareConfig, Comparison, RunResult
    from antigrad.lab.figures import plot_loss_curves

    cmp = Comparison(CompareConfig("breast-cancer", ["sgd"], seeds=1), "m", True, 1.0, "t",
                     chosen_lr={"sgd": 0.1})
    every_step = [(s, 1.0 / s) for s in range(1, 41)]
    blocks = [(s, 1.0 / s) for s in range(100, 4001, 100)]  # a long run's block means
    for losses in (every_step, blocks):
        cmp.runs = [RunResult("sgd", 0.1, 0, losses[-1][0], False, 0.1, 0.5, 1.0,
                              losses=losses, evals=[(0, 0.0, 0.1)])]
        (line,) = [x for x in plot_loss_curves(cmp, window=5).axes[0].lines
                   if x.get_gid() == "path:sgd"]
        x = list(line.get_xdata())
        assert x == [s for s, _ in losses[4:]]
