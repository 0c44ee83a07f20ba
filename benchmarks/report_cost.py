"""Where the time of ``antigrad compare``'s report goes, and its fixed cost end to end.

    PYTHONPATH=src OMP_NUM_THREADS=1 .venv/bin/python benchmarks/report_cost.py \\
        [--store runs/antigrad.sqlite] [--id N]
    PYTHONPATH=src OMP_NUM_THREADS=1 .venv/bin/python benchmarks/report_cost.py --end-to-end

Default mode: loads a stored comparison (the newest in ``--store``; without ``--store``, a
small one is made first by ``antigrad compare --steps 100 --no-gallery`` in a temporary
folder, not timed) and writes its report as ``antigrad compare`` does, in this process on
one intra-op thread, timing each figure in two parts: *build* (computing what it shows,
including any optimizer runs, and creating the matplotlib artists) and *save* (rendering
the PNG at the report's 100 dpi). Then the whole report three ways: the gallery drawn
(``LECTURE_FIGURES`` called, no cache), from an empty gallery cache (cold: drawn and
stored) and from that cache again (warm: read back), each + ``write_report``.

``--end-to-end``: the default ``antigrad compare`` (the ``make demo`` workload; ``--steps``
to shorten it) twice in fresh processes with a temporary ``ANTIGRAD_CACHE_DIR`` that holds
a copy of the compiled kernels (so kernels are warm) and no gallery: the first run draws
the gallery (cold), the second reads it (warm). Each is timed from process start to exit;
the comparison's own seconds are read back from its store, and the rest is the *fixed
cost* (process start, imports, opening the store, the report, exit). Also timed: a bare
``python -c pass`` and ``import antigrad.lab`` in a fresh process. Run it with
``PYTHONPATH`` pointing at an older source tree to measure that tree the same way.

CPU seconds are this process's (``time.process_time``) or the child's (``getrusage``); on
a shared machine they move less with the other processes than the wall seconds do.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
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


def _whole_report(cmp, folder: Path) -> list[tuple[str, float, float]]:
    """The report as ``antigrad compare`` writes it: gallery drawn every time (no cache),
    from an empty gallery cache (cold), from that cache again (warm); CPU and wall each."""
    from antigrad.lab import write_report
    from antigrad.lab.figures import LECTURE_FIGURES
    from antigrad.lab.gallery import gallery_pictures

    def drawn() -> None:
        gallery = {k: f() for k, f in LECTURE_FIGURES.items()}
        write_report(cmp, folder / "report", gallery=gallery)

    def cached() -> None:
        write_report(cmp, folder / "report", gallery=gallery_pictures(folder / "cache"))

    rows = []
    for name, work in (("gallery drawn, no cache", drawn), ("gallery cache cold", cached),
                       ("gallery cache warm", cached)):
        _, cpu, wall = _timed(work)
        rows.append((name, cpu, wall))
    return rows


def _child(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system) of ``cmd`` run to its end in a fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def end_to_end(steps: int | None) -> None:
    """The default compare twice (gallery cold, then warm), its fixed cost each time."""
    from antigrad.engine.compiler import cache_dir
    from antigrad.lab import Store

    print(f"load average {os.getloadavg()[0]:.1f}, antigrad from "
          f"{os.environ.get('PYTHONPATH', '(installed)')}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cache = folder / "cache"
        kernels = cache_dir()
        if kernels.is_dir():  # the compiled kernels, warm; no gallery
            shutil.copytree(kernels, cache, ignore=shutil.ignore_patterns("gallery"))
        env = {**os.environ, "ANTIGRAD_CACHE_DIR": str(cache), "OMP_NUM_THREADS": "1"}
        for name, code in (("python -c pass", "pass"), ("import antigrad.lab", "import "
                                                                          "antigrad.lab")):
            wall, cpu = _child([sys.executable, "-c", code], env)
            print(f"{name}: {wall:.2f} s wall, {cpu:.2f} s CPU")
        print("| run | wall s | CPU s | comparison s | fixed s (wall - comparison) |")
        print("|---|---:|---:|---:|---:|")
        for i, name in enumerate(("gallery cold", "gallery warm")):
            store = folder / f"{i}.sqlite"
            cmd = [sys.executable, "-c",
                   "import sys; from antigrad.cli import main; main(sys.argv[1:])",
                   "compare", "--store", str(store), "--out", str(folder / f"report{i}"),
                   *(["--steps", str(steps)] if steps else [])]
            wall, cpu = _child(cmd, env)
            seconds = Store(store).load().seconds
            print(f"| {name} | {wall:.1f} | {cpu:.1f} | {seconds:.1f} | {wall - seconds:.1f} |")
        print(f"load average at the end {os.getloadavg()[0]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", help="a store holding a comparison (default: make one)")
    parser.add_argument("--id", type=int, help="the comparison's id (default: the newest)")
    parser.add_argument("--end-to-end", action="store_true",
                        help="time the default compare in fresh processes, gallery cold/warm")
    parser.add_argument("--steps", type=int, help="--end-to-end: steps per run (default: "
                        "the problem's, 1500)")
    args = parser.parse_args()
    if args.end_to_end:
        end_to_end(args.steps)
        return
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
        print("| whole report (+ write_report) | CPU s | wall s |")
        print("|---|---:|---:|")
        for name, cpu, wall in _whole_report(cmp, folder):
            print(f"| {name} | {cpu:.2f} | {wall:.2f} |")
        print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
