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


def _replica_groups(seed, lrs, shapes=((5, 3), (5,), (2, 5))):
    """Param groups as the lab's replicas step: group r holds rows r of stacked tensors."""
    g = torch.Generator().manual_seed(seed)
    stacks = [torch.randn(len(lrs), *s, generator=g) for s in shapes]
    views = [[w[r] for w in stacks] for r in range(len(lrs))]
    return views, [{"params": views[r], "lr": lr} for r, lr in enumerate(lrs)]


@pytest.mark.parametrize("backend", ["native", "foreach"])
def test_many_groups_of_replicas_match_torch_step_by_step(backend, monkeypatch):
    """Sixteen param groups over three lrs in one bucket, fresh gradients every step (rows
    of new stacked tensors), one group frozen from step 3 on (no gradients), an lr set
    between steps: torch's numbers every step (the foreach path's bit for bit), state
    included, and the bucket built once."""
    monkeypatch.setenv("ANTIGRAD_BACKEND", backend)
    lrs = [1e-3 * 10 ** (0.5 * (k % 3 - 1)) for k in range(16)]
    ours, ours_groups = _replica_groups(0, lrs)
    theirs, their_groups = _replica_groups(0, lrs)
    a = antigrad.Adam(ours_groups, nonfinite="raise")
    b = torch.optim.Adam(their_groups)
    gen = torch.Generator().manual_seed(1)
    buckets = None
    for t in range(7):
        for k, stack in enumerate(ours[0]):
            grad = torch.randn(len(lrs), *stack.shape, generator=gen)
            for r, (mine, peer) in enumerate(zip(ours, theirs, strict=True)):
                frozen = r == 5 and t >= 3
                mine[k].grad = None if frozen else grad.clone()[r]
                peer[k].grad = None if frozen else grad.clone()[r]
        if t == 4:
            a.param_groups[7]["lr"] = b.param_groups[7]["lr"] = 0.02
        a.step()
        b.step()
        buckets = buckets or a.planner.buckets
        assert a.planner.buckets is buckets and len(buckets) == 1
        for mine, peer in zip(ours, theirs, strict=True):
            for p, q in zip(mine, peer, strict=True):
                if backend == "foreach":
                    assert torch.equal(p, q), t
                    assert torch.equal(a.state[p]["exp_avg_sq"], b.state[q]["exp_avg_sq"])
                torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)
                assert a.state[p]["step"].item() == b.state[q]["step"].item()
    assert a.state[ours[5][0]]["step"].item() == 3.0


def test_many_groups_give_the_foreach_paths_numbers_on_the_native_path(monkeypatch):
    """The native path with many groups and rows against the foreach path: the same
    parameters to rounding (the kernel's square root is correctly rounded, torch's on the
    CPU is not always), the same step counts."""
    lrs = [1e-3 * 10 ** (0.5 * (k % 3 - 1)) for k in range(12)]
    runs = {}
    for backend in ("native", "foreach"):
        monkeypatch.setenv("ANTIGRAD_BACKEND", backend)
        views, groups = _replica_groups(2, lrs)
        opt = antigrad.Adam(groups)
        gen = torch.Generator().manual_seed(3)
        for t in range(5):
            for r, mine in enumerate(views):
                for p in mine:
                    g = torch.randn(p.shape, generator=gen)
                    p.grad = None if r in (4, 9) and t % 2 else g
            opt.step()
        runs[backend] = (views, opt)
    (native_views, a), (foreach_views, b) = runs["native"], runs["foreach"]
    for mine, peer in zip(native_views, foreach_views, strict=True):
        for p, q in zip(mine, peer, strict=True):
            torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)
            assert a.state[p]["step"].item() == b.state[q]["step"].item()


def test_a_replaced_state_entry_is_noticed_without_hashing_every_step():
    """The bucket knows the state mapping it was checked against (its keys and values):
    an entry replaced by an equal copy, or removed and added again, still rebuilds it."""
    p, q, ours, theirs = pair()
    for t in range(2):
        step_both(p, q, ours, theirs, t)
    buckets = ours.planner.buckets
    for opt, x in ((ours, p), (theirs, q)):
        opt.state[x] = {k: v.clone() for k, v in opt.state[x].items()}
    step_both(p, q, ours, theirs, 2)
    assert ours.planner.buckets is not buckets
    buckets = ours.planner.buckets
    step_both(p, q, ours, theirs, 3)
    assert ours.planner.buckets is buckets  # steady again
    for opt, x in ((ours, p), (theirs, q)):
        entry = opt.state.pop(x)
        opt.state[x] = entry
    step_both(p, q, ours, theirs, 4)
    assert ours.planner.buckets is buckets  # the same entry back: still valid


def test_a_step_counter_reshaped_in_place_is_noticed():
    """`state["step"].data = step.view(1)`: same address, one dimension more; the bucket
    is rebuilt (the kernel writes only 0-d counters), and the numbers stay torch's."""
    p, q, ours, theirs = pair()
    for t in range(2):
        step_both(p, q, ours, theirs, t)
    buckets = ours.planner.buckets
    for opt, x in ((ours, p), (theirs, q)):
        step = opt.state[x]["step"]
        step.data = step.data.view(1)
    step_both(p, q, ours, theirs, 2)
    assert ours.planner.buckets is not buckets
    assert ours.state[p]["step"].shape == (1,) and ours.state[p]["step"].item() == 3.0
