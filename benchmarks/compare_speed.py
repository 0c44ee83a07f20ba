"""The default ``antigrad compare`` end to end: batched replicas against sequential runs.

``compare`` mode (the default) runs the ``make demo`` workload — ``antigrad compare`` with
its defaults: mnist1d-mlp, the nine lecture optimizers, a 3-point lr grid, 3 seeds, 1500
steps, the report with its gallery — once with replicas and once with ``--no-replicas``,
each in a fresh process with the lab's threads (a run alone on one intra-op thread, a
batch on one or on the process's threads, whichever its probes time faster:
``OMP_NUM_THREADS=1`` keeps everything on one), in the order given by ``--order``. Each
is timed end to end (process start to exit: what a user waits for); the comparison's own
seconds (training, evaluations and bookkeeping, without the report) are read back from
its store. The ratio sequential / replicas is the speed-up. Before timing, a small
comparison (one optimizer, 5 steps) draws the report's gallery into antigrad's cache, so
both timed reports read it, as every report after the first does (the gallery is the
same pictures every time; drawing it once costs ~20 s of CPU).

``sweep`` mode finds the smallest batch worth batching: R runs spread over the nine
optimizers (run i: optimizer i mod 9, its default lr, seed i) trained by ``run_many``
as one batch and one after another, in this process, alternating, for each R.

    PYTHONPATH=src .venv/bin/python benchmarks/compare_speed.py
    PYTHONPATH=src OMP_NUM_THREADS=1 .venv/bin/python benchmarks/compare_speed.py sweep \\
        --sizes 2,3,4,6,8 --steps 300
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_CLI = [sys.executable, "-c", "import sys; from antigrad.cli import main; main(sys.argv[1:])"]


def _draw_gallery(folder: Path) -> None:
    """A small comparison whose report draws the gallery into antigrad's cache."""
    subprocess.run([*_CLI, "compare", "-o", "sgd", "--steps", "5", "--store",
                    str(folder / "gallery.sqlite"), "--out", str(folder / "gallery")],
                   check=True, capture_output=True, text=True)


def _compare(mode: str, args: argparse.Namespace, folder: Path) -> dict:
    """One ``antigrad compare`` in a fresh process: wall seconds and the stored seconds."""
    from antigrad.lab import Store

    store = folder / f"{mode}.sqlite"
    cmd = [*_CLI, "compare", "--store", str(store), "--out", str(folder / mode),
           *(["--steps", str(args.steps)] if args.steps else []),
           *(["--no-replicas"] if mode == "sequential" else [])]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    cmp = Store(store).load()
    return {"mode": mode, "wall": wall, "compare": cmp.seconds, "runs": len(cmp.runs),
            "chosen": cmp.chosen_lr, "load": os.getloadavg()[0]}


def compare_mode(args: argparse.Namespace) -> None:
    import torch

    with tempfile.TemporaryDirectory() as tmp:
        _draw_gallery(Path(tmp))
        rows = {mode: _compare(mode, args, Path(tmp)) for mode in args.order.split(",")}
    seq, rep = rows["sequential"], rows["replicas"]
    print(f"default antigrad compare (mnist1d-mlp, 9 optimizers x (3 lrs + 2 seeds), "
          f"{args.steps or 'default'} steps), process threads {torch.get_num_threads()}")
    print(f"{'mode':>10} {'runs':>5} {'wall s':>8} {'compare s':>10} {'load after':>10}")
    for row in rows.values():
        print(f"{row['mode']:>10} {row['runs']:>5} {row['wall']:>8.1f} {row['compare']:>10.1f} "
              f"{row['load']:>10.1f}")
    print(f"speed-up end to end: {seq['wall'] / rep['wall']:.2f}x; compare alone (no "
          f"report): {seq['compare'] / rep['compare']:.2f}x")
    print("same chosen lrs:", seq["chosen"] == rep["chosen"])


def sweep_mode(args: argparse.Namespace) -> None:
    import torch

    from antigrad.lab import RunRequest, get_optimizer, optimizer_names, run_many
    from antigrad.problems import get_training_problem

    torch.set_num_threads(1)
    problem = get_training_problem(args.problem)
    specs = [get_optimizer(name) for name in optimizer_names()]
    problem.make(0)
    run_many(problem, [RunRequest(s, s.default_lr) for s in specs], steps=2,
             min_replicas=2)  # every kernel compiled before timing
    print(f"{args.problem}, {args.steps} steps, runs over the 9 optimizers, one thread")
    print(f"{'runs':>5} {'sequential s':>13} {'batched s':>10} {'x seq':>6}")
    for size in map(int, args.sizes.split(",")):
        requests = [RunRequest(specs[i % 9], specs[i % 9].default_lr, i) for i in range(size)]
        seconds = {}
        for replicas in (False, True):
            t0 = time.perf_counter()
            run_many(problem, requests, steps=args.steps, replicas=replicas, min_replicas=2)
            seconds[replicas] = time.perf_counter() - t0
        print(f"{size:>5} {seconds[False]:>13.2f} {seconds[True]:>10.2f} "
              f"{seconds[False] / seconds[True]:>6.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("mode", nargs="?", default="compare", choices=["compare", "sweep"])
    ap.add_argument("--steps", type=int, default=None, help="steps per run (default: the "
                    "problem's, 1500; sweep: 300)")
    ap.add_argument("--order", default="replicas,sequential", help="compare: which first")
    ap.add_argument("--problem", default="mnist1d-mlp", help="sweep: the problem")
    ap.add_argument("--sizes", default="2,3,4,6,8,12", help="sweep: runs per batch")
    args = ap.parse_args()
    if args.mode == "compare":
        compare_mode(args)
    else:
        args.steps = args.steps or 300
        sweep_mode(args)


if __name__ == "__main__":
    main()
