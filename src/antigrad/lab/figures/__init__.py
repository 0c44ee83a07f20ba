"""Every picture of the lecture (SPEC L18) and of a comparison, as matplotlib Figures.

============================  ====================================================
function                      picture
============================  ====================================================
plot_trajectories             several optimizers' paths over a surface's contours
plot_lr_regimes               a too small, a good and a too large lr (L4)
plot_lr_range                 the lr range test curve with its suggestion (L4)
plot_sgd_vs_gd                noisy minibatch SGD vs full-batch GD (L5, L6)
plot_momentum_zigzag          momentum smoothing a zig-zag in a ravine (L7)
plot_adaptive_vs_sgd          per-axis adaptive methods vs SGD, ill-conditioned (L9-12)
plot_restarts                 restarts landing in different minima (L17)
comparison_figures            the report's curves, lr grid and final metrics
============================  ====================================================

Each returns a :class:`matplotlib.figure.Figure` (no pyplot state); save it with
``fig.savefig("name.png")``.
"""

from .comparison import (
    comparison_figures,
    plot_final_metric,
    plot_loss_curves,
    plot_lr_sensitivity,
    plot_metric_curves,
)
from .dynamics import plot_adaptive_vs_sgd, plot_momentum_zigzag, plot_sgd_vs_gd
from .learning_rate import plot_lr_range, plot_lr_regimes
from .restarts import plot_restarts
from .trajectories import plot_paths, plot_trajectories

__all__ = ["plot_trajectories", "plot_paths", "plot_lr_regimes", "plot_lr_range",
           "plot_sgd_vs_gd", "plot_momentum_zigzag", "plot_adaptive_vs_sgd", "plot_restarts",
           "comparison_figures", "plot_loss_curves", "plot_metric_curves",
           "plot_lr_sensitivity", "plot_final_metric", "LECTURE_FIGURES"]

#: The lecture's pictures that need no inputs, by file stem (what ``gallery`` draws).
LECTURE_FIGURES = {
    "trajectories": plot_trajectories,
    "lr-regimes": plot_lr_regimes,
    "sgd-vs-gd": plot_sgd_vs_gd,
    "momentum": plot_momentum_zigzag,
    "adaptive": plot_adaptive_vs_sgd,
    "restarts": plot_restarts,
}
