"""Run PyTorch's own optimizer suite (``TestOptimRenewed`` of torch's ``test/test_optim.py``,
CPU) with antigrad's classes in place of torch's, or with torch's own (the baseline).

The suite file is PyTorch's, not ours, and is not kept in this repository (nor downloaded:
the test machines reach no source host). Put a copy at ``build/torch_suite/test_optim.py``
(ignored by git) or point ``$ANTIGRAD_TORCH_TEST_OPTIM`` at one; without it the driver
exits with an error saying so, and ``.ci/run`` says that it did not run the suite. The copy
the known failures were measured on is named by its SHA-256 (``MEASURED_SHA256``); the
driver prints the SHA-256 of the copy it runs.

Usage::

    python tests/torch_suite/driver.py              # antigrad, checked against the list
    python tests/torch_suite/driver.py --impl torch # torch's classes: the baseline
    python tests/torch_suite/driver.py --compare    # both, and the antigrad-only failures

With antigrad's classes the run fails when a test fails that is not listed in
``known_failures.KNOWN_FAILURES`` and passes with torch's classes (unlisted failures are run
again with torch's) and when a listed test passes or no longer exists, so the list is always
exactly the current antigrad-only failures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import types
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PATH = ROOT / "build" / "torch_suite" / "test_optim.py"
# The copy of torch's test/test_optim.py the known failures were measured on (a version
# whose imports all resolve in torch 2.13.0's torch.testing._internal; see docs/methods.md).
MEASURED_SHA256 = "76cf0c7a0a79eb070bbd3fea508b083156dcbaefa68d38914e332c34a4177593"

OPTIMIZERS = ("SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "NAdam", "LBFGS")
# Test names end in _<Optimizer>_cpu_<dtype>; a leading underscore keeps "Adam" from
# matching RAdam or SparseAdam.
_SELECT = re.compile(r"_(" + "|".join(OPTIMIZERS) + r")_cpu_\w+$")


def suite_path() -> Path:
    """The suite file to run: ``$ANTIGRAD_TORCH_TEST_OPTIM`` if set, else the copy in build/."""
    given = os.environ.get("ANTIGRAD_TORCH_TEST_OPTIM")
    path = Path(given) if given else DEFAULT_PATH
    if not path.is_file():
        sys.exit(f"PyTorch's test/test_optim.py is not at {str(path)!r}: put a copy there "
                 "(or point ANTIGRAD_TORCH_TEST_OPTIM at one) to run torch's optimizer suite")
    return path


def _stub_companions() -> None:
    """test_optim.py imports three sibling test modules (LR schedulers, SWA, the old
    differentiable tests) that only exist in torch's source tree; none of them is part of
    TestOptimRenewed, so empty stand-ins let the file import unmodified."""
    package = types.ModuleType("optim")
    package.__path__ = []
    sys.modules["optim"] = package
    for name, cls in (("test_lrscheduler", "TestLRScheduler"),
                      ("test_optim", "TestDifferentiableOptimizer"),
                      ("test_swa_utils", "TestSWAUtils")):
        module = types.ModuleType(f"optim.{name}")
        setattr(module, cls, type(cls, (), {}))
        sys.modules[module.__name__] = module


def _swap_in_antigrad() -> None:
    from torch.testing._internal.common_optimizers import optim_db

    import antigrad

    for info in optim_db:
        name = info.optim_cls.__name__
        if name in OPTIMIZERS:
            info.optim_cls = getattr(antigrad, name)


class Recorder:
    """A pytest plugin: selects the suite's CPU tests of our optimizers, records outcomes."""

    def __init__(self, impl: str) -> None:
        self.impl = impl
        self.outcomes: dict[str, str] = {}
        self.messages: dict[str, str] = {}

    def pytest_configure(self, config) -> None:
        _stub_companions()
        if self.impl == "antigrad":
            _swap_in_antigrad()

    def pytest_collection_modifyitems(self, config, items) -> None:
        keep = [it for it in items if _SELECT.search(it.name)]
        config.hook.pytest_deselected(items=[it for it in items if it not in keep])
        items[:] = keep

    def pytest_runtest_logreport(self, report) -> None:
        name = report.nodeid.split("::")[-1]
        if report.failed:
            self.outcomes[name] = "failed"
            self.messages.setdefault(name, _first_line(report))
        elif report.skipped and name not in self.outcomes:
            self.outcomes[name] = "skipped"
        elif report.when == "call" and report.passed:
            self.outcomes.setdefault(name, "passed")


def _first_line(report) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(report.longrepr)
    return text.strip().splitlines()[0][:300] if text.strip() else ""


def run_worker(impl: str, out: Path, select: str | None) -> int:
    """Run the suite in this process with ``impl``'s classes; write outcomes to ``out``."""
    import pytest

    path = suite_path()
    recorder = Recorder(impl)
    args = [str(path), "-q", "-p", "no:cacheprovider", "--no-header", "--tb=no",
            "-o", "addopts=", "--import-mode=importlib", "--rootdir", str(path.parent),
            "-W", "ignore::DeprecationWarning", "--durations=12", "-p", "no:warnings"]
    if select:
        args += ["-k", select]
    pytest.main(args, plugins=[recorder])
    out.write_text(json.dumps({"outcomes": recorder.outcomes, "messages": recorder.messages,
                               "sha256": _sha256(path)}))
    return 0


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run(impl: str, select: str | None) -> dict:
    """Run the suite in a fresh process (the swap of classes is process-wide)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "outcomes.json"
        cmd = [sys.executable, __file__, "--worker", impl, "--out", str(out)]
        if select:
            cmd += ["-k", select]
        subprocess.run(cmd, check=True, cwd=ROOT)
        return json.loads(out.read_text())


def counts(outcomes: dict[str, str]) -> Counter:
    return Counter(outcomes.values())


def verdict(outcomes: dict[str, str], known: dict[str, str], selected: bool = False,
            torch_fails: frozenset[str] = frozenset()) -> list[str]:
    """Problems with the known-failure list for this antigrad run (empty: all as listed).

    A test that fails must be listed, unless it fails with torch's classes too
    (``torch_fails``: then it is no antigrad-only failure); a listed test must fail. With
    ``selected`` (a ``-k`` subset ran) listed tests that did not run are not reported.
    """
    problems = []
    for name, outcome in sorted(outcomes.items()):
        if outcome == "failed" and name not in known and name not in torch_fails:
            problems.append(f"new failure (not in known_failures.py): {name}")
        elif outcome != "failed" and name in known:
            problems.append(f"listed as a known failure but {outcome} now; remove it from "
                            f"known_failures.py: {name}")
    if not selected:
        problems += [f"listed as a known failure but not in the suite: {name}"
                     for name in sorted(set(known) - set(outcomes))]
    return problems


def _report(impl: str, result: dict) -> None:
    c = counts(result["outcomes"])
    print(f"[{impl}] suite sha256 {result['sha256']}"
          f"{'' if result['sha256'] == MEASURED_SHA256 else ' (not the measured copy)'}")
    print(f"[{impl}] {c['passed']} passed, {c['failed']} failed, {c['skipped']} skipped")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", choices=("antigrad", "torch"), default="antigrad")
    parser.add_argument("--compare", action="store_true",
                        help="run with torch's and antigrad's classes; list antigrad-only "
                             "failures")
    parser.add_argument("-k", dest="select", help="pytest -k expression (a subset)")
    parser.add_argument("--json", type=Path, help="also write the outcomes to this file")
    parser.add_argument("--worker", choices=("antigrad", "torch"), help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return run_worker(args.worker, args.out, args.select)
    suite_path()    # a missing suite file is said once, here, before any worker starts
    sys.path.insert(0, str(Path(__file__).parent))
    from known_failures import KNOWN_FAILURES

    if args.compare:
        base, ours = run("torch", args.select), run("antigrad", args.select)
        _report("torch", base)
        _report("antigrad", ours)
        only = sorted(n for n, o in ours["outcomes"].items()
                      if o == "failed" and base["outcomes"].get(n) == "passed")
        print(f"antigrad-only failures: {len(only)}")
        for name in only:
            print(f"  {name}: {ours['messages'].get(name, '')}")
        return 0
    result = run(args.impl, args.select)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, sort_keys=True))
    _report(args.impl, result)
    if args.impl == "torch":
        return 0
    new = [n for n, o in sorted(result["outcomes"].items())
           if o == "failed" and n not in KNOWN_FAILURES]
    torch_fails: frozenset[str] = frozenset()
    if new:  # is each an antigrad-only failure? Run just these with torch's classes.
        base = run("torch", " or ".join(new))["outcomes"]
        torch_fails = frozenset(n for n in new if base.get(n) != "passed")
        for name in new:
            also = " (fails with torch's classes too)" if name in torch_fails else ""
            print(f"  {name}{also}: {result['messages'].get(name, '')}")
    problems = verdict(result["outcomes"], KNOWN_FAILURES, selected=bool(args.select),
                       torch_fails=torch_fails)
    for line in problems:
        print(line)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
