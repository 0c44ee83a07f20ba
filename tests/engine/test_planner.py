"""The planner alone, without an optimizer: buckets, plans, and when it plans again."""

from collections import defaultdict

import pytest
import torch

from antigrad import formula
from antigrad import transforms as T
from antigrad.engine import planner as planner_module
from antigrad.engine.nonfinite import NonFinitePolicy, describe
from antigrad.engine.planner import Planner, Work
from antigrad.errors import NonFiniteGradientError

ADAM = T.chain(T.scale_by_adam(), T.descend())
SGD = T.chain(T.descend())


def group(params, **hyper):
    return {"params": params, "lr": 0.1, "betas": (0.9, 0.999), "eps": 1e-8, **hyper}


def work_of(groups, chains):
    out = []
    for gi, (g, chain) in enumerate(zip(groups, chains, strict=True)):
        params = [p for p in g["params"] if p.grad is not None]
        out.append(Work(gi, g, params, [p.grad for p in params], chain))
    return out


def params(*shapes, dtype=torch.float32):
    ps = [torch.nn.Parameter(torch.ones(s, dtype=dtype)) for s in shapes]
    for p in ps:
        p.grad = torch.full_like(p, 0.5)
    return ps


def test_buckets_are_built_with_state_and_reused():
    planner, state = Planner(), defaultdict(dict)
    groups = [group(params(3, (2, 2)))]
    work = work_of(groups, [ADAM])
    assert planner.ready(work, state) is None  # nothing built yet
    buckets = planner.build(work, state, groups)
    assert len(buckets) == 1 and buckets[0].params == groups[0]["params"]
    assert set(state[groups[0]["params"][0]]) == {"exp_avg", "exp_avg_sq", "step"}
    assert planner.ready(work, state) == (buckets, True)
    assert planner.buckets is buckets


def test_groups_share_a_bucket_when_chain_device_and_dtype_agree():
    planner, state = Planner(), defaultdict(dict)
    groups = [group(params(3)), group(params(4), lr=0.01), group(params(5, dtype=torch.float64))]
    buckets = planner.build(work_of(groups, [ADAM, ADAM, ADAM]), state, groups)
    assert sorted(len(b.params) for b in buckets) == [1, 2]
    groups = [group(params(3)), group(params(4))]
    assert len(planner.build(work_of(groups, [ADAM, SGD]), state, groups)) == 2


def test_what_makes_it_plan_again():
    planner, state = Planner(), defaultdict(dict)
    ps = params(3, 4)
    groups = [group(ps)]
    ps[1].grad = None
    work = work_of(groups, [ADAM])
    planner.build(work, state, groups)
    # A parameter gets its first gradient.
    ps[1].grad = torch.ones(4)
    assert planner.ready(work_of(groups, [ADAM]), state) is None
    buckets = planner.build(work_of(groups, [ADAM]), state, groups)
    # A prepared parameter without gradient sits the step out: same buckets, not exact.
    ps[1].grad = None
    assert planner.ready(work_of(groups, [ADAM]), state) == (buckets, False)
    ps[1].grad = torch.ones(4)
    # Another chain for the group.
    assert planner.ready(work_of(groups, [T.chain(T.scale_by_adam(amsgrad=True),
                                                  T.descend())]), state) is None
    # A state tensor replaced.
    state[ps[0]]["exp_avg"] = torch.zeros(3)
    assert planner.ready(work_of(groups, [ADAM]), state) is None
    buckets = planner.build(work_of(groups, [ADAM]), state, groups)
    # An edited step counter.
    state[ps[0]]["step"].add_(1)
    assert planner.ready(work_of(groups, [ADAM]), state) is None
    planner.build(work_of(groups, [ADAM]), state, groups)
    planner.invalidate()
    assert planner.ready(work_of(groups, [ADAM]), state) is None


def test_plans_are_kept_by_chain_value_and_bounded():
    planner = Planner()
    first = planner.plan(formula.Chain([T.scale_by_adam(), T.descend()]))
    assert planner.plan(formula.Chain([T.scale_by_adam(), T.descend()])) is first
    for i in range(planner_module.PLANS_KEPT + 10):
        planner.plan(formula.Chain([T.descend(float(i + 1))]))
    assert planner.planned == planner_module.PLANS_KEPT


def test_state_of_another_model_is_refused_before_anything_runs():
    planner, state = Planner("Adam"), defaultdict(dict)
    ps = params(3)
    groups = [group(ps)]
    state[ps[0]] = {"exp_avg": torch.zeros(5), "exp_avg_sq": torch.zeros(3),
                    "step": torch.tensor(1.0)}
    with pytest.raises(RuntimeError, match=r"Adam: state 'exp_avg' of parameter 0 .* is "
                                           r"\(5,\), but the parameter has shape \(3,\)"):
        planner.build(work_of(groups, [ADAM]), state, groups)


def test_the_nonfinite_policy():
    ps = params(3, 2)
    ps[1].grad[0] = float("nan")
    groups = [group(ps)]
    message = describe(groups)
    assert message.startswith("gradient of parameter 1 in param group 0 (shape (2,)) "
                              "contains NaN")
    skip = NonFinitePolicy("skip")
    skip.refuse(lambda: pytest.fail("a skipped step needs no message"))
    assert skip.skipped == 1 and skip.checks
    with pytest.raises(NonFiniteGradientError, match="contains NaN"):
        NonFinitePolicy("raise").refuse(lambda: describe(groups))
    assert not NonFinitePolicy("ignore").checks
