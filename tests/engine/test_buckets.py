"""Prepared buckets: reused across steps, and rebuilt whenever what they hold changes."""

import pytest
import torch

import antigrad
from antigrad.engine import native


def pair(dtype=torch.float32, n=4):
    p = torch.nn.Parameter(torch.linspace(-1, 1, n, dtype=dtype))
    q = torch.nn.Parameter(p.detach().clone())
    return p, q, antigrad.Adam([p], lr=0.1, nonfinite="raise"), torch.optim.Adam([q], lr=0.1)


def step_both(p, q, ours, theirs, t):
    p.grad = torch.full_like(p, 0.5 + t)
    q.grad = torch.full_like(q, 0.5 + t)
    ours.step()
    theirs.step()
    torch.testing.assert_close(p.detach(), q.detach(), rtol=1e-6, atol=1e-7)
    for key, value in theirs.state[q].items():
        torch.testing.assert_close(ours.state[p][key], value, rtol=1e-6, atol=1e-7)


def test_bucket_is_reused_and_step_counter_is_written():
    p, q, ours, theirs = pair()
    for t in range(3):
        step_both(p, q, ours, theirs, t)
    buckets = ours.planner.buckets
    bound = buckets[0].bound
    step_both(p, q, ours, theirs, 3)
    assert ours.planner.buckets is buckets and buckets[0].bound is bound
    assert ours.state[p]["step"].item() == 4.0


def test_state_moved_in_place_is_followed():
    """`.data = ...` keeps the tensor object but moves its memory: the bucket must notice."""
    p, q, ours, theirs = pair()
    step_both(p, q, ours, theirs, 0)
    ours.state[p]["exp_avg"].data = ours.state[p]["exp_avg"].clone()
    theirs.state[q]["exp_avg"].data = theirs.state[q]["exp_avg"].clone()
    ours.state[p]["step"].data = torch.tensor(5.0)
    theirs.state[q]["step"].data = torch.tensor(5.0)
    for t in range(1, 3):
        step_both(p, q, ours, theirs, t)
    assert ours.state[p]["step"].item() == 7.0


def test_replaced_step_tensor_is_followed():
    p, q, ours, theirs = pair()
    step_both(p, q, ours, theirs, 0)
    ours.state[p]["step"] = torch.tensor(9.0)
    theirs.state[q]["step"] = torch.tensor(9.0)
    step_both(p, q, ours, theirs, 1)
    assert ours.state[p]["step"].item() == 10.0


def test_parameter_resized_in_place_falls_back_safely():
    """A parameter narrowed to a view of its own memory no longer matches its state."""
    p = torch.nn.Parameter(torch.ones(8))
    opt = antigrad.Adam([p], lr=0.1)
    p.grad = torch.ones(8)
    opt.step()
    p.data = p.data[:4]
    p.grad = torch.ones(4)
    with pytest.raises(RuntimeError):
        opt.step()  # as torch.optim: the state no longer has the parameter's size


def test_float64_step_counters(monkeypatch):
    monkeypatch.setattr(torch, "get_default_dtype", lambda: torch.float64)
    p, q, ours, theirs = pair(torch.float64)
    for t in range(3):
        step_both(p, q, ours, theirs, t)
    assert ours.state[p]["step"].dtype == torch.float64
    assert ours.state[p]["step"].item() == 3.0


def test_non_contiguous_gradient_runs_on_the_general_path():
    p, q, ours, theirs = pair(n=6)
    step_both(p, q, ours, theirs, 0)
    g = (torch.arange(12.0) / 10)[::2]
    p.grad, q.grad = g, g.clone()
    assert not p.grad.is_contiguous()
    ours.step()
    theirs.step()
    torch.testing.assert_close(p.detach(), q.detach(), rtol=1e-6, atol=1e-7)
    step_both(p, q, ours, theirs, 2)  # and back on the bound kernel


def test_bound_kernel_refuses_nothing_on_nan_and_keeps_counters():
    p, q, ours, theirs = pair()
    step_both(p, q, ours, theirs, 0)
    before = {k: v.clone() for k, v in ours.state[p].items()}
    p.grad = torch.tensor([0.0, float("nan"), 1.0, 2.0])
    with pytest.raises(antigrad.NonFiniteGradientError):
        ours.step()
    for k, v in before.items():
        assert torch.equal(ours.state[p][k], v), k
    assert native.storable([[ours.state[p]["step"]]])


def test_channels_last_parameters_run_natively_with_torch_numbers(monkeypatch):
    conv = torch.nn.Conv2d(3, 8, 3).to(memory_format=torch.channels_last)
    twin = torch.nn.Conv2d(3, 8, 3).to(memory_format=torch.channels_last)
    twin.load_state_dict(conv.state_dict())
    ours, theirs = antigrad.Adam(conv.parameters(), lr=0.01), torch.optim.Adam(twin.parameters(),
                                                                               lr=0.01)
    calls = []
    real = native.Bound.__call__
    monkeypatch.setattr(native.Bound, "__call__",
                        lambda self, *a, **k: calls.append(1) or real(self, *a, **k))
    x = torch.randn(4, 3, 9, 9).to(memory_format=torch.channels_last)
    for _ in range(5):
        for m, o in ((conv, ours), (twin, theirs)):
            o.zero_grad()
            m(x).square().mean().backward()
            o.step()
    assert not conv.weight.is_contiguous() and conv.weight.grad.stride() == conv.weight.stride()
    assert len(calls) == 5
    for p, q in zip(conv.parameters(), twin.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
        assert p.stride() == q.stride()


def test_dense_layouts():
    x = torch.randn(2, 3, 4, 5)
    assert native.dense(x) and native.dense(x.permute(0, 2, 3, 1))
    assert native.dense(x.to(memory_format=torch.channels_last))
    assert not native.dense(x[:, :2]) and not native.dense(x[..., ::2])
    assert not native.dense(torch.randn(3).expand(4, 3))


@pytest.mark.parametrize("reset", ["whole state", "one entry"])
def test_reset_optimizer_state_starts_over_like_torch(reset):
    """`opt.state = defaultdict(dict)` (or `opt.state[p] = {}`) is how loops reset Adam."""
    import collections

    p, q, ours, theirs = pair()
    for t in range(3):
        step_both(p, q, ours, theirs, t)
    for opt, param in ((ours, p), (theirs, q)):
        if reset == "whole state":
            opt.state = collections.defaultdict(dict)
        else:
            opt.state[param] = {}
    for t in range(3, 5):
        step_both(p, q, ours, theirs, 0.5 * t)
    assert ours.state[p]["step"].item() == 2.0


@pytest.mark.parametrize("backend", ["native", "foreach"])
def test_parameters_with_different_step_counts_share_one_bucket(backend, monkeypatch):
    """Parameters that skipped steps (no gradient) carry other step counts: one call still
    updates them all, each with its own bias corrections."""
    monkeypatch.setenv("ANTIGRAD_BACKEND", backend)
    ours = [torch.nn.Parameter(torch.linspace(-1, 1, 5) * (i + 1)) for i in range(4)]
    theirs = [torch.nn.Parameter(p.detach().clone()) for p in ours]
    a, b = antigrad.NAdam(ours, lr=0.1), torch.optim.NAdam(theirs, lr=0.1)
    for t in range(6):
        for i, (p, q) in enumerate(zip(ours, theirs, strict=True)):
            g = torch.full((5,), 0.3 * (t + 1) - i * 0.1)
            p.grad, q.grad = (None, None) if (t + i) % 3 == 0 and t < 4 else (g, g.clone())
        a.step()
        b.step()
    buckets = a.planner.buckets
    assert len(buckets) == 1 and len(buckets[0].rows) > 1
    for p, q in zip(ours, theirs, strict=True):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)
        assert a.state[p]["step"].item() == b.state[q]["step"].item()
        assert a.state[p]["mu_product"].item() == b.state[q]["mu_product"].item()


@pytest.mark.parametrize("backend", ["native", "foreach"])
def test_gradients_coming_and_going_reuse_the_bucket(backend, monkeypatch):
    """Mixture-of-experts style: each step some parameters have no gradient. They sit the
    step out (state untouched, as torch), in the same prepared bucket, no rebuild."""
    monkeypatch.setenv("ANTIGRAD_BACKEND", backend)
    ours = [torch.nn.Parameter(torch.linspace(-1, 1, 7) + i) for i in range(5)]
    theirs = [torch.nn.Parameter(p.detach().clone()) for p in ours]
    a = antigrad.Adam(ours, lr=0.05, nonfinite="raise")
    b = torch.optim.Adam(theirs, lr=0.05)
    patterns = [(1, 1, 1, 1, 1), (1, 0, 1, 0, 1), (0, 1, 1, 1, 0), (1, 1, 0, 1, 1),
                (1, 0, 1, 0, 1), (1, 1, 1, 1, 1)]
    buckets = None
    for t, pattern in enumerate(patterns):
        for i, (p, q) in enumerate(zip(ours, theirs, strict=True)):
            g = torch.full((7,), 0.2 * (t + 1) - 0.1 * i)
            p.grad, q.grad = (g, g.clone()) if pattern[i] else (None, None)
        a.step()
        b.step()
        if t == 0:
            buckets = a.planner.buckets
        assert a.planner.buckets is buckets  # never rebuilt
        for p, q in zip(ours, theirs, strict=True):
            torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)
            assert a.state[p]["step"].item() == b.state[q]["step"].item()
    # A NaN among the parameters that step: nothing moves, sitting-out ones included.
    before = [p.detach().clone() for p in ours]
    steps = [a.state[p]["step"].item() for p in ours]
    for i, p in enumerate(ours):
        p.grad = None if i == 2 else torch.full((7,), float("nan") if i == 4 else 0.1)
    with pytest.raises(antigrad.NonFiniteGradientError, match="parameter 4"):
        a.step()
    assert all(torch.equal(p, x) for p, x in zip(ours, before, strict=True))
    assert [a.state[p]["step"].item() for p in ours] == steps


@pytest.mark.parametrize("backend", ["native", "foreach"])
def test_groups_with_one_chain_share_one_bucket(backend, monkeypatch):
    """AdamW's usual decay / no-decay groups, and groups that differ only in lr: one
    bucket, one call, each group with its own scalars; torch's numbers."""
    monkeypatch.setenv("ANTIGRAD_BACKEND", backend)
    ours = [torch.nn.Parameter(torch.linspace(-1, 1, 6) * (i + 1)) for i in range(4)]
    theirs = [torch.nn.Parameter(p.detach().clone()) for p in ours]

    def groups(ps):
        return [{"params": ps[:2], "weight_decay": 0.1}, {"params": ps[2:3], "weight_decay": 0.0},
                {"params": ps[3:], "weight_decay": 0.0, "lr": 0.01}]

    a = antigrad.AdamW(groups(ours), lr=0.05)
    b = torch.optim.AdamW(groups(theirs), lr=0.05)
    for t in range(5):
        for i, (p, q) in enumerate(zip(ours, theirs, strict=True)):
            p.grad = torch.full((6,), 0.3 * (t + 1) - 0.2 * i)
            q.grad = p.grad.clone()
        a.step()
        b.step()
    assert len(a.planner.buckets) == 1
    for p, q in zip(ours, theirs, strict=True):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)
        if backend == "foreach":
            assert torch.equal(p, q)
