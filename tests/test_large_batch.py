"""LAMB, LARS and clipping by norm against independent references (the papers' algorithms
step by step, torch's clip_grad_norm_), on the native, foreach and eager backends, in
float32 and float64, two param groups of several shapes (empty and scalar included)."""

import pytest
import torch

import antigrad
from antigrad import transforms as T
from antigrad.engine import native
from reduction_reference import clipped_sgd, gradients, lamb, lars, make_groups, max_error

BACKENDS = ["native", "foreach", "eager"]
TOL = {torch.float32: 2e-5, torch.float64: 1e-12}
STEPS = 3


@pytest.fixture(params=BACKENDS)
def backend(request, monkeypatch):
    if request.param == "foreach":
        monkeypatch.setenv("ANTIGRAD_BACKEND", "foreach")
    return request.param


def _params(groups, backend):
    if backend == "eager":  # differentiable=True: steps on autograd's tape, of non-leaves
        return [[w.clone().requires_grad_().clone() for w in ps] for ps in groups]
    return [[torch.nn.Parameter(w.clone()) for w in ps] for ps in groups]


def _run(make_opt, groups, grads, backend):
    params = _params(groups, backend)
    opt = make_opt(params, backend == "eager")
    for step in grads:
        for ps, gs in zip(params, step, strict=True):
            for p, g in zip(ps, gs, strict=True):
                p.grad = g.clone()
        opt.step()
    if backend == "native":  # the generated kernel ran the step, reduce phase included
        assert all(isinstance(b.bound, native.Bound) for b in opt.planner.buckets)
    return params


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("max_grad_norm", [None, 2.0])
def test_lamb_matches_the_paper(backend, dtype, max_grad_norm):
    groups = make_groups(dtype)
    grads = gradients(groups, STEPS)
    options = [(1e-2, 0.9, 0.999, 1e-6, 0.01, max_grad_norm),
               (5e-2, 0.8, 0.99, 1e-6, 0.0, max_grad_norm)]

    def make(params, differentiable):
        return antigrad.LAMB([{"params": params[0]},
                              {"params": params[1], "lr": 5e-2, "betas": (0.8, 0.99),
                               "weight_decay": 0.0}],
                             lr=1e-2, weight_decay=0.01, max_grad_norm=max_grad_norm,
                             differentiable=differentiable)

    ours = _run(make, groups, grads, backend)
    assert max_error(ours, lamb(groups, grads, options)) <= TOL[dtype]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_lars_matches_the_paper(backend, dtype):
    groups = make_groups(dtype)
    grads = gradients(groups, STEPS)
    options = [(0.5, 0.9, 5e-4, 1e-3), (1.0, 0.5, 0.0, 2e-2)]

    def make(params, differentiable):
        return antigrad.LARS([{"params": params[0]},
                              {"params": params[1], "lr": 1.0, "momentum": 0.5,
                               "weight_decay": 0.0, "trust_coefficient": 2e-2}],
                             lr=0.5, momentum=0.9, weight_decay=5e-4,
                             differentiable=differentiable)

    ours = _run(make, groups, grads, backend)
    assert max_error(ours, lars(groups, grads, options)) <= TOL[dtype]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("per_tensor", [False, True])
def test_clipping_matches_clip_grad_norm(backend, dtype, per_tensor):
    groups = make_groups(dtype)
    grads = gradients(groups, STEPS)
    clip = T.clip_by_norm() if per_tensor else T.clip_by_global_norm()

    def make(params, differentiable):
        return antigrad.ChainOptimizer(
            [{"params": params[0]}, {"params": params[1], "lr": 0.2, "max_norm": 0.3}],
            T.chain(clip, T.descend()), lr=0.1, max_norm=2.0, differentiable=differentiable)

    ours = _run(make, groups, grads, backend)
    theirs = clipped_sgd(groups, grads, [(0.1, 2.0), (0.2, 0.3)], per_tensor=per_tensor)
    assert max_error(ours, theirs) <= TOL[dtype]


def test_global_norm_leaves_out_parameters_without_gradient(backend):
    """A tensor that sits the step out counts in no total (as clip_grad_norm_ over the
    parameters that have a gradient)."""
    groups = make_groups(torch.float64)
    grads = gradients(groups, 1)
    params = _params(groups, backend)[0]
    idle = _params([[torch.ones(7, dtype=torch.float64)]], backend)[0][0]
    opt = antigrad.ChainOptimizer([*params, idle], T.chain(T.clip_by_global_norm(), T.descend()),
                                  lr=0.1, max_norm=0.5, differentiable=backend == "eager")
    for p, g in zip(params, grads[0][0], strict=True):
        p.grad = g.clone()
    opt.step()
    theirs = clipped_sgd([groups[0]], [[grads[0][0]]], [(0.1, 0.5)])
    assert max_error([params], theirs) <= 1e-12
    assert torch.equal(idle.detach(), torch.ones(7, dtype=torch.float64))


def test_lars_and_lamb_refuse_invalid_hyperparameters():
    w = [torch.nn.Parameter(torch.ones(2))]
    with pytest.raises(ValueError, match="trust_coefficient"):
        antigrad.LARS(w, trust_coefficient=-1.0)
    with pytest.raises(ValueError, match="beta2"):
        antigrad.LAMB(w, betas=(0.9, 1.5))
    with pytest.raises(ValueError, match="max_grad_norm"):
        antigrad.LAMB(w, max_grad_norm=-1.0)
    with pytest.raises(TypeError, match="lr"):
        antigrad.LAMB(w, lr="fast")


def test_a_group_norm_over_two_dtypes_is_refused():
    """The group's total is computed inside one bucket (one device and dtype): a group that
    spans two is refused, naming it, before anything is written."""
    a = torch.nn.Parameter(torch.ones(3))
    b = torch.nn.Parameter(torch.ones(2, dtype=torch.float64))
    opt = antigrad.LAMB([a, b], max_grad_norm=1.0)
    a.grad, b.grad = torch.ones(3), torch.ones(2, dtype=torch.float64)
    with pytest.raises(ValueError, match="param group 0 of LAMB holds parameters of"):
        opt.step()
    assert torch.equal(a.detach(), torch.ones(3))
    opt = antigrad.LAMB([{"params": [a]}, {"params": [b]}], max_grad_norm=1.0)
    opt.step()  # one dtype per group: fine
    assert not torch.equal(a.detach(), torch.ones(3))
