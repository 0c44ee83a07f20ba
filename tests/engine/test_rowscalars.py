"""Rows of a bucket share the computation of their scalars only when its inputs are exactly
equal (antigrad.engine.rowscalars)."""

import numpy as np
import pytest
import torch

import antigrad
from antigrad import transforms as T
from antigrad.engine.rowscalars import exact


def test_exact_keys_tell_apart_values_that_arithmetic_tells_apart():
    assert exact(0.1) == exact(0.1) and exact((0.9, 0.999)) == exact((0.9, 0.999))
    assert exact(0.0) != exact(-0.0)  # 1 / lr, copysign: they differ
    assert len({exact(1), exact(1.0), exact(True)}) == 3
    assert exact(2) == exact(2) and exact("a") == exact("a") and exact(None) == exact(None)
    assert exact((0.9, -0.0)) != exact((0.9, 0.0))
    for unkeyable in ([0.9, 0.999], torch.tensor(0.1), np.float64(0.1), (0.9, [1.0]), {}):
        assert exact(unkeyable) is None


CALLS = []


def _counted_scalars(group, state, fresh):
    CALLS.append((group["lr"], state["step"], fresh))
    return {"lr": T.hyper(group, "lr"), "bc": 1.0 - 0.9 ** state["step"]}


COUNTED = T.Transform("counted", update=lambda u, x, c: u * (-c["lr"] / c["bc"]),
                      scalars=_counted_scalars, scalar_state={"step": 0.0},
                      defaults={"lr": 0.1})


def _groups(lrs, seed=0):
    g = torch.Generator().manual_seed(seed)
    stacked = torch.randn(len(lrs), 3, 4, generator=g)
    return [{"params": [stacked[r]], "lr": lr} for r, lr in enumerate(lrs)], stacked


def _step(opt, stacked, t):
    for group in opt.param_groups:
        for p in group["params"]:
            p.grad = torch.cos(p.detach() * (t + 1))
    opt.step()


@pytest.mark.parametrize("backend", ["native", "foreach"])
def test_rows_with_equal_inputs_compute_their_scalars_once(backend, monkeypatch):
    monkeypatch.setenv("ANTIGRAD_BACKEND", backend)
    lrs = [0.1, 0.01, 0.1, 0.1, 0.01, 0.1]
    groups, stacked = _groups([float(str(lr)) for lr in lrs])  # equal, not the same objects
    opt = antigrad.ChainOptimizer(groups, T.chain(COUNTED))
    alone = [antigrad.ChainOptimizer([{"params": [stacked[r].clone()], "lr": lr}],
                                     T.chain(COUNTED)) for r, lr in enumerate(lrs)]
    for t in range(3):
        CALLS.clear()
        _step(opt, stacked, t)
        assert sorted(CALLS) == [(0.01, t + 1.0, False), (0.1, t + 1.0, False)]
        for single in alone:
            _step(single, None, t)
    for r, single in enumerate(alone):  # each row stepped as if alone, bit for bit
        p = single.param_groups[0]["params"][0]
        torch.testing.assert_close(stacked[r], p, rtol=0, atol=0)
        assert opt.state[opt.param_groups[r]["params"][0]]["step"].item() == 3.0


def test_groups_that_differ_in_a_way_arithmetic_sees_compute_their_own():
    """-0.0 and 0.0, 1 and 1.0, a list, and a row whose step count differs."""
    groups, stacked = _groups([0.0, -0.0, 0.0, 1, 1.0, 0.5, 0.5])
    opt = antigrad.ChainOptimizer(groups, T.chain(COUNTED))
    _step(opt, stacked, 0)
    opt.param_groups[6]["params"][0].grad = None  # sits one step out: another step count
    for p in opt.param_groups[5]["params"]:
        p.grad = torch.ones(3, 4)
    CALLS.clear()
    opt.step()
    assert sorted(map(repr, CALLS)) == sorted(map(repr, [
        (0.0, 2.0, False), (-0.0, 2.0, False), (1, 2.0, False), (1.0, 2.0, False),
        (0.5, 2.0, False)]))
    _step(opt, stacked, 1)
    steps = [opt.state[g["params"][0]]["step"].item() for g in opt.param_groups]
    assert steps == [3.0] * 6 + [2.0]
    CALLS.clear()
    _step(opt, stacked, 2)  # rows 5 and 6 now differ in step count: two calls for 0.5
    assert sorted(c for c in CALLS if c[0] == 0.5) == [(0.5, 3.0, False), (0.5, 4.0, False)]


def test_a_value_replaced_between_steps_takes_effect():
    groups, stacked = _groups([0.1, 0.1, 0.1])
    opt = antigrad.ChainOptimizer(groups, T.chain(COUNTED))
    _step(opt, stacked, 0)
    opt.param_groups[1]["lr"] = 0.2  # as a scheduler does
    CALLS.clear()
    _step(opt, stacked, 1)
    assert sorted(CALLS) == [(0.1, 2.0, False), (0.2, 2.0, False)]
    opt.param_groups[1]["lr"] = 0.1
    CALLS.clear()
    _step(opt, stacked, 2)
    assert CALLS == [(0.1, 3.0, False)]


def test_a_tensor_lr_is_never_shared():
    groups, stacked = _groups([torch.tensor(0.1), torch.tensor(0.1)])
    opt = antigrad.ChainOptimizer(groups, T.chain(COUNTED))
    CALLS.clear()
    _step(opt, stacked, 0)
    assert len(CALLS) == 2


def test_a_state_key_is_the_exact_keys_of_its_values_and_none_without_one():
    from antigrad.engine.rowscalars import state_key
    for state in ({"step": 3.0}, {"step": 3.0, "mu": 0.5}, {"step": float("nan")},
                  {"step": 0.0}, {"step": -0.0}, {"step": 2.0, "mu": 0.0}, {"n": 2},
                  {"step": 1.0, "flag": True}, {}):
        assert state_key(state) == tuple(exact(v) for v in state.values()), state
    assert state_key({"step": 0.0}) != state_key({"step": -0.0})
    assert state_key({"step": 1.0, "mu": -0.0}) != state_key({"step": 1.0, "mu": 0.0})
    assert state_key({"step": 1.0}) != state_key({"step": 1})  # an int is not a float
    assert state_key({"step": 2.0, "lr": torch.tensor(0.1)}) is None
