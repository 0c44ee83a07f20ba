"""With ANTIGRAD_NO_SKIPS=1 (set by `make test-integrations`) a skipped test, e.g. one whose
optional extra is missing, fails the run instead of passing silently."""

import os

_skipped: list[str] = []


def pytest_collectreport(report):
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_runtest_logreport(report):
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session, exitstatus):
    if os.environ.get("ANTIGRAD_NO_SKIPS") == "1" and _skipped:
        print(f"\nANTIGRAD_NO_SKIPS=1, but {len(_skipped)} skipped: {_skipped}")
        session.exitstatus = 1
