"""Where the time of ``antigrad compare``'s report goes: each figure, built and saved.

    PYTHONPATH=src OMP_NUM_THREADS=1 .venv/bin/python benchmarks/report_cost.py \\
        [--store runs/antigrad.sqlite] [--id N]

Loads a stored comparison (the newest in ``--store``; without ``--store``, a small one is
made first by ``antigrad compare --steps 100 --no-gallery`` in a temporary folder, not
timed) and writes its report as ``antigrad compare`` does (the comparison's figures, then
the lecture's gallery, ``write_report``), in this process on one intra-op thread, timing
each figure in two parts: *build* (computing what it shows, including any optimizer runs,
and creating the matplotlib artists) and *save* (rendering the PNG at the report's 100
dpi). Then the same report end to end (gallery drawn + ``write_report``), as a check of
the sum. CPU seconds are this process's (``time.process_time``); on a shared machine they
move less with the other processes than the wall seconds do.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
os.environ.setdefault("OMP_NUM_THREADS", "1")


def _timed(work: Callable[[], object]) -> tuple[object, float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    result = work()
    return result, time.process_time() - cpu, time.perf_counter() - wall


def _small_store(folder: Path) -> Path:
    """A comparison of the default workload at 100 steps, without a report worth timing."""
    store = folder / "small.sqlite"
    subprocess.run([sys.executable, "-c",
                    "import sys; from antigrad.cli import main; main(sys.argv[1:])",
                    "compare", "--steps", "100", "--no-gallery", "--store", str(store),
                    "--out", str(folder / "small")], check=True, capture_output=True)
    return store


def _rows(cmp, folder: Path) -> list[tuple[str, float, float, float, float]]:
    """(figure, build CPU, build wall, save CPU, save wall) for every figure of the report."""
    from antigrad.lab.figures import LECTURE_FIGURES
    from antigrad.lab.figures.comparison import comparison_figures

    rows = []
    with matplotlib.rc_context({"text.parse_math": False}):
        drawn, cpu, wall = _timed(lambda: comparison_figures(cmp))
    rows.append(("comparison figures, all built", cpu, wall, 0.0, 0.0))
    for stem, fig in drawn.items():
        _, save_cpu, save_wall = _timed(partial(fig.savefig, folder / f"{stem}.png", dpi=100))
        rows.append((f"comparison: {stem}", 0.0, 0.0, save_cpu, save_wall))
    for stem, draw in LECTURE_FIGURES.items():
        fig, cpu, wall = _timed(draw)
        save = partial(fig.savefig, folder / f"l-{stem}.png", dpi=100)
        _, save_cpu, save_wall = _timed(save)
        rows.append((f"gallery: {stem}", cpu, wall, save_cpu, save_wall))
    return rows


def _whole_report(cmp, folder: Path) -> tuple[float, float]:
    """The report as ``antigrad compare`` writes it: gallery drawn, then ``write_report``."""
    from antigrad.lab import write_report
    from antigrad.lab.figures import LECTURE_FIGURES

    def report() -> None:
        gallery = {k: f() for k, f in LECTURE_FIGURES.items()}
        write_report(cmp, folder / "report", gallery=gallery)

    _, cpu, wall = _timed(report)
    return cpu, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", help="a store holding a comparison (default: make one)")
    parser.add_argument("--id", type=int, help="the comparison's id (default: the newest)")
    args = parser.parse_args()
    import torch

    from antigrad.lab import Store

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        store = Path(args.store) if args.store else _small_store(folder)
        cmp = Store(store).load(args.id)
        print(f"report of comparison {cmp.id} ({cmp.config.problem}, {len(cmp.runs)} runs), "
              f"one thread, load average {os.getloadavg()[0]:.1f}")
        print("| figure | build CPU s | build wall s | save CPU s | save wall s |")
        print("|---|---:|---:|---:|---:|")
        rows = _rows(cmp, folder)
        for name, *seconds in rows:
            print(f"| {name} | " + " | ".join(f"{s:.2f}" for s in seconds) + " |")
        totals = [sum(r[i] for r in rows) for i in range(1, 5)]
        print("| **sum** | " + " | ".join(f"**{s:.1f}**" for s in totals) + " |")
        cpu, wall = _whole_report(cmp, folder)
        print(f"whole report (gallery drawn + write_report): {cpu:.1f} s CPU, {wall:.1f} s wall")


if __name__ == "__main__":
    main()
