"""What importing antigrad costs in a fresh process, against importing torch alone.

Each statement runs in a fresh interpreter (``python -c``), ``--repeats`` times in turn;
the CPU seconds are the child's (user + system, from ``resource.getrusage``), the wall
seconds its lifetime. Also says which heavy modules the statement loaded:
``torch._dynamo``, matplotlib, sqlalchemy. The steps build an optimizer, zero its
gradients and take one step: torch.optim's own methods load ``torch._dynamo`` on their
first call.

    PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/import_cost.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time

_STEP = ("import torch, antigrad; p = torch.nn.Parameter(torch.ones(3)); o = {opt}([p], lr=0.1)"
         "; o.zero_grad(); p.grad = torch.ones(3); o.step()")

STATEMENTS = {
    "python": "pass",
    "import torch": "import torch",
    "import antigrad": "import antigrad",
    "antigrad.Adam": "import antigrad; antigrad.Adam",
    "import antigrad.lab": "import antigrad.lab",
    "torch.optim.Adam step": _STEP.format(opt="torch.optim.Adam"),
    "antigrad.Adam step": _STEP.format(opt="antigrad.Adam"),
}

HEAVY = ("torch._dynamo", "matplotlib", "sqlalchemy")

_REPORT = ("; import sys; print(' '.join(m for m in {heavy!r} if m in sys.modules))")


def run(statement: str) -> tuple[float, float, str]:
    """CPU and wall seconds of ``python -c statement``, and the heavy modules it loaded."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", statement + _REPORT.format(heavy=HEAVY)],
                         capture_output=True, text=True, check=True).stdout.strip()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", nargs="*", choices=list(STATEMENTS), default=list(STATEMENTS),
                        metavar="STATEMENT", help="time only these rows (default: all)")
    args = parser.parse_args()
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in args.only}
    loaded: dict[str, str] = {}
    for _ in range(args.repeats):
        for name in args.only:
            cpu, wall, out = run(STATEMENTS[name])
            times[name].append((cpu, wall))
            loaded[name] = out or "-"
    print("| statement | CPU s (each run) | wall s (each run) | heavy modules loaded |")
    print("|---|---|---|---|")
    for name, ts in times.items():
        cpus = " ".join(f"{c:.2f}" for c, _ in ts)
        walls = " ".join(f"{w:.2f}" for _, w in ts)
        print(f"| `{name}` | {cpus} | {walls} | {loaded[name]} |")


if __name__ == "__main__":
    main()
