"""The lab: compare optimizers on benchmark problems, store results, draw, report.

- :mod:`~antigrad.lab.optimizers`: the lecture's optimizers by name (lazy registry), and
  any optimizer written as text (:mod:`~antigrad.lab.spec_text`), with a schedule
  (:mod:`~antigrad.lab.schedules`).
- :mod:`~antigrad.lab.runner`: one training run (minibatch SGD loop, divergence, timing).
- :mod:`~antigrad.lab.replicas`: many runs (an lr grid, seeds, several optimizers) trained
  at once as one batched model, with the sequential runs' results;
  :mod:`~antigrad.lab.batching`: :func:`run_many`, any runs batched where possible;
  :mod:`~antigrad.lab.batch_threads`: how many threads a batch trains on (timed).
- :mod:`~antigrad.lab.lr_range`: the learning-rate range test (``antigrad.find_lr``).
- :mod:`~antigrad.lab.compare`: every optimizer at a fairly chosen lr over seeds.
- :mod:`~antigrad.lab.store`: the result store (SQLite under ``runs/``, or PostgreSQL:
  :mod:`~antigrad.lab.database`); :mod:`~antigrad.lab.export`: a stored comparison as CSV
  or JSON.
- :mod:`~antigrad.lab.plan`: what a comparison still has to run;
  :mod:`~antigrad.lab.queue`: its work list shared by workers; :mod:`~antigrad.lab.worker`:
  a worker (``antigrad work``) and resuming in one process.
- :mod:`~antigrad.lab.paths` and :mod:`~antigrad.lab.figures`: every picture of L18
  (the figures, the gallery and the report, and matplotlib with them, load on first use);
  :mod:`~antigrad.lab.surface_range`: the range test on a 2-D surface.
- :mod:`~antigrad.lab.report`: the HTML report; :mod:`~antigrad.lab.outdir`: which
  folders a report may replace (only antigrad's own).

Example::

    >>> from antigrad.lab import figures
    >>> fig = figures.plot_lr_regimes()
    >>> fig.savefig("lr-regimes.png")  # doctest: +SKIP
"""

import importlib
from typing import Any

from ..errors import EntryPointError
from .batching import run_many
from .compare import (
    CompareConfig,
    Comparison,
    ConfigError,
    Summary,
    lr_grid,
    new_comparison,
    run_compare,
)
from .lr_range import LRRangeResult, lr_range_test
from .optimizers import (
    LECTURE_OPTIMIZERS,
    OptimizerSpec,
    get_optimizer,
    optimizer_names,
    register_optimizer,
)
from .outdir import ReportDirError, check_report_dir
from .paths import Path, run_path
from .replicas import train_replicas
from .runner import RunRequest, RunResult, train_run
from .store import DEFAULT_STORE, Store, StoreError, StoreRecording
from .table import summary_text

__all__ = ["EntryPointError", "figures", "CompareConfig", "Comparison", "ConfigError",
           "Summary", "lr_grid", "run_compare", "new_comparison",
           "LRRangeResult", "lr_range_test", "LECTURE_OPTIMIZERS",
           "OptimizerSpec", "get_optimizer", "optimizer_names", "register_optimizer",
           "Path", "run_path", "ReportDirError", "check_report_dir", "default_report_dir",
           "write_report", "gallery_pictures", "RunResult", "RunRequest", "train_run",
           "train_replicas", "run_many", "DEFAULT_STORE", "Store",
           "StoreError", "StoreRecording", "summary_text"]

#: What draws, by the module it lives in: loaded on first use, since matplotlib costs about
#: half a second of CPU to import and a worker or an export never draws.
_DRAWING = {"figures": ".figures", "gallery_pictures": ".gallery",
            "default_report_dir": ".report", "write_report": ".report"}


def __getattr__(name: str) -> Any:
    if name not in _DRAWING:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(_DRAWING[name], __name__)
    value = module if name == "figures" else getattr(module, name)
    globals()[name] = value
    return value
