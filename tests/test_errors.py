"""antigrad's exceptions live in antigrad.errors, keep their bases and their old homes."""

import ast
import builtins
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import antigrad
from antigrad import errors

SRC = Path(__file__).resolve().parents[1] / "src"

# Each class, the standard base users may catch it by, and the module it used to live in.
CLASSES = {
    "NonFiniteGradientError": (FloatingPointError, "antigrad.engine.optimizer"),
    "NonFiniteLossError": (FloatingPointError, "antigrad.second_order.result"),
    "HessianMemoryError": (MemoryError, "antigrad.second_order.result"),
    "CheckpointError": (RuntimeError, "antigrad.train.checkpoint"),
    "StoreError": (LookupError, "antigrad.lab.stored"),
    "UnknownNameError": (ValueError, "antigrad.problems.registry"),
    "ConfigError": (ValueError, "antigrad.lab.compare"),
    "ReportDirError": (ValueError, "antigrad.lab.outdir"),
    "EntryPointError": (ValueError, "antigrad.entry_points"),
    "StopTraining": (Exception, "antigrad.train.callbacks"),
}

# Packages that re-exported a class before it moved; they must keep doing so.
PACKAGES = {
    "NonFiniteGradientError": ["antigrad.engine"],
    "NonFiniteLossError": ["antigrad.second_order"],
    "HessianMemoryError": ["antigrad.second_order"],
    "CheckpointError": ["antigrad.train"],
    "StoreError": ["antigrad.lab", "antigrad.lab.store"],
    "UnknownNameError": ["antigrad.problems"],
    "ConfigError": ["antigrad.lab"],
    "ReportDirError": ["antigrad.lab"],
    "EntryPointError": ["antigrad.problems", "antigrad.lab"],
    "StopTraining": ["antigrad.train"],
}


def test_all_lists_every_class():
    defined = {n for n, v in vars(errors).items()
               if isinstance(v, type) and issubclass(v, BaseException)
               and v.__module__ == "antigrad.errors"}
    assert set(errors.__all__) == defined == set(CLASSES)


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_one_class_everywhere(name):
    cls = getattr(errors, name)
    base, old = CLASSES[name]
    assert cls.__module__ == "antigrad.errors"
    assert issubclass(cls, base)
    assert getattr(antigrad, name) is cls
    assert name in antigrad.__all__
    for module in [old, *PACKAGES[name]]:
        assert getattr(importlib.import_module(module), name) is cls, module


def test_caught_by_standard_base():
    with pytest.raises(ValueError, match="choose from: a, b"):
        raise errors.UnknownNameError("problem", "c", ["a", "b"])
    err = errors.ConfigError("seeds", "Invalid seeds: 0")
    assert (err.field, str(err)) == ("seeds", "Invalid seeds: 0")


def _run(code):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip()


def test_errors_module_is_the_bottom_layer():
    # Only antigrad (a lazy __init__) and antigrad.errors may be loaded, and no torch.
    loaded = _run("import sys, antigrad.errors; "
                  "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith(("
                  "'antigrad', 'torch.'))))")
    assert loaded == "['antigrad', 'antigrad.errors']"


def test_top_level_export_stays_light():
    loaded = _run("import sys, antigrad; antigrad.NonFiniteGradientError; "
                  "print('torch' in sys.modules)")
    assert loaded == "False"


def _exception_bases(tree: ast.Module, known: set[str]) -> list[tuple[int, str]]:
    """Classes in ``tree`` that derive from an exception (a builtin one or a known name)."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef):
            continue
        for base in node.bases:
            name = base.attr if isinstance(base, ast.Attribute) else getattr(base, "id", "")
            builtin = getattr(builtins, name, None)
            if name in known or name.endswith(("Error", "Exception", "Warning")) or (
                    isinstance(builtin, type) and issubclass(builtin, BaseException)):
                found.append((node.lineno, node.name))
    return found


def test_no_exception_class_defined_outside_errors():
    offenders = []
    for path in sorted((SRC / "antigrad").rglob("*.py")):
        if path == SRC / "antigrad" / "errors.py":
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        offenders += [f"{path.relative_to(SRC)}:{line} {name}"
                      for line, name in _exception_bases(tree, set(CLASSES))]
    assert offenders == [], f"define exceptions in antigrad/errors.py: {offenders}"


def test_scan_finds_an_exception_class():
    # The scan above must be able to fail: it sees each way a class can name its base.
    tree = ast.parse("class A(ValueError): pass\nclass B(errors.StoreError): pass\n"
                     "class C(KeyboardInterrupt): pass\nclass D(UserWarning): pass\n"
                     "class E(object): pass\n")
    assert [n for _, n in _exception_bases(tree, set(CLASSES))] == ["A", "B", "C", "D"]
