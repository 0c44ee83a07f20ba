"""Python's garbage collector around a training loop.

CPython collects reference cycles automatically, by generations; a collection of the
oldest one walks every object the process holds: after ``import torch`` about 190k, some
0.1-0.2 s each time. A training step makes many short-lived objects and no reference
cycles (with automatic collection off, ``gc.collect()`` after 100 and after 400 steps of a
lab run finds the same few dozen objects, those of its set-up), so what those walks find
is nothing, and what they cost is the loop's time.

:func:`objects_frozen` moves every object alive into the collector's permanent generation
for the length of a block (``gc.freeze()``) and back afterwards (``gc.unfreeze()``), also
when the block raises: collections inside the block walk only the objects it made.
Automatic collection stays as the caller set it, so cycles the block makes itself (a
user's model may make some every step) are still collected. :class:`~.loop.Loop` runs its
steps inside it. Blocks may nest or run in several threads at once: the first to enter
freezes, the last to leave unfreezes. A program that owns its process (the ``antigrad``
command) freezes its imports for good with :func:`freeze_for_good`; blocks then change
nothing. Where the caller froze objects itself, blocks change nothing either (asking
costs a walk of the frozen objects, ~28 ms for 200k, so it is asked only when this module
froze nothing).

Example::

    >>> import gc
    >>> from antigrad.train.collector import objects_frozen
    >>> with objects_frozen():
    ...     gc.get_freeze_count() > 0
    True
    >>> gc.get_freeze_count()
    0
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["objects_frozen", "freeze_for_good"]

_lock = threading.Lock()
#: Blocks inside the freeze this module made (the last to leave undoes it).
_blocks = 0
#: Whether the process's objects were frozen for good (:func:`freeze_for_good`).
_for_good = False


@contextmanager
def objects_frozen() -> Iterator[None]:
    """The objects alive at entry frozen (skipped by every collection) inside the block.

    If the caller froze objects already, nothing changes (``gc.unfreeze()`` cannot tell
    the caller's from ours: the caller's stay frozen, and the block's set-up is not
    frozen with them for good).
    """
    if not _enter():
        yield
        return
    try:
        yield
    finally:
        _leave()


def freeze_for_good() -> None:
    """Freeze every object alive until the process exits, and leave later blocks of
    :func:`objects_frozen` alone. Only for a program that owns its process."""
    global _for_good
    with _lock:
        gc.freeze()
        _for_good = True


def _enter() -> bool:
    """Join (or make) this module's freeze; False where the objects are someone else's
    to freeze: frozen for good, or frozen by the caller."""
    global _blocks
    with _lock:
        if _for_good:
            return False
        if _blocks == 0:
            if gc.get_freeze_count():
                return False
            gc.freeze()
        _blocks += 1
        return True


def _leave() -> None:
    global _blocks
    with _lock:
        _blocks -= 1
        if _blocks == 0:
            gc.unfreeze()
