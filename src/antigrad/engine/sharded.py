"""Sharded (DTensor) gradients: each rank holds only its shard, so a verdict on them is
only valid once every rank of the mesh agrees; otherwise one rank would refuse a step
that another applies, and the replicas would drift apart."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

PLAIN_TYPES = (Tensor, torch.nn.Parameter)


def _dtensor_type() -> type | None:
    try:
        from torch.distributed.tensor import DTensor
    except ImportError:  # a build of torch without torch.distributed
        return None
    return DTensor


def local_view(tensors: list[Tensor]) -> tuple[list[Tensor], list[Any]]:
    """The tensors with every DTensor replaced by this rank's shard, and the device meshes
    of those DTensors."""
    out, meshes = [], {}
    dtensor = None
    for t in tensors:
        if type(t) not in PLAIN_TYPES:
            dtensor = dtensor or _dtensor_type()
            if dtensor is not None and isinstance(t, dtensor):
                meshes[id(t.device_mesh)] = t.device_mesh
                t = t.to_local()
        out.append(t)
    return out, list(meshes.values())


def agree(ok: bool, meshes: list[Any]) -> bool:
    """Whether ``ok`` holds on every rank of every mesh: one all-reduce per mesh dimension
    (a collective: every rank must call it)."""
    if not meshes:
        return ok
    import torch.distributed as dist

    flag = torch.tensor([0.0 if ok else 1.0], device=meshes[0].device_type)
    for mesh in meshes:
        for dim in range(mesh.ndim):
            dist.all_reduce(flag, op=dist.ReduceOp.MAX, group=mesh.get_group(dim))
    return flag.item() == 0.0
