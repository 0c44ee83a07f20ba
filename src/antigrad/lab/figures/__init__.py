"""Every picture of the lecture (SPEC L18) and of a comparison, as matplotlib Figures.

============================  ====================================================
function                      picture
============================  ====================================================
plot_steepest_descent         gradient, antigradient, slope of every direction (L2)
plot_lr_regimes               a too small, a good and a too large lr (L4)
plot_lr_range                 the lr range test curve with its suggestion (L4)
plot_sgd_vs_gd                noisy minibatch SGD vs full-batch GD (L5, L6)
plot_robbins_monro            schedules' ε_t, Σε_t and Σε_t² (L6)
plot_momentum_zigzag          momentum smoothing a zig-zag in a ravine (L7)
plot_nesterov_lookahead       Nesterov's look-ahead point vs heavy ball (L8)
plot_adaptive_vs_sgd          per-axis adaptive methods vs SGD, ill-conditioned (L9-12)
plot_weight_decay             L2-in-Adam vs AdamW: who is shrunk how much (L14)
plot_newton_step              Newton's local quadratic model and its step (L15)
plot_second_order             GD, Newton, diagonal Newton, BFGS, L-BFGS + costs (L16)
plot_restarts                 restarts landing in minima of different value (L17)
plot_trajectories             several optimizers' paths over a surface's contours
comparison_figures            the report's curves, lr grid and final metrics
============================  ====================================================

Each returns a :class:`matplotlib.figure.Figure` (no pyplot state); save it with
``fig.savefig("name.png")``.
"""

from .comparison import (
    comparison_figures,
    plot_best_so_far,
    plot_final_metric,
    plot_loss_curves,
    plot_lr_sensitivity,
    plot_metric_curves,
)
from .dynamics import plot_adaptive_vs_sgd, plot_momentum_zigzag, plot_sgd_vs_gd
from .learning_rate import plot_lr_range, plot_lr_regimes
from .nesterov import plot_nesterov_lookahead
from .newton import plot_newton_step
from .restarts import plot_restarts
from .schedules import plot_robbins_monro
from .second_order import plot_second_order
from .steepest import plot_steepest_descent
from .trajectories import plot_paths, plot_trajectories
from .weight_decay import plot_weight_decay

__all__ = ["plot_steepest_descent", "plot_trajectories", "plot_paths", "plot_lr_regimes",
           "plot_lr_range", "plot_sgd_vs_gd", "plot_robbins_monro", "plot_momentum_zigzag",
           "plot_nesterov_lookahead", "plot_adaptive_vs_sgd", "plot_weight_decay",
           "plot_newton_step", "plot_second_order", "plot_restarts",
           "comparison_figures", "plot_loss_curves", "plot_metric_curves",
           "plot_lr_sensitivity", "plot_final_metric", "plot_best_so_far",
           "LECTURE_FIGURES"]

#: The lecture's pictures that need no inputs, by file stem, in the lecture's order (what
#: the report's gallery draws).
LECTURE_FIGURES = {
    "steepest-descent": plot_steepest_descent,
    "lr-regimes": plot_lr_regimes,
    "sgd-vs-gd": plot_sgd_vs_gd,
    "schedules": plot_robbins_monro,
    "momentum": plot_momentum_zigzag,
    "nesterov": plot_nesterov_lookahead,
    "adaptive": plot_adaptive_vs_sgd,
    "weight-decay": plot_weight_decay,
    "newton": plot_newton_step,
    "second-order": plot_second_order,
    "restarts": plot_restarts,
    "trajectories": plot_trajectories,
}
