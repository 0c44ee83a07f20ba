"""The report's gallery of lecture pictures, drawn once and then read from antigrad's cache.

The gallery (:data:`~antigrad.lab.figures.LECTURE_FIGURES`) takes no input: it is the same
pictures every time, a pure function of antigrad's code, of the libraries that compute and
draw them and of matplotlib's settings. Drawing it costs ~20 s of CPU (the Rosenbrock
trajectories alone run 15,000 optimizer steps), so :func:`gallery_pictures` renders each
picture to PNG bytes once and keeps them in ``<root>/<key>/``, where ``<root>`` is
:func:`gallery_root` (``$ANTIGRAD_CACHE_DIR/gallery``, else
``$XDG_CACHE_HOME/antigrad/gallery``, else ``~/.cache/antigrad/gallery``) and ``<key>``
hashes everything the pictures depend on (:func:`cache_key`): the source of every antigrad
module, the versions of Python, numpy, torch, matplotlib and FreeType, the font matplotlib
draws text with, matplotlib's settings (``rcParams``: a user's style too), the resolution,
and which function draws which picture. A change to any of them is a new key, so a new
entry: the pictures are never stale.

An entry is written into a temporary folder beside it and renamed into place whole, so a
run killed while writing leaves no entry; its ``manifest.json`` records each PNG's SHA-256,
and an entry that does not match (a truncated, edited or missing file) is drawn again and
replaced. Only the :data:`KEEP` most recently used entries are kept. A cache folder that cannot be
written is said once per process, as a warning, and the pictures are drawn as if there
were no cache. Nothing outside the root is written or removed, and in it only the folders
this module names (a 32-digit hex key, or a temporary folder starting with ``.<key>.``).
"""

from __future__ import annotations

import hashlib
import inspect
import io
import json
import os
import platform
import re
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy
import torch
from matplotlib import font_manager, ft2font
from matplotlib.figure import Figure

from . import figures

__all__ = ["DPI", "Picture", "render", "gallery_pictures", "gallery_root", "cache_key"]

#: The report's resolution (dots per inch) for every PNG it holds.
DPI = 100
#: The layout of an entry; raised when it changes, so older entries are not read.
_FORMAT = 1
_MANIFEST = "manifest.json"
#: matplotlib settings that do not change a saved PNG but may differ between processes
#: (the interactive backend, GUI state).
_VOLATILE_RC = ("backend", "interactive", "toolbar", "webagg.", "savefig.directory")

#: Entries kept in the root: the most recently used few (by mtime, set when an entry is
#: written or read), so a cache that sees many versions of antigrad stays a few MB.
KEEP = 4
#: A temporary folder this old was left by a killed run; younger ones may be being written.
_STALE_SECONDS = 24 * 3600
_KEY = re.compile(r"[0-9a-f]{32}")

_warned = False


@dataclass(frozen=True)
class Picture:
    """One rendered picture: the bytes of its PNG file and its caption in the report."""

    png: bytes
    caption: str


def render(fig: Figure, stem: str) -> Picture:
    """``fig`` as a PNG at :data:`DPI`, captioned by its suptitle, else its first axes'
    title, else ``stem``."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    caption = fig.get_suptitle() or (fig.axes[0].get_title() if fig.axes else "") or stem
    return Picture(buffer.getvalue(), caption)


def gallery_root() -> Path:
    """Where gallery entries live: ``$ANTIGRAD_CACHE_DIR/gallery`` (the folder the kernels
    are compiled into when that is set), else ``gallery`` beside the kernel cache."""
    env = os.environ.get("ANTIGRAD_CACHE_DIR")
    if env:
        return Path(env) / "gallery"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "antigrad" / "gallery"


def gallery_pictures(root: str | Path | None = None) -> dict[str, Picture]:
    """Every picture of :data:`~antigrad.lab.figures.LECTURE_FIGURES`, by stem, in order:
    read from the cache under ``root`` (default :func:`gallery_root`) when an intact entry
    for :func:`cache_key` is there, else drawn and stored there for the next report."""
    drawers = figures.LECTURE_FIGURES
    entry = Path(root if root is not None else gallery_root()) / cache_key()
    cached = _read_entry(entry, list(drawers))
    if cached is not None:
        _touch(entry)
        return cached
    pictures = {stem: render(draw(), stem) for stem, draw in drawers.items()}
    _store(entry, pictures)
    return pictures


def cache_key() -> str:
    """A hash of everything the gallery's pictures depend on (see the module's doc)."""
    digest = hashlib.sha256()
    for part in _ingredients():
        digest.update(part.encode("utf-8", "surrogateescape") + b"\0")
    return digest.hexdigest()[:32]


def _ingredients() -> list[str]:
    rc = sorted((k, repr(v)) for k, v in matplotlib.rcParams.items()
                if not k.startswith(_VOLATILE_RC))
    drawers = [f"{stem}={getattr(draw, '__module__', '')}."
               f"{getattr(draw, '__qualname__', repr(draw))}"
               for stem, draw in figures.LECTURE_FIGURES.items()]
    return [f"format {_FORMAT}", f"dpi {DPI}", f"python {platform.python_version()}",
            f"numpy {numpy.__version__}", f"torch {torch.__version__}",
            f"matplotlib {matplotlib.__version__}",
            f"freetype {getattr(ft2font, '__freetype_version__', '?')}",
            f"font {font_manager.findfont(font_manager.FontProperties())}",
            repr(rc), *drawers, _source_digest()]


def _package_root() -> Path:
    """The folder of the antigrad package (``antigrad/lab/figures`` is two below it)."""
    return Path(inspect.getfile(figures)).resolve().parents[2]


def _source_digest() -> str:
    """A hash of every ``.py`` file of the antigrad package (names and contents)."""
    package = _package_root()
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def _read_entry(entry: Path, stems: list[str]) -> dict[str, Picture] | None:
    """The entry's pictures if it is intact and holds exactly ``stems``; else None."""
    try:
        manifest = json.loads((entry / _MANIFEST).read_text(encoding="utf-8"))
        listed = manifest["pictures"]
        if manifest["format"] != _FORMAT or [p["stem"] for p in listed] != stems:
            return None
        pictures = {}
        for i, item in enumerate(listed):
            png = (entry / f"{i:02d}.png").read_bytes()
            if hashlib.sha256(png).hexdigest() != item["sha256"]:
                return None
            pictures[item["stem"]] = Picture(png, str(item["caption"]))
        return pictures
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _store(entry: Path, pictures: dict[str, Picture]) -> None:
    """Put ``pictures`` at ``entry`` whole (temporary folder + rename), replacing a broken
    entry; an unwritable cache is warned about once and skipped."""
    tmp = None
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", dir=entry.parent))
        listed = []
        for i, (stem, picture) in enumerate(pictures.items()):
            (tmp / f"{i:02d}.png").write_bytes(picture.png)
            listed.append({"stem": stem, "caption": picture.caption,
                           "sha256": hashlib.sha256(picture.png).hexdigest()})
        (tmp / _MANIFEST).write_text(json.dumps({"format": _FORMAT, "pictures": listed}),
                                     encoding="utf-8")
        os.chmod(tmp, 0o755)
        _replace(tmp, entry)
        _prune(entry.parent, keep=entry.name)
    except OSError as err:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        _warn_unwritable(entry.parent, err)


def _replace(tmp: Path, entry: Path) -> None:
    """Rename ``tmp`` to ``entry``, first moving a broken entry aside and removing it; if
    another process put an intact entry there meanwhile, keep that one."""
    if os.path.lexists(entry):
        old = entry.parent / f".{entry.name}.old-{os.getpid()}"
        os.replace(entry, old)
        _remove(old)
    try:
        os.rename(tmp, entry)
    except OSError:
        if not entry.is_dir():
            raise
        shutil.rmtree(tmp, ignore_errors=True)  # another process's entry won the race


def _prune(root: Path, keep: str) -> None:
    """Remove all but the :data:`KEEP` most recently used entries of ``root`` (``keep``
    among them) and temporary folders older than a day, best effort; only names this
    module gives are touched."""
    try:
        entries, now = [], time.time()
        for path in root.iterdir():
            name = path.name
            if _KEY.fullmatch(name) and name != keep:
                entries.append((path.lstat().st_mtime, path))
            elif name.startswith(".") and _KEY.fullmatch(name[1:33]) and (
                    now - path.lstat().st_mtime > _STALE_SECONDS):
                _remove(path)
        for _, path in sorted(entries, reverse=True)[KEEP - 1:]:
            _remove(path)
    except OSError:
        pass  # another process pruning at the same time, or a file not ours to remove


def _touch(entry: Path) -> None:
    """Mark ``entry`` as just used (its mtime), so pruning keeps it; a read-only cache
    stays as it is."""
    try:
        os.utime(entry)
    except OSError:
        pass


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _warn_unwritable(folder: Path, err: OSError) -> None:
    global _warned
    if not _warned:
        _warned = True
        warnings.warn(f"antigrad cannot write its gallery cache {str(folder)!r} ({err}); the "
                      "lecture's pictures are drawn for every report (set "
                      "ANTIGRAD_CACHE_DIR to a writable folder to keep them).",
                      RuntimeWarning, stacklevel=4)
