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
steps inside it.

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
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["objects_frozen"]


@contextmanager
def objects_frozen() -> Iterator[None]:
    """The objects alive at entry frozen (skipped by every collection) inside the block.

    If the caller froze objects already, nothing changes (``gc.unfreeze()`` cannot tell
    the caller's from ours: the caller's stay frozen, and the block's set-up is not
    frozen with them for good).
    """
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()

