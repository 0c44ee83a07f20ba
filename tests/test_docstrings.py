"""Every docstring example in the package runs and gives what it shows."""

import doctest
import importlib
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
MODULES = sorted(
    ".".join(path.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__")
    for path in (SRC / "antigrad").rglob("*.py") if ">>>" in path.read_text())


# Modules that import an optional extra run under `make test-integrations` (which installs
# the extras and fails if anything is skipped); elsewhere they skip without the extra.
EXTRAS = {"antigrad.integrations.lightning": "lightning", "antigrad.integrations.hf":
          "transformers"}
PARAMS = [pytest.param(m, marks=pytest.mark.integrations) if m in EXTRAS else m
          for m in MODULES]


@pytest.mark.parametrize("name", PARAMS)
def test_docstring_examples(name, tmp_path, monkeypatch):
    if name in EXTRAS:
        pytest.importorskip(EXTRAS[name])
    monkeypatch.chdir(tmp_path)  # examples may write files
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_examples_were_found():
    assert len(MODULES) >= 20
