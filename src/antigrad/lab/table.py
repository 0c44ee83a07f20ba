"""The results table of a comparison, as rows (for HTML) and as plain text (for terminals)."""

from __future__ import annotations

import math

from .compare import Comparison

__all__ = ["HEADERS", "SHORT_HEADERS", "summary_rows", "summary_text"]

HEADERS = ["rank", "optimizer", "chosen lr", "final metric (mean ± std)", "final train loss",
           "reached target", "steps to target", "seconds to target", "seconds / run",
           "diverged"]

#: The same columns, named briefly for narrow terminals.
SHORT_HEADERS = ["#", "optimizer", "lr", "metric", "train loss", "hit", "steps→target",
                 "s→target", "s/run", "diverged"]


def _fmt(x: float | None, spec: str) -> str:
    return "—" if x is None or (isinstance(x, float) and not math.isfinite(x)) else format(x, spec)


def summary_rows(cmp: Comparison) -> list[list[str]]:
    """One row of strings per optimizer, best first (see :data:`HEADERS`)."""
    rows = []
    for rank, s in enumerate(cmp.ranking(), start=1):
        metric = ("—" if math.isnan(s.metric_mean)
                  else f"{s.metric_mean:.4f} ± {s.metric_std:.4f}")
        rows.append([
            str(rank), s.optimizer, _fmt(s.lr, ".3g"), metric, _fmt(s.loss_mean, ".4f"),
            f"{s.reached}/{s.runs}", _fmt(s.steps_to_target, ".0f"),
            _fmt(s.seconds_to_target, ".2f"), _fmt(s.seconds, ".2f"), f"{s.diverged}/{s.runs}",
        ])
    return rows


def _lr_method(cmp: Comparison) -> str:
    budget = cmp.config.budget
    return cmp.config.lr_method if budget is None else f"{budget} validation trials"


def summary_text(cmp: Comparison) -> str:
    """A fixed-width table with a header line saying what was compared."""
    rows = summary_rows(cmp)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(HEADERS)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))  # noqa: E731
    head = (f"{cmp.title} — {cmp.metric} (target {cmp.target:g}, "
            f"{'higher' if cmp.higher_is_better else 'lower'} is better); "
            f"{len(cmp.config.seed_list())} seeds, lr by {_lr_method(cmp)}; "
            f"{cmp.seconds:.1f} s in all")
    return "\n".join([head, line(HEADERS), line(["-" * w for w in widths]),
                      *map(line, rows)]) + "\n"
