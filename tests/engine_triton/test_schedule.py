"""Per-step values are kernel arguments: schedulers, bias corrections and parameters that
skip steps never compile another kernel."""

import pytest
import torch

import antigrad
from antigrad.engine import tritonkernel
from triton_helpers import grads, make, rel_error, twin


def _lr_lambda(t):
    return 1.0 / (1 + t) if t % 2 else 0.5 + t


@pytest.mark.parametrize("capturable", [False, True])
def test_a_scheduler_changes_lr_every_step_without_a_new_kernel(capturable):
    """With capturable=True the scalars are computed on the device: still no new kernel."""
    params = make(torch.float32)
    theirs = twin(params)
    groups = lambda ps: [{"params": ps[:1]}, {"params": ps[1:], "lr": 0.003}]  # noqa: E731
    a = antigrad.AdamW(groups(params), lr=0.01, weight_decay=0.1, capturable=capturable)
    b = torch.optim.AdamW(groups(theirs), lr=0.01, weight_decay=0.1)
    sa = torch.optim.lr_scheduler.LambdaLR(a, _lr_lambda)
    sb = torch.optim.lr_scheduler.LambdaLR(b, _lr_lambda)
    seen = None
    for t in range(6):
        for ps in (params, theirs):
            for p, g in zip(ps, grads(ps, t), strict=True):
                p.grad = g
        a.step()
        b.step()
        sa.step()
        sb.step()
        if t == 0:
            seen = (set(tritonkernel.signatures), dict(tritonkernel._modules))
        assert set(tritonkernel.signatures) == seen[0]  # no new compilation...
        assert tritonkernel._modules == seen[1]  # ...nor generated source
    assert a.planner.buckets[0].stale == capturable  # (scalars computed on the device)
    assert rel_error(params, theirs) <= 1e-6


def test_parameters_that_skip_steps_stay_in_the_kernel():
    """A parameter without gradient sits the step out (row -1); its step count then
    differs from the others' (its own row of bias corrections), in the same launch."""
    params = make(torch.float32)
    theirs = twin(params)
    a = antigrad.Adam(params, lr=0.01)
    b = torch.optim.Adam(theirs, lr=0.01)
    for t in range(4):
        for ps in (params, theirs):
            for p, g in zip(ps, grads(ps, t), strict=True):
                p.grad = g
            if t in (1, 2):
                ps[1].grad = None
        a.step()
        b.step()
    bucket, = a.planner.buckets
    assert isinstance(bucket.bound, tritonkernel.Bound)
    assert float(a.state[params[1]]["step"]) == 2.0
    assert rel_error(params, theirs) <= 1e-6


def test_complex_parameters():
    g = torch.Generator().manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(4, 3, dtype=torch.complex64, generator=g))]
    theirs = twin(params)
    a, b = antigrad.Adam(params, lr=0.01), torch.optim.Adam(theirs, lr=0.01)
    for t in range(3):
        for ps in (params, theirs):
            ps[0].grad = torch.full_like(ps[0], complex(0.5, -0.25 * t)) * ps[0].detach()
        a.step()
        b.step()
    assert isinstance(a.planner.buckets[0].bound, tritonkernel.Bound)
    assert rel_error([torch.view_as_real(p) for p in params],
                     [torch.view_as_real(p) for p in theirs]) <= 1e-6


def test_a_kernel_that_cannot_be_built_leaves_the_bucket_to_foreach(monkeypatch):
    """Triton failing for a device (an unsupported GPU, say) costs speed, not the step."""
    def fail(*args, **kwargs):
        raise RuntimeError("no backend for this device")

    monkeypatch.setattr(tritonkernel.Bound, "__init__", fail)
    params = make(torch.float32)
    theirs = twin(params)
    a, b = antigrad.Adam(params, lr=0.01), torch.optim.Adam(theirs, lr=0.01)
    with pytest.warns(RuntimeWarning, match="failed to build .*another backend"):
        for t in range(3):
            for ps in (params, theirs):
                for p, g in zip(ps, grads(ps, t), strict=True):
                    p.grad = g
            a.step()
            b.step()
    assert not isinstance(a.planner.buckets[0].bound, tritonkernel.Bound)
    assert rel_error(params, theirs) <= 1e-6
