"""The torch-suite driver's bookkeeping: the known-failure list can neither hide a new
failure nor go stale (the suite itself runs with `make test-torch`)."""

import re

from torch_suite import driver
from torch_suite.known_failures import KNOWN_FAILURES

KNOWN = {"test_a_SGD_cpu_float32": "reason"}


def test_listed_failure_is_accepted():
    assert driver.verdict({"test_a_SGD_cpu_float32": "failed", "test_b": "passed"}, KNOWN) == []


def test_new_failure_is_reported():
    problems = driver.verdict({"test_a_SGD_cpu_float32": "failed", "test_b": "failed"}, KNOWN)
    assert problems == ["new failure (not in known_failures.py): test_b"]


def test_failure_shared_with_torch_is_not_antigrad_only():
    outcomes = {"test_a_SGD_cpu_float32": "failed", "test_b": "failed"}
    assert driver.verdict(outcomes, KNOWN, torch_fails=frozenset({"test_b"})) == []


def test_listed_test_that_passes_is_reported():
    problems = driver.verdict({"test_a_SGD_cpu_float32": "passed"}, KNOWN)
    assert len(problems) == 1 and "passed now" in problems[0]


def test_listed_test_that_no_longer_exists_is_reported_unless_a_subset_ran():
    assert "not in the suite" in driver.verdict({}, KNOWN)[0]
    assert driver.verdict({}, KNOWN, selected=True) == []


def test_selection_keeps_our_optimizers_only():
    names = ["test_errors_Adam_cpu_float32", "test_errors_RAdam_cpu_float32",
             "test_errors_SparseAdam_cpu_float32", "test_complex_2d_LBFGS_cpu_complex64",
             "test_x_is_named_optim0_True_NAdam_cpu_float32", "test_errors_Adam_cuda_float32"]
    kept = [n for n in names if driver._SELECT.search(n)]
    assert kept == [names[0], names[3], names[4]]


def test_every_known_failure_names_a_test_of_ours_and_a_reason():
    for name, reason in KNOWN_FAILURES.items():
        assert driver._SELECT.search(name), name
        assert re.match(r"\w", reason), name
