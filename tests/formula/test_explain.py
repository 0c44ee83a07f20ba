"""A chain's formulas as text: written out, they compute what the engine computes."""

import math
import random

import pytest
import torch

from antigrad import formula
from antigrad import transforms as T
from antigrad.engine import eager

CHAINS = {
    "adam": T.chain(T.decoupled_weight_decay(), T.scale_by_adam(amsgrad=True), T.descend()),
    "rms centered": T.chain(T.add_weight_decay(), T.scale_by_rms(centered=True), T.descend()),
    "nadam": T.chain(T.scale_by_nadam(eps_root=1e-3), T.flip(), T.descend()),
    "sgd": T.chain(T.momentum(nesterov=True), T.descend()),
}
FUNCTIONS = {"lerp": lambda a, b, w: a + w * (b - a), "sqrt": math.sqrt, "maximum": max,
             "minimum": min, "abs": abs, "sign": lambda a: float((a > 0) - (a < 0))}


def run_text(text, env):
    """Execute the explained update (``x <- e`` lines and ``t = e`` lines) on numbers."""
    out = {}
    for line in text.splitlines():
        target, arrow, expr = line.partition(" <- ")
        if not arrow:
            target, _, expr = line.partition(" = ")
        value = eval(expr, {**FUNCTIONS}, env)  # the text we test, nothing from outside
        (out if arrow else env)[target] = value
    return out


@pytest.mark.parametrize("name", sorted(CHAINS))
def test_the_text_computes_what_the_engine_computes(name):
    chain = CHAINS[name]
    rng = random.Random(0)
    names = [t.name for t in chain.transforms]
    tensors = {n: rng.uniform(0.1, 2.0) for n in ["param", "grad", *chain.state]}
    scalars = {s: rng.uniform(0.1, 0.9) for s in chain.graph.scalar_inputs}
    def identifier(scalar):
        return "s_" + scalar.replace(".", "_")

    text = formula.explain.render(chain.graph, identifier)
    got = run_text(text, {**tensors, **{identifier(s): v for s, v in scalars.items()}})
    want = eager.run(chain.graph, {n: torch.tensor([v], dtype=torch.float64)
                                   for n, v in tensors.items()}, scalars)
    assert got.keys() <= want.keys() and "param" in got
    for k, v in want.items():
        assert got.get(k, tensors[k]) == pytest.approx(v.item(), rel=1e-12), k
    assert names  # the chain has transforms to name


def test_explain_names_the_scalars_by_their_transform():
    text = T.chain(T.scale_by_adam(), T.descend()).explain()
    assert text.splitlines()[:3] == [
        "chain(scale_by_adam, descend)", "state: exp_avg, exp_avg_sq, step",
        "per-step scalars: scale_by_adam.b1, scale_by_adam.b2, scale_by_adam.bc2_sqrt, "
        "scale_by_adam.eps, scale_by_adam.bc1, descend.lr"]
    assert "  t1 = lerp(exp_avg, grad, 1 - scale_by_adam.b1)" in text
    assert "  exp_avg <- t1" in text


def test_reductions_are_written_as_formulas_call_them():
    def update(u, x, c):
        return u / formula.norm(u, over="group") + formula.total(u) * formula.max_abs(x.p)

    text = formula.explain.render(T.chain(formula.Transform("r", update=update)).graph)
    assert text == ('param <- param + (grad / norm(grad, over="group") + total(grad) * '
                    'max_abs(param))')


def test_precedence_is_kept():
    def update(u, x, c):
        return (u - (x.p - u)) / (u / (x.p * 2.0)) - -u

    text = formula.explain.render(T.chain(formula.Transform("p", update=update)).graph)
    assert text == "param <- param + ((grad - (param - grad)) / (grad / (param * 2)) - -grad)"
