"""keep_freed_memory: a batch's steady steps take (almost) no fresh pages from the kernel."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import textwrap

import pytest

from antigrad.lab import heap

glibc = pytest.mark.skipif(
    not (sys.platform.startswith("linux") and hasattr(ctypes.CDLL(None), "gnu_get_libc_version")),
    reason="the C library is not glibc")

# Trains 64 replicas of mnist1d-mlp for 3 steps (first-use costs: lazy imports, the
# kernel's compilation), then five times 8 steps, in a fresh process, and prints the
# median of the page faults the five took. "no" keeps glibc's default mmap threshold
# (128 KiB) and sets it, which makes it fixed: left adaptive, glibc raises it after some
# frees and not others, so whether a process without the setting keeps its memory is a
# matter of its history (5 to 22,000 faults in 8 steps measured), not a baseline.
_SCRIPT = textwrap.dedent("""
    import ctypes, resource, statistics, sys
    from antigrad.lab import get_optimizer, replicas
    from antigrad.problems import get_training_problem
    if sys.argv[1] == "no":
        replicas.keep_freed_memory = lambda: False
        ctypes.CDLL(None).mallopt(-3, 128 * 1024)  # M_MMAP_THRESHOLD, glibc's default
    problem, spec = get_training_problem("mnist1d-mlp"), get_optimizer("adam")
    def faults(steps):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        replicas.train_replicas(problem, spec, [(1e-3, seed) for seed in range(64)],
                                steps=steps, eval_every=1000)
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    faults(3)
    print(statistics.median(faults(8) for _ in range(5)))
""")


def _faults(*modes: str) -> list[float]:
    """The script's median for each mode, the processes running side by side."""
    # the caller's environment (PATH: the native kernel may be compiled in the process)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": ":".join(sys.path)}
    running = [subprocess.Popen([sys.executable, "-c", _SCRIPT, mode], env=env, text=True,
                                stdout=subprocess.PIPE) for mode in modes]
    outputs = [process.communicate()[0] for process in running]
    assert all(process.returncode == 0 for process in running), outputs
    return [float(out.split()[-1]) for out in outputs]


@glibc
def test_a_batch_keeps_its_memory_between_steps() -> None:
    kept, adaptive = _faults("yes", "no")
    assert adaptive > 3 * kept + 8 * 50, (kept, adaptive)  # 50+ faults a step more


@glibc
def test_the_settings_are_made_once() -> None:
    assert heap.keep_freed_memory() is True
    assert heap.keep_freed_memory() is True
