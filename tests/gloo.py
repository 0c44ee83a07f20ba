"""Run a function in several processes joined by a gloo process group (CPU), for tests."""

import os

import torch.distributed as dist
import torch.multiprocessing as mp


def spawn(fn, world: int, store: str, *args) -> None:
    """Call ``fn(rank, world, *args)`` in ``world`` processes; raise if any of them fails.

    ``fn`` must be a module-level function (it is pickled). The group meets through a file
    store at ``store`` (no TCP port to race for).
    """
    mp.spawn(_entry, args=(fn, world, store, args), nprocs=world, join=True)


def _entry(rank: int, fn, world: int, store: str, args: tuple) -> None:
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    try:
        fn(rank, world, *args)
        dist.barrier()  # no rank tears gloo down while another still talks to it
    finally:
        dist.destroy_process_group()
    # gloo sometimes aborts in static destructors at interpreter exit ("terminate called
    # without an active exception"), with or without antigrad, about one run in ten here:
    # leave without running them once the work is done and saved.
    os._exit(0)
