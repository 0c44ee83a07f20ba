"""Reductions in the formula language (total, norm, max_abs; per tensor and per param
group) on the native, foreach and eager backends, against torch's own reductions."""

import pytest
import torch

import antigrad
from antigrad import transforms as T
from antigrad.engine import native
from antigrad.formula.expr import Expr, max_abs, norm, total, trace
from reduction_reference import MIX, make_groups, mix_reference

BACKENDS = ["native", "foreach", "eager"]


@pytest.fixture(params=BACKENDS)
def backend(request, monkeypatch):
    if request.param == "foreach":
        monkeypatch.setenv("ANTIGRAD_BACKEND", "foreach")
    return request.param


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_every_reduction_matches_torch(backend, dtype):
    groups = make_groups(dtype)
    gen = torch.Generator().manual_seed(3)
    grads = [[torch.randn(w.shape, generator=gen, dtype=dtype) for w in ws] for ws in groups]
    if backend == "eager":
        params = [[w.clone().requires_grad_().clone() for w in ws] for ws in groups]
    else:
        params = [[torch.nn.Parameter(w.clone()) for w in ws] for ws in groups]
    opt = antigrad.ChainOptimizer([{"params": ps} for ps in params], T.chain(MIX),
                                  differentiable=backend == "eager")
    for ps, gs in zip(params, grads, strict=True):
        for p, g in zip(ps, gs, strict=True):
            p.grad = g.clone()
    opt.step()
    if backend == "native":
        assert all(isinstance(b.bound, native.Bound) for b in opt.planner.buckets)
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    for ps, ws, gs in zip(params, groups, grads, strict=True):
        for p, want in zip(ps, mix_reference(ws, gs), strict=True):
            torch.testing.assert_close(p.detach(), want, rtol=tol, atol=tol)


def test_phases_follow_what_each_reduction_reads():
    graph = T.chain(MIX).graph
    assert graph.phases == 2
    first, second = graph.reductions
    assert {r.op for r in first} == {"max", "sum"}
    assert [(r.op, r.name) for r in second] == [("norm", "group")]
    assert sorted(graph.columns.values()) == list(range(len(graph.columns)))


def test_a_reduction_needs_a_tensor_expression_and_a_known_scope():
    def build(leaves, scalar):
        with pytest.raises(TypeError, match="norm\\(\\) reduces a tensor expression"):
            norm(scalar("lr"))
        with pytest.raises(ValueError, match="Invalid over: 'layer'"):
            total(leaves["grad"], over="layer")
        return {"param": leaves["param"] - leaves["grad"] * max_abs(leaves["grad"])}

    graph = trace(build, ["param", "grad"])
    assert repr(graph.outputs["param"].args[1].args[1]) == "max_abs(grad)"
    assert isinstance(graph.reductions[0][0], Expr)


def test_nan_makes_the_largest_value_nan(backend):
    """A NaN anywhere in the group makes max_abs(u, over="group") NaN on every backend (as
    torch's max), not silently the largest finite value."""
    p = torch.nn.Parameter(torch.ones(3, dtype=torch.float64))
    q = torch.nn.Parameter(torch.ones(2, dtype=torch.float64))
    if backend == "eager":
        p, q = (t.detach().requires_grad_().clone() for t in (p, q))
    chain = T.chain(T.Transform("m", update=lambda u, x, c: u * 0.0 + max_abs(u, over="group")))
    opt = antigrad.ChainOptimizer([p, q], chain, nonfinite="ignore",
                                  differentiable=backend == "eager")
    p.grad = torch.tensor([1.0, float("nan"), 2.0], dtype=torch.float64)
    q.grad = torch.tensor([5.0, 1.0], dtype=torch.float64)
    opt.step()
    assert torch.isnan(q.detach()).all()
