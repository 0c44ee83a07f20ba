"""Atomic, self-checking checkpoint files and the RNG states a bit-exact resume needs.

A file is ``MAGIC + sha256(payload) + len(payload) + payload`` where the payload is a
``torch.save`` of plain containers and tensors (loaded with ``weights_only=True``). It is
written to a temporary file in the same folder, flushed to disk and renamed over its final
name (``os.replace``), so a crash mid-write never leaves a half-written checkpoint under a
checkpoint's name; a truncated or altered file fails its length or checksum test with a
:class:`CheckpointError` naming the file, and :class:`Checkpointer` falls back to the
previous good one (it keeps the last ``keep`` files).

Example::

    >>> import tempfile, torch
    >>> from antigrad.train.checkpoint import Checkpointer
    >>> ck = Checkpointer(tempfile.mkdtemp(), keep=2)
    >>> _ = ck.save(10, {"w": torch.ones(2)}); _ = ck.save(20, {"w": torch.zeros(2)})
    >>> step, payload = ck.latest()
    >>> step, payload["w"].tolist()
    (20, [0.0, 0.0])
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import CheckpointError  # re-exported: its old home

__all__ = ["CheckpointError", "save_checkpoint", "load_checkpoint", "Checkpointer",
           "rng_state", "set_rng_state"]

MAGIC = b"ANTIGRAD-CKPT-1\n"
_HEADER = len(MAGIC) + 32 + 8


def save_checkpoint(path: str | os.PathLike[str], payload: dict[str, Any]) -> Path:
    """Write ``payload`` to ``path`` atomically (temp file + fsync + ``os.replace``)."""
    path = Path(path)
    buf = io.BytesIO()
    torch.save(payload, buf)
    data = buf.getvalue()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(MAGIC + hashlib.sha256(data).digest() + len(data).to_bytes(8, "little"))
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    try:
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:  # pragma: no cover - directories cannot be fsynced everywhere
        pass
    return path


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`; a :class:`CheckpointError`
    names the file and what is wrong with it."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise CheckpointError(f"Cannot read checkpoint {path}: {e}") from e
    if not raw.startswith(MAGIC):
        raise CheckpointError(f"Invalid checkpoint {path}: not an antigrad checkpoint "
                              f"(bad header; {len(raw)} bytes)")
    if len(raw) < _HEADER:
        raise CheckpointError(f"Invalid checkpoint {path}: truncated header "
                              f"({len(raw)} bytes)")
    digest = raw[len(MAGIC):len(MAGIC) + 32]
    size = int.from_bytes(raw[len(MAGIC) + 32:_HEADER], "little")
    data = raw[_HEADER:]
    if len(data) != size:
        raise CheckpointError(f"Invalid checkpoint {path}: truncated (payload has "
                              f"{len(data)} of {size} bytes)")
    if hashlib.sha256(data).digest() != digest:
        raise CheckpointError(f"Invalid checkpoint {path}: corrupted (checksum mismatch)")
    try:
        return torch.load(io.BytesIO(data), weights_only=True)
    except Exception as e:  # noqa: BLE001 - report any unpickling failure the same way
        raise CheckpointError(f"Invalid checkpoint {path}: cannot unpickle ({e})") from e


class Checkpointer:
    """Numbered checkpoints ``step-000000123.ckpt`` in ``directory``, keeping the last
    ``keep``; ``latest()`` returns the newest one that loads, warning about any skipped."""

    _NAME = re.compile(r"^step-(\d+)\.ckpt$")
    # our own temporary files: a checkpoint being written, the write test of prepare()
    _TEMP = re.compile(r"^\.(?:step-\d+\.ckpt|write-test)\.(\d+)\.tmp$")

    def __init__(self, directory: str | os.PathLike[str], keep: int = 2) -> None:
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
            raise ValueError(f"Invalid keep_checkpoints: {keep!r} (must be an integer >= 1)")
        self.directory = Path(directory)
        self.keep = keep

    def path(self, step: int) -> Path:
        return self.directory / f"step-{step:09d}.ckpt"

    def _named(self) -> list[tuple[int, Path]]:
        if not self.directory.is_dir():
            return []
        found = [(int(m.group(1)), p) for p in self.directory.iterdir()
                 if (m := self._NAME.match(p.name))]
        return sorted(found)

    def files(self) -> list[tuple[int, Path]]:
        """The checkpoint files, oldest first (anything else under such a name is ignored)."""
        return [(step, p) for step, p in self._named() if p.is_file()]

    def prepare(self) -> None:
        """Before any training: create the folder and prove it writable, remove the temporary
        files of writes killed midway, and refuse a non-file under a checkpoint's name
        (ValueError naming the problem)."""
        d = self.directory
        if d.exists() and not d.is_dir():
            raise ValueError(f"Invalid checkpoint: {d} is a file, not a folder")
        probe = d / f".write-test.{os.getpid()}.tmp"
        try:
            d.mkdir(parents=True, exist_ok=True)
            os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            probe.unlink()
        except OSError as e:
            raise ValueError(f"Invalid checkpoint: cannot write checkpoints in {d} "
                             f"({type(e).__name__}: {e.strerror or e})") from e
        for step, p in self._named():
            if not p.is_file():
                raise ValueError(f"Invalid checkpoint: {p} is not a file (the checkpoint of "
                                 f"step {step} would be written there); move it away")
        self._remove_stale_temps()

    def _remove_stale_temps(self) -> None:
        for p in self.directory.iterdir():
            m = self._TEMP.match(p.name)
            if m and p.is_file() and not _alive(int(m.group(1))):
                p.unlink(missing_ok=True)

    def save(self, step: int, payload: dict[str, Any]) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.path(step)
        if target.exists() and not target.is_file():
            raise CheckpointError(f"Cannot write checkpoint {target}: something that is not a "
                                  "file is in its place (antigrad removes only its own files)")
        path = save_checkpoint(target, payload)
        for _, old in self.files()[:-self.keep]:
            old.unlink(missing_ok=True)
        return path

    def latest(self) -> tuple[int, dict[str, Any]] | None:
        """The newest loadable checkpoint as ``(step, payload)``; None if there is none.
        Raises :class:`CheckpointError` if checkpoints exist but none loads."""
        errors = []
        for step, path in reversed(self.files()):
            try:
                return step, load_checkpoint(path)
            except CheckpointError as e:
                errors.append(str(e))
                warnings.warn(f"{e}; trying the previous checkpoint", RuntimeWarning,
                              stacklevel=2)
        if errors:
            raise CheckpointError("No usable checkpoint in "
                                  f"{self.directory}: " + "; ".join(errors))
        return None


def _alive(pid: int) -> bool:
    """Whether process ``pid`` (not this one) may still be writing its temporary file."""
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:       # it exists but is not ours to signal
        return True
    return True


def rng_state(generator: torch.Generator | None = None,
              data: Sequence[torch.Generator] = ()) -> dict[str, Any]:
    """Every random state a training step may draw from, in checkpointable form: the global
    ones, the shuffle ``generator`` and the ``data`` loaders' own generators."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": (np_state[0], torch.from_numpy(np_state[1].astype(np.int64)),
                  *[float(x) if isinstance(x, float) else int(x) for x in np_state[2:]]),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    if generator is not None:
        state["generator"] = generator.get_state()
    if data:
        state["data"] = [g.get_state() for g in data]
    return state


def set_rng_state(state: dict[str, Any], generator: torch.Generator | None = None,
                  data: Sequence[torch.Generator] = ()) -> None:
    """Restore what :func:`rng_state` saved (the ``data`` generators in the same order)."""
    torch.set_rng_state(state["torch"])
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if generator is not None and "generator" in state:
        generator.set_state(state["generator"])
    saved = state.get("data", [])
    if data and len(saved) != len(data):
        raise CheckpointError(f"Invalid checkpoint: it holds {len(saved)} data generator "
                              f"states, the data has {len(data)} generators")
    for g, s in zip(data, saved, strict=False):
        g.set_state(s)
