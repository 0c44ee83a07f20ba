"""The `antigrad` command driven from tests as a user would: by its arguments, in a fresh
folder of its own, in a terminal wide enough that messages are not wrapped."""

from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from antigrad.cli import app


def run(*args: str) -> Result:
    """``antigrad ARGS...``: its exit code and output (a failure is in the result, not
    raised)."""
    return CliRunner().invoke(app, list(args))


def in_fresh_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make ``tmp_path`` the working folder, 200 columns wide, for the rest of the test."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    return tmp_path
