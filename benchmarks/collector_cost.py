"""What Python's garbage collector costs a training loop and an ``antigrad`` command.

``loop`` mode: a batch of ``--replicas`` Adam replicas (``train_replicas``) and
``--sequential`` runs alone (``train_run``) on a problem, alternately with the loop's
frozen objects (:func:`antigrad.train.collector.objects_frozen`, what
:class:`~antigrad.train.loop.Loop` does) and without (the loop's freezing replaced by
nothing, as before it), ``--repeats`` times each, in this process. For each: wall and CPU
seconds, the collections by generation and the seconds spent in them (a ``gc.callbacks``
hook times every collection).

``command`` mode: an ``antigrad`` command in fresh processes, alternately from two source
trees (``--before``: a checkout's ``src`` without the change; ``--after``: this one),
``--repeats`` times each: wall and CPU seconds (the child's user + system time), and the
collections and their seconds (the hook installed before ``antigrad.cli`` is imported).

    PYTHONPATH=src OMP_NUM_THREADS=1 .venv/bin/python benchmarks/collector_cost.py loop \\
        --problem mnist1d-mlp --replicas 64 --steps 1500 --sequential 2 --repeats 2
    PYTHONPATH=src OMP_NUM_THREADS=1 .venv/bin/python benchmarks/collector_cost.py command \\
        --before /path/to/old/src --after src --repeats 5 -- compare --steps 5
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: A child process: times its collections, runs the command, prints what they cost.
_CHILD = """
import gc, json, sys, time
spent, count, t0 = [0.0, 0.0, 0.0], [0, 0, 0], [0.0]
def hook(phase, info):
    if phase == "start":
        t0[0] = time.perf_counter()
    else:
        g = info["generation"]
        spent[g] += time.perf_counter() - t0[0]
        count[g] += 1
gc.callbacks.append(hook)
import atexit
atexit.register(lambda: print("COLLECTIONS" + json.dumps({"count": count, "seconds": spent}),
                              file=sys.stderr))
from antigrad.cli import main
main(sys.argv[1:])
"""


class _Collections:
    """Collections by generation and the seconds spent in them, while installed."""

    def __init__(self) -> None:
        self.count, self.seconds, self._t0 = [0, 0, 0], [0.0, 0.0, 0.0], 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
        else:
            self.seconds[info["generation"]] += time.perf_counter() - self._t0
            self.count[info["generation"]] += 1

    def __enter__(self) -> _Collections:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)


def _timed(fn) -> dict:
    with _Collections() as col:
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"wall": wall, "cpu": cpu, "collections": col.count,
            "gc_seconds": sum(col.seconds), "oldest_seconds": col.seconds[2]}


def _loop_mode(args: argparse.Namespace) -> None:
    from antigrad.lab import get_optimizer, train_run
    from antigrad.lab.replicas import train_replicas
    from antigrad.problems import get_training_problem
    from antigrad.train import loop

    problem, spec = get_training_problem(args.problem), get_optimizer("adam")
    frozen = loop.objects_frozen
    runs = [(spec.default_lr, k) for k in range(args.replicas)]
    work = {"batch": lambda: train_replicas(problem, spec, runs, steps=args.steps),
            "sequential": lambda: [train_run(problem, spec, spec.default_lr, k,
                                             steps=args.steps)
                                   for k in range(args.sequential)]}
    rows = []
    for repeat in range(args.repeats):
        for what, fn in work.items():
            for mode in ("without", "frozen"):
                loop.objects_frozen = frozen if mode == "frozen" else contextlib.nullcontext
                try:
                    row = {"what": what, "mode": mode, "repeat": repeat, **_timed(fn),
                           "load": os.getloadavg()[0]}
                finally:
                    loop.objects_frozen = frozen
                rows.append(row)
                print(json.dumps(row), flush=True)
    _summary(rows, ("what", "mode"))


def _command_mode(args: argparse.Namespace) -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            for mode, src in (("before", args.before), ("after", args.after)):
                rows.append(_child(mode, src, args.command, Path(tmp) / f"{mode}{repeat}",
                                   repeat))
                print(json.dumps(rows[-1]), flush=True)
    _summary(rows, ("mode",))


def _child(mode: str, src: str, command: list[str], folder: Path, repeat: int) -> dict:
    folder.mkdir()
    cmd = [a.replace("{tmp}", str(folder)) for a in command]
    env = {**os.environ, "PYTHONPATH": str(Path(src).resolve())}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _CHILD, *cmd], env=env, check=True,
                          capture_output=True, text=True)
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    line = [x for x in done.stderr.splitlines() if x.startswith("COLLECTIONS")][-1]
    col = json.loads(line[len("COLLECTIONS"):])
    return {"mode": mode, "repeat": repeat, "wall": wall, "cpu": cpu,
            "collections": col["count"], "gc_seconds": sum(col["seconds"]),
            "oldest_seconds": col["seconds"][2], "load": os.getloadavg()[0]}


def _summary(rows: list[dict], keys: tuple[str, ...]) -> None:
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault(tuple(row[k] for k in keys), []).append(row)
    print("\n| " + " | ".join(keys) + " | runs | wall s (median) | CPU s (median) | "
          "collector s (median) | oldest generation s (median) |")
    print("|" + "---|" * (len(keys) + 5))
    for key, group in groups.items():
        med = {f: statistics.median(r[f] for r in group)
               for f in ("wall", "cpu", "gc_seconds", "oldest_seconds")}
        print("| " + " | ".join(map(str, key)) + f" | {len(group)} | {med['wall']:.3f} | "
              f"{med['cpu']:.3f} | {med['gc_seconds']:.4f} | {med['oldest_seconds']:.4f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    lp = sub.add_parser("loop")
    lp.add_argument("--problem", default="mnist1d-mlp")
    lp.add_argument("--replicas", type=int, default=64)
    lp.add_argument("--steps", type=int, default=1500)
    lp.add_argument("--sequential", type=int, default=2)
    lp.add_argument("--repeats", type=int, default=2)
    cp = sub.add_parser("command", help="an antigrad command ({tmp}: a fresh folder)")
    cp.add_argument("--before", required=True, help="the src folder without the change")
    cp.add_argument("--after", default="src", help="the src folder with it")
    cp.add_argument("--repeats", type=int, default=5)
    cp.add_argument("command", nargs="+")
    args = parser.parse_args()
    _loop_mode(args) if args.mode == "loop" else _command_mode(args)


if __name__ == "__main__":
    main()
