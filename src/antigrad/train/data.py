"""Batches for the fit loop: full batch (GD, L3) or shuffled minibatches (SGD, L5).

Training data is a tensor, a tuple of tensors ``(*inputs, target)`` sharing their first
dimension, a map-style ``Dataset`` or any re-iterable of such batches (a ``DataLoader``).
A batch ``(*inputs, target)`` is scored as ``loss_fn(model(*inputs), target)``; a batch of
one tensor ``x`` as ``loss_fn(model(x))``. ``loss_fn`` must return the batch *mean*.

With tensors and ``batch_size=None`` every step sees the whole set (full-batch gradient
descent); with ``batch_size=K`` every epoch draws a fresh permutation from a seeded
``torch.Generator`` and walks through it K rows at a time (the last batch may be smaller,
unless ``drop_last``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

from .parallel import World

__all__ = ["Data", "forward_loss", "evaluate", "batch_len", "grouped"]

Batch = tuple[torch.Tensor, ...]


def _as_tensors(data: Any) -> Batch | None:
    if isinstance(data, torch.Tensor):
        return (data,)
    if isinstance(data, TensorDataset):
        return tuple(data.tensors)
    if isinstance(data, (tuple, list)) and data and all(isinstance(t, torch.Tensor)
                                                         for t in data):
        return tuple(data)
    return None


class Data:
    """One epoch at a time of ``(batch, is_last)`` pairs, reproducible from a generator."""

    def __init__(self, data: Any, batch_size: int | None, drop_last: bool = False,
                 name: str = "train") -> None:
        if batch_size is not None and (isinstance(batch_size, bool)
                                       or not isinstance(batch_size, int) or batch_size < 1):
            raise ValueError(f"Invalid batch_size: {batch_size!r} (must be None or an integer "
                             ">= 1)")
        self.name, self.drop_last, self.loader = name, bool(drop_last), None
        self.tensors = _as_tensors(data)
        if self.tensors is not None:
            sizes = {len(t) for t in self.tensors}
            if len(sizes) != 1 or 0 in sizes or any(t.dim() == 0 for t in self.tensors):
                raise ValueError(f"Invalid {name}: tensors must share a non-empty first "
                                 f"dimension (got shapes {[tuple(t.shape) for t in self.tensors]})")
            self.n = sizes.pop()
            self.batch_size = batch_size
            if batch_size is not None and drop_last and batch_size > self.n:
                raise ValueError(f"Invalid batch_size: {batch_size} (> {self.n} examples with "
                                 "drop_last=True leaves no batch)")
        elif isinstance(data, Dataset) and not isinstance(data, Iterable):
            self.dataset, self.batch_size = data, batch_size
            self.n = len(data)  # type: ignore[arg-type]
        elif isinstance(data, Iterable) and not isinstance(data, (str, bytes, Mapping)):
            if batch_size is not None:
                raise ValueError(f"Invalid batch_size: {batch_size} ({name} is a "
                                 f"{type(data).__name__}, which makes its own batches)")
            if isinstance(data, Iterator):
                raise TypeError(f"Invalid {name}: a one-shot iterator; pass a re-iterable "
                                "such as a DataLoader or a list of batches")
            self.loader, self.batch_size, self.n = data, None, None
        else:
            raise TypeError(f"Invalid {name}: {type(data).__name__} (must be a tensor, a "
                            "tuple of tensors, a Dataset or a DataLoader)")

    @property
    def full_batch(self) -> bool:
        return self.tensors is not None and self.batch_size is None

    def batches_per_epoch(self) -> int | None:
        if self.tensors is not None or self.loader is None:
            if self.batch_size is None:
                return 1
            return self.n // self.batch_size if self.drop_last \
                else math.ceil(self.n / self.batch_size)
        try:
            return len(self.loader)  # type: ignore[arg-type]
        except TypeError:
            return None

    def generators(self) -> list[torch.Generator]:
        """A loader's own random generators (its ``generator=``, its sampler's and its batch
        sampler's), each once: checkpoints save and restore them for an exact resume."""
        if self.loader is None:
            return []
        batch_sampler = getattr(self.loader, "batch_sampler", None)
        owners = (self.loader, getattr(self.loader, "sampler", None), batch_sampler,
                  getattr(batch_sampler, "sampler", None))
        found: dict[int, torch.Generator] = {}
        for owner in owners:
            g = getattr(owner, "generator", None)
            if isinstance(g, torch.Generator):
                found.setdefault(id(g), g)
        return list(found.values())

    def _iterable(self, generator: torch.Generator, shuffle: bool) -> Iterable[Any]:
        if self.tensors is not None:
            if self.batch_size is None:
                return [self.tensors]
            n, k = self.n, self.batch_size
            order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
            stops = range(0, n - k + 1 if self.drop_last else n, k)
            return ((lambda i: tuple(t[order[i:i + k].to(t.device)] for t in self.tensors))(i)
                    for i in stops)
        if self.loader is None:
            return DataLoader(self.dataset, batch_size=self.batch_size or self.n,
                              shuffle=shuffle, generator=generator, drop_last=self.drop_last)
        return self.loader

    def epoch(self, generator: torch.Generator, shuffle: bool = True
              ) -> Iterator[tuple[Any, bool]]:
        """This epoch's batches, each with whether it is the epoch's last."""
        count = self.batches_per_epoch()
        it = iter(self._iterable(generator, shuffle))
        if count is not None:
            for i, batch in enumerate(it):
                yield batch, i == count - 1
            return
        try:
            batch = next(it)
        except StopIteration:
            return
        for nxt in it:
            yield batch, False
            batch = nxt
        yield batch, True


def _parts(batch: Any) -> Batch:
    if isinstance(batch, torch.Tensor):
        return (batch,)
    if isinstance(batch, (tuple, list)) and batch:
        return tuple(batch)
    raise TypeError(f"Invalid batch: {type(batch).__name__} (must be a tensor or a tuple "
                    "(*inputs, target))")


def batch_len(batch: Any) -> int:
    """The number of examples in ``batch``."""
    return len(_parts(batch)[0])


def grouped(batches: Iterable[tuple[Any, bool]], k: int) -> Iterator[tuple[list[Any], bool]]:
    """Consecutive batches ``k`` at a time (gradient accumulation), each group with whether
    it ends the epoch; the epoch's last group may hold fewer."""
    group: list[Any] = []
    for batch, last in batches:
        group.append(batch)
        if last or len(group) == k:
            yield group, last
            group = []


def _shard(parts: Batch, world: World) -> Batch:
    if not world.parallel:
        return parts
    n = len(parts[0])
    return tuple(p[world.shard(n)] if isinstance(p, torch.Tensor) else p for p in parts)


def _to(parts: Batch, device: torch.device) -> Batch:
    return tuple(p.to(device, non_blocking=True) if isinstance(p, torch.Tensor) else p
                 for p in parts)


def forward_loss(model: torch.nn.Module, loss_fn: Callable[..., torch.Tensor], batch: Any,
                 device: torch.device, world: World) -> tuple[torch.Tensor | None, int, int]:
    """This rank's loss on its slice of ``batch`` as ``(loss or None, n_local, n_global)``."""
    parts = _parts(batch)
    n_global = len(parts[0])
    parts = _to(_shard(parts, world), device)
    n_local = len(parts[0])
    if n_local == 0:
        return None, 0, n_global
    out = model(*parts[:-1]) if len(parts) > 1 else model(parts[0])
    loss = loss_fn(out, parts[-1]) if len(parts) > 1 else loss_fn(out)
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        raise TypeError(f"Invalid loss_fn: it returned {type(loss).__name__} "
                        f"{getattr(loss, 'shape', '')} (must be a scalar tensor, the batch mean)")
    return loss.reshape(()), n_local, n_global


@torch.no_grad()
def evaluate(model: torch.nn.Module, loss_fn: Callable[..., torch.Tensor], data: Data,
             metrics: Mapping[str, Callable[..., Any]], device: torch.device,
             world: World) -> dict[str, float]:
    """Mean loss and metrics over ``data`` (each a per-batch mean, weighted by batch size),
    with the model in eval mode; sharded over ranks and summed with one all-reduce."""
    was_training = model.training
    model.eval()
    try:
        totals = torch.zeros(len(metrics) + 2, dtype=torch.float64)
        for batch, _ in data.epoch(torch.Generator(), shuffle=False):
            parts = _to(_shard(_parts(batch), world), device)
            n = len(parts[0])
            if n == 0:
                continue
            out = model(*parts[:-1]) if len(parts) > 1 else model(parts[0])
            args = (out, parts[-1]) if len(parts) > 1 else (out,)
            values = [loss_fn(*args)] + [fn(*args) for fn in metrics.values()]
            totals += torch.tensor([float(v) * n for v in values] + [n], dtype=torch.float64)
        totals = world.sum(totals.to(device)).cpu() if world.parallel else totals
    finally:
        model.train(was_training)
    if totals[-1] == 0:
        raise ValueError(f"Invalid {data.name}: it has no examples")
    means = (totals[:-1] / totals[-1]).tolist()
    return dict(zip(["loss", *metrics], means, strict=True))
