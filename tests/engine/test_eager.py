"""The eager backend: the same graph with out-of-place torch ops, bit-identical to the
foreach backend, differentiable, and a way to run one transform alone."""

import pytest
import torch

from antigrad import transforms as T
from antigrad.engine import eager
from antigrad.engine.foreach import ForeachPlan, run
from antigrad.formula.transform import ScalarState
from engine.test_foreach import chains


def _inputs(graph, seed=0):
    g = torch.Generator().manual_seed(seed)
    tensors = {k: torch.randn(3, 4, generator=g, dtype=torch.float64).abs() + 0.1
               for k in graph.tensor_inputs}
    scalars = {k: 0.3 + 0.1 * i for i, k in enumerate(graph.scalar_inputs)}
    return tensors, scalars


@pytest.mark.parametrize("name,chain", list(chains().items()))
def test_eager_equals_foreach_bit_for_bit(name, chain):
    tensors, scalars = _inputs(chain.graph)
    before = {k: t.clone() for k, t in tensors.items()}
    out = eager.run(chain.graph, tensors, scalars)
    for k, t in tensors.items():  # out of place: the inputs are untouched
        assert torch.equal(t, before[k])
    lists = {k: [t.clone()] for k, t in tensors.items()}
    run(ForeachPlan(chain.graph), lists, scalars)
    assert set(out) == set(chain.graph.outputs)
    for k, value in out.items():
        torch.testing.assert_close(value, lists[k][0], rtol=0, atol=0, equal_nan=True)


def test_one_transform_alone():
    # scale_by_rms on its own: G <- a G + (1 - a) u^2, u <- u / (sqrt(G) + eps); the engine
    # adds the result to the parameter.
    chain = T.chain(T.scale_by_rms())
    p, u, G = torch.zeros(4), torch.tensor([1.0, -2.0, 3.0, 0.5]), torch.ones(4)
    group = {"alpha": 0.9, "eps": 1e-8, "centered": False}
    scalars = chain.scalars(group, ScalarState({}), fresh=False)
    out = eager.run(chain.graph, {"param": p, "grad": u, "square_avg": G}, scalars)
    want_G = 0.9 * G + 0.1 * u * u
    torch.testing.assert_close(out["square_avg"], want_G)
    torch.testing.assert_close(out["param"], u / (want_G.sqrt() + 1e-8))


def test_tensor_scalars_stay_on_the_tape():
    chain = T.chain(T.descend())
    lr = torch.tensor(0.1, requires_grad=True)
    p, g = torch.ones(3), torch.full((3,), 2.0)
    out = eager.run(chain.graph, {"param": p, "grad": g}, {"0.lr": lr})
    (d_lr,) = torch.autograd.grad(out["param"].sum(), lr)
    assert torch.equal(out["param"].detach(), torch.full((3,), 0.8))
    assert d_lr.item() == -6.0
