"""Output paths: antigrad replaces a folder or a figure file only if it made it itself.

A report is written to a temporary folder and renamed into place; an older report at the
same place is replaced whole. So that this can never delete somebody's files, every report
folder holds a marker file, :data:`MARKER`, and :func:`check_report_dir` accepts only

- a path that does not exist yet (its nearest existing parent must be a writable folder),
- an empty folder, or
- a folder that holds the marker (a report antigrad wrote).

Anything else (a file, a folder of other files, the current folder or one containing it,
a symbolic link, an empty name) raises :class:`ReportDirError`, before any work starts.

Figure files (``antigrad landscape/lr-find --out``) carry :data:`FIGURE_CREATOR` in their
metadata; :func:`check_figure_path` accepts a new file or one that carries it.
Exports (``antigrad export --out``) are only ever written to a new file
(:func:`check_new_file`, :func:`write_new_file`): an existing one is never replaced.

Example::

    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> check_report_dir(root / "new-report") == root / "new-report"
    True
    >>> (root / "notes.txt").write_text("mine")
    4
    >>> check_report_dir(root)
    Traceback (most recent call last):
    ...
    antigrad.errors.ReportDirError: ...is a folder antigrad did not make...
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from ..errors import ReportDirError  # re-exported: its old home

__all__ = ["MARKER", "ReportDirError", "check_report_dir", "safe_name", "FIGURE_CREATOR",
           "FIGURE_SUFFIXES", "check_figure_path", "check_new_file", "write_new_file"]

#: The file that marks a folder as a report antigrad wrote (and may replace).
MARKER = ".antigrad-report"

MARKER_TEXT = ("This folder is a report written by antigrad. antigrad replaces it whole when\n"
               "a report is written here again; delete this file to keep it from that.\n")


def safe_name(text: str, fallback: str = "report") -> str:
    """``text`` as one harmless path component: letters, digits, ``.``, ``_``, ``-`` only,
    no leading dot, at most 64 characters (names read from a store are untrusted)."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", str(text)).strip(".-")[:64]
    return name or fallback


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _check_writable(path: Path) -> None:
    """The folder that will hold ``path`` exists or can be made, and accepts new entries."""
    base = _nearest_existing(path.parent)
    if not base.is_dir():
        raise ReportDirError(f"{str(path)!r} cannot be created: {str(base)!r} is not a folder")
    try:  # a real probe: permission bits say nothing for root or read-only mounts
        os.rmdir(tempfile.mkdtemp(prefix=".antigrad-probe-", dir=base))
    except OSError as err:
        raise ReportDirError(f"{str(path)!r} cannot be written: no write access to "
                             f"{str(base)!r} ({err.strerror or err})") from None


def _check_existing(path: Path) -> None:
    if path.is_symlink():
        raise ReportDirError(f"{str(path)!r} is a symbolic link; name a new folder")
    if not path.is_dir():
        raise ReportDirError(f"{str(path)!r} is an existing file, not a report folder; "
                             "antigrad does not replace it: name a new folder")
    if not (path / MARKER).is_file() and any(path.iterdir()):
        raise ReportDirError(f"{str(path)!r} is a folder antigrad did not make (no {MARKER} "
                             "file inside) and it is not empty; antigrad replaces only its "
                             "own report folders: name a new or empty folder")


def check_report_dir(path: str | Path) -> Path:
    """``path`` as a :class:`~pathlib.Path` if a report may be written there (see the
    module doc); otherwise :class:`ReportDirError` saying why."""
    if not str(path).strip():
        raise ReportDirError("the report folder name is empty; name a new folder")
    path = Path(path)
    where = path.absolute()
    cwd = Path.cwd().resolve()
    if where.resolve() == cwd or where.resolve() in cwd.parents or path.name in ("", ".", ".."):
        raise ReportDirError(f"{str(path)!r} is the current folder or contains it; a report "
                             "replaces its folder whole: name a new folder")
    if path.exists() or path.is_symlink():
        _check_existing(path)
    _check_writable(where)
    return path


#: The ``Creator`` metadata of every figure file antigrad writes (PNG, SVG and PDF).
FIGURE_CREATOR = "antigrad figure"
FIGURE_SUFFIXES = (".png", ".svg", ".pdf")
_MAX_FIGURE_BYTES = 64 << 20


def _written_by_antigrad(path: Path) -> bool:
    if path.stat().st_size > _MAX_FIGURE_BYTES:
        return False
    return FIGURE_CREATOR.encode() in path.read_bytes()


def check_figure_path(path: str | Path) -> Path:
    """``path`` as a :class:`~pathlib.Path` if a figure may be written there: a supported
    type, a new file or a figure antigrad wrote, in a writable folder; otherwise
    :class:`ReportDirError` saying why."""
    if not str(path).strip():
        raise ReportDirError("the figure file name is empty; name a .png, .svg or .pdf file")
    path = Path(path)
    if path.suffix.lower() not in FIGURE_SUFFIXES:
        raise ReportDirError(f"unsupported file type {path.suffix or '(none)'!r}; "
                             f"choose from: {', '.join(FIGURE_SUFFIXES)}")
    if path.is_symlink() or path.is_dir():
        raise ReportDirError(f"{str(path)!r} is a folder or a link; name a new file")
    if path.exists() and not _written_by_antigrad(path):
        raise ReportDirError(f"{str(path)!r} exists and antigrad did not write it; it is "
                             "left as it is: name a new file")
    _check_writable(path.absolute())
    return path


def check_new_file(path: str | Path) -> Path:
    """``path`` as a :class:`~pathlib.Path` if it names a file that does not exist yet in
    a writable folder; otherwise :class:`ReportDirError` saying why."""
    if not str(path).strip():
        raise ReportDirError("the file name is empty; name a new file")
    path = Path(path)
    if path.is_symlink() or path.exists():
        kind = "a folder" if path.is_dir() else "a link" if path.is_symlink() else "a file"
        raise ReportDirError(f"{str(path)!r} exists ({kind}); antigrad writes exports only "
                             "to a new file and leaves this one as it is: name a new file")
    _check_writable(path.absolute())
    return path


def write_new_file(path: Path, text: str) -> None:
    """Write ``text`` to the new file ``path`` whole or not at all (a temporary file,
    then a hard link that fails if ``path`` appeared meanwhile)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise ReportDirError(f"{str(path)!r} appeared while it was being written; it "
                                 "is left as it is: name a new file") from None
        except OSError:  # a file system without hard links: exclusive creation instead
            with open(path, "x", encoding="utf-8", newline="") as f:
                f.write(text)
    finally:
        Path(tmp).unlink(missing_ok=True)
