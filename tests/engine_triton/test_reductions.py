"""Reduce phases on the Triton backend (interpreted): LAMB, LARS, clipping by norm and
every kind of reduction against the same independent references as the CPU backends
(tests/reduction_reference.py, torch's clip_grad_norm_), float32 and float64, two param
groups of several shapes (empty and 0-d tensors included)."""

import pytest
import torch

import antigrad
from antigrad import transforms as T
from antigrad.engine import tritonkernel
from reduction_reference import (
    MIX,
    clipped_sgd,
    gradients,
    lamb,
    lars,
    make_groups,
    max_error,
    mix_reference,
)

TOL = {torch.float32: 2e-5, torch.float64: 1e-12}
DTYPES = [torch.float32, torch.float64]


def _run(make_opt, groups, grads):
    params = [[torch.nn.Parameter(w.clone()) for w in ps] for ps in groups]
    opt = make_opt(params)
    for step in grads:
        for ps, gs in zip(params, step, strict=True):
            for p, g in zip(ps, gs, strict=True):
                p.grad = g.clone()
        opt.step()
    opt.synchronize()
    # the generated kernels ran every step, reduce phases included
    assert all(isinstance(b.bound, tritonkernel.Bound) for b in opt.planner.buckets)
    return params


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("max_grad_norm", [None, 2.0])
def test_lamb_matches_the_paper(dtype, max_grad_norm):
    groups = make_groups(dtype)
    grads = gradients(groups, 3)
    options = [(1e-2, 0.9, 0.999, 1e-6, 0.01, max_grad_norm),
               (5e-2, 0.8, 0.99, 1e-6, 0.0, max_grad_norm)]
    ours = _run(lambda ps: antigrad.LAMB(
        [{"params": ps[0]}, {"params": ps[1], "lr": 5e-2, "betas": (0.8, 0.99),
                             "weight_decay": 0.0}],
        lr=1e-2, weight_decay=0.01, max_grad_norm=max_grad_norm, nonfinite="raise"),
        groups, grads)
    assert max_error(ours, lamb(groups, grads, options)) <= TOL[dtype]


@pytest.mark.parametrize("dtype", DTYPES)
def test_lars_matches_the_paper(dtype):
    groups = make_groups(dtype)
    grads = gradients(groups, 3)
    options = [(0.5, 0.9, 5e-4, 1e-3), (1.0, 0.5, 0.0, 2e-2)]
    ours = _run(lambda ps: antigrad.LARS(
        [{"params": ps[0]}, {"params": ps[1], "lr": 1.0, "momentum": 0.5,
                             "weight_decay": 0.0, "trust_coefficient": 2e-2}],
        lr=0.5, momentum=0.9, weight_decay=5e-4, nonfinite="ignore"), groups, grads)
    assert max_error(ours, lars(groups, grads, options)) <= TOL[dtype]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("per_tensor", [False, True])
def test_clipping_matches_clip_grad_norm(dtype, per_tensor):
    groups = make_groups(dtype)
    grads = gradients(groups, 2)
    clip = T.clip_by_norm() if per_tensor else T.clip_by_global_norm()
    ours = _run(lambda ps: antigrad.ChainOptimizer(
        [{"params": ps[0]}, {"params": ps[1], "lr": 0.2, "max_norm": 0.3}],
        T.chain(clip, T.descend()), lr=0.1, max_norm=2.0), groups, grads)
    theirs = clipped_sgd(groups, grads, [(0.1, 2.0), (0.2, 0.3)], per_tensor=per_tensor)
    assert max_error(ours, theirs) <= TOL[dtype]


def test_every_reduction_matches_torch():
    """Sums, largest |x| and group norms in two phases, against torch's reductions."""
    groups = make_groups(torch.float64)
    grads = [[torch.randn(w.shape, dtype=torch.float64) for w in ws] for ws in groups]
    ours = _run(lambda ps: antigrad.ChainOptimizer([{"params": p} for p in ps],
                                                   T.chain(MIX)), groups, [grads])
    for ps, ws, gs in zip(ours, groups, grads, strict=True):
        for p, want in zip(ps, mix_reference(ws, gs), strict=True):
            torch.testing.assert_close(p.detach(), want, rtol=1e-12, atol=1e-12)


def test_many_chunks_add_up():
    """A tensor of several programs' chunks (BLOCK elements each): its norm adds them all."""
    n = 2 * tritonkernel.BLOCK + 17
    w = torch.randn(n, dtype=torch.float64)
    g = torch.randn(n, dtype=torch.float64)
    ours = _run(lambda ps: antigrad.ChainOptimizer(ps[0], T.chain(T.clip_by_norm(), T.descend()),
                                                   lr=1.0, max_norm=0.5), [[w]], [[[g]]])
    theirs = clipped_sgd([[w]], [[[g]]], [(1.0, 0.5)], per_tensor=True)
    assert max_error(ours, theirs) <= 1e-12
