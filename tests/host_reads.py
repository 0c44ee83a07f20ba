"""A tensor whose value must never reach the host (on a GPU each read waits for it)."""

import torch


class HostReadForbidden(torch.Tensor):
    """Fails on any read of its value on the host (``item``, ``float``, ``tolist``, ...),
    and so does every tensor computed from it."""

    READS = {torch.Tensor.item, torch.Tensor.__float__, torch.Tensor.tolist,
             torch.Tensor.__bool__, torch.Tensor.__int__, torch.Tensor.numpy,
             torch.Tensor.__index__}

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func in cls.READS:
            raise AssertionError(f"the host read a device value ({func.__name__})")
        return super().__torch_function__(func, types, args, kwargs or {})
