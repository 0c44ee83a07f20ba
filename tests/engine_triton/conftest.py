"""The Triton backend's tests run its generated kernels on CPU tensors in Triton's
interpreter. They need `triton` (`make test-triton` installs it) and are left out of the
default run (marker `triton`)."""

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items):
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.triton)


@pytest.fixture(autouse=True)
def _interpreted(monkeypatch):
    """Every optimizer built in these tests runs on the Triton backend, interpreted."""
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    monkeypatch.setenv("ANTIGRAD_BACKEND", "triton")
