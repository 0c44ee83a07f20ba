"""The foreach backend against a plain out-of-place evaluation of the same graph."""

import pytest
import torch

from antigrad import textbook as tb
from antigrad import transforms as T
from antigrad.engine.foreach import ForeachPlan, run
from antigrad.formula import expr
from antigrad.optim import SGD, Adagrad, Adam, NAdam, RMSprop

TORCH_OPS = {
    "add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div,
    "maximum": torch.maximum, "minimum": torch.minimum, "neg": torch.neg, "sqrt": torch.sqrt,
    "abs": torch.abs, "sign": torch.sign, "lerp": torch.lerp,
}


def reference(graph, tensors, scalars):
    """Evaluate every output out of place, one tensor at a time: no aliasing possible."""
    def value(e, i):
        if e.op == "tensor":
            return tensors[e.name][i]
        if e.is_scalar:
            return torch.tensor(expr.evaluate_scalar(e, scalars), dtype=torch.float64)
        return TORCH_OPS[e.op](*(value(a, i) for a in e.args))
    n = len(tensors["param"])
    return {k: [value(out, i) for i in range(n)] for k, out in graph.outputs.items()}


def chains():
    groups = {
        "sgd": (SGD, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1, maximize=True)),
        "adagrad": (Adagrad, dict(lr_decay=0.1)),
        "rmsprop": (RMSprop, dict(momentum=0.9, centered=True, weight_decay=0.1)),
        "adam": (Adam, dict(amsgrad=True, weight_decay=0.1, decoupled_weight_decay=True)),
        "nadam": (NAdam, dict(weight_decay=0.1)),
    }
    out = {}
    for name, (cls, kw) in groups.items():
        opt = cls([torch.nn.Parameter(torch.ones(1))], **kw)
        out[name] = opt.build(opt.param_groups[0])
    for cls in (tb.Momentum, tb.Nesterov, tb.AdaGrad, tb.RMSprop, tb.AdamSimple, tb.Adam,
                tb.Nadam, tb.AdamW):
        out["textbook." + cls.__name__] = cls.formula
    out["swap"] = T.chain(_swap(), T.descend())
    return out


def _swap():
    def update(u, x, c):
        a, b = x.state["a"], x.state["b"]
        x.state["a"], x.state["b"] = b + u, a * 2.0
        return expr.sqrt(expr.absolute(a)) + 3.0 / (b * b + 1.0) - expr.sign(u)
    return T.Transform("swap", update=update, state={"a": T.zeros, "b": T.zeros})


@pytest.mark.parametrize("name,chain", list(chains().items()))
def test_foreach_equals_reference(name, chain):
    graph = chain.graph
    g = torch.Generator().manual_seed(0)
    shapes = [(3, 4), (5,), (1,)]
    tensors = {k: [torch.randn(s, generator=g, dtype=torch.float64).abs() + 0.1 for s in shapes]
               for k in graph.tensor_inputs}
    scalars = {k: 0.3 + 0.1 * i for i, k in enumerate(graph.scalar_inputs)}
    expected = reference(graph, tensors, scalars)
    grads = [t.clone() for t in tensors["grad"]]
    run(ForeachPlan(graph), tensors, scalars)
    for k, outs in expected.items():
        for got, want in zip(tensors[k], outs, strict=True):
            torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-14, equal_nan=True)
    assert all(torch.equal(a, b) for a, b in zip(tensors["grad"], grads, strict=True))


def test_identities_fold_away():
    x = expr.Expr("tensor", name="x", is_scalar=False)
    assert (x + 0) is x and (x * 1) is x and (0 + x) is x and (x / 1) is x
    folded = expr.const(2) * expr.const(3)
    assert folded.op == "const" and folded.value == 6


def test_powers_of_tensors_are_refused():
    x = expr.Expr("tensor", name="x", is_scalar=False)
    with pytest.raises(TypeError, match="powers"):
        _ = x**2
    with pytest.raises(TypeError, match="cannot use str"):
        _ = x + "1"


def test_adam_update_is_three_fused_calls_and_a_sqrt():
    """The foreach plan of torch's Adam folds scalings into add/addcmul/addcdiv calls."""
    opt = Adam([torch.nn.Parameter(torch.ones(1))])
    plan = ForeachPlan(opt.build(opt.param_groups[0]).graph)
    kinds = sorted(term.kind for _, term, _ in plan.fused.values())
    assert kinds == ["div", "mul"]  # v += (1-b2) g*g ; p += -lr/bc1 * m/denom
