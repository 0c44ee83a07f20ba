"""Compile C source into a loaded library, once per machine.

The source is compiled with the system C compiler (``$CC``, else ``cc``; ``-O3
-march=native -fopenmp``), not torch's C++ extension machinery (seconds, not a minute),
into ``$ANTIGRAD_CACHE_DIR`` (default ``~/.cache/antigrad/kernels``) under the hash of
the source, flags and compiler, so a chain compiles once per machine. The library links
``libgomp.so.1``, which resolves to the copy torch already loaded: one thread pool.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

FLAGS = ["-O3", "-march=native", "-fopenmp", "-fno-math-errno", "-ffp-contract=off",
         "-fno-trapping-math", "-shared", "-fPIC", "-std=gnu11"]
if platform.machine().lower() in ("x86_64", "amd64", "i386", "i686"):
    # 256-bit vectors even where AVX-512 exists: right after a backward pass (AVX2
    # matmuls) a 512-bit step ran 30-40% slower; back to back, both widths are equally
    # memory-bound (benchmarks/RESULTS.md).
    FLAGS.insert(2, "-mprefer-vector-width=256")

_warned = False
_failed_compilers: set[str] = set()


def cache_dir() -> Path:
    """Where compiled kernels live: ``$ANTIGRAD_CACHE_DIR`` or ``~/.cache/antigrad/kernels``."""
    env = os.environ.get("ANTIGRAD_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "antigrad" / "kernels"


def compiler() -> str | None:
    """The C compiler to use: ``$CC`` if set (even if it does not exist), else ``cc``/``gcc``."""
    cc = os.environ.get("CC")
    if cc:
        return shutil.which(cc) or cc
    return shutil.which("cc") or shutil.which("gcc")


# ----------------------------------------------------------------------------------------
# compiling and loading

def warn_fallback(message: str) -> None:
    """Say once per process why the native backend is unavailable."""
    global _warned
    if not _warned:
        _warned = True
        warnings.warn(message + " antigrad falls back to its foreach backend: the same numbers, "
                      "several times slower for large models. Set CC to a working C compiler "
                      "(gcc or clang with OpenMP), or ANTIGRAD_BACKEND=foreach to silence this.",
                      RuntimeWarning, stacklevel=4)


def _flag_sets() -> list[list[str]]:
    """Flags to try in order: with OpenMP; else one thread, still vectorised
    (``-fopenmp-simd``); else one thread."""
    serial = [f for f in FLAGS if f != "-fopenmp"]
    return [FLAGS, [*serial, "-fopenmp-simd"], serial]


_first_flags: dict[str, int] = {}  # compiler -> index of the first flag set worth trying


def build(src: str) -> Path | None:
    """Path of the compiled library for ``src`` (compiled now unless cached); None on failure."""
    cc = compiler()
    if cc is None:
        warn_fallback("No C compiler found (looked for $CC, cc and gcc).")
        return None
    try:
        st = os.stat(cc)
        stamp = f"{cc}:{st.st_size}:{int(st.st_mtime)}"
    except OSError:
        stamp = cc
    folder = kernel_folder()
    paths = []
    for flags in _flag_sets():
        key = hashlib.sha256("\0".join([src, " ".join(flags), stamp]).encode()).hexdigest()
        paths.append(folder / f"{key[:24]}.so")
        if paths[-1].exists():
            return paths[-1]
    if cc in _failed_compilers:
        return None
    errors = []
    for i in range(_first_flags.get(cc, 0), len(paths)):
        try:
            _compile(cc, _flag_sets()[i], src, paths[i])
        except (OSError, subprocess.SubprocessError) as err:
            errors.append(err)
            continue
        if i > 0 and cc not in _first_flags:
            warnings.warn(f"{cc!r} cannot compile with OpenMP ({errors[0]}); antigrad's "
                          f"kernels run on one thread.", RuntimeWarning, stacklevel=4)
        _first_flags[cc] = i
        return paths[i]
    _failed_compilers.add(cc)
    warn_fallback(f"Compiling antigrad's native kernel with {cc!r} failed ({errors[0]}).")
    return None


def _compile(cc: str, flags: list[str], src: str, path: Path) -> None:
    fd, tmp_c = tempfile.mkstemp(suffix=".c", prefix=f"{path.stem}.", dir=path.parent)
    with os.fdopen(fd, "w") as f:
        f.write(src)
    tmp_so = tmp_c[:-2] + ".tmp.so"
    try:
        proc = subprocess.run([cc, *flags, "-o", tmp_so, tmp_c, "-lm"],
                              capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise OSError(proc.stderr.strip()[-2000:] or f"exit status {proc.returncode}")
        os.replace(tmp_so, path)  # atomic: another process sees the whole file or none
    finally:
        for leftover in (tmp_c, tmp_so):
            if os.path.exists(leftover):
                os.unlink(leftover)


_folder: list[Path] = []


def kernel_folder() -> Path:
    """The folder kernels are compiled into: :func:`cache_dir`, or, if that cannot be
    written (a read-only home, a full disk, a bad ``$ANTIGRAD_CACHE_DIR``), a folder in the
    system's temporary directory (said once, as a warning)."""
    if _folder:
        return _folder[0]
    preferred = cache_dir()
    try:
        preferred.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=preferred):
            pass
        folder = preferred
    except OSError as err:
        folder = Path(tempfile.gettempdir()) / f"antigrad-kernels-{os.getuid()}"
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        warnings.warn(f"antigrad cannot write its kernel cache {str(preferred)!r} ({err}); "
                      f"kernels are compiled into {str(folder)!r} instead (set "
                      f"ANTIGRAD_CACHE_DIR to a writable folder to keep them).",
                      RuntimeWarning, stacklevel=5)
    _folder.append(folder)
    return folder
