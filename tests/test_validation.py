"""The one validation layer: declared constraints, and one exception policy everywhere --
TypeError for a wrong type, ValueError for a wrong value, each naming the argument and the
value -- across the chain optimizer, both faces, second order, schedules, stopping rules
and fit."""

import math
import re

import pytest
import torch

import antigrad
from antigrad import schedules, stop, validation
from antigrad import transforms as T
from antigrad.formula.transform import ScalarState
from antigrad.validation import (
    COUNT,
    NON_NEGATIVE,
    POSITIVE,
    UNIT,
    Flag,
    Interval,
    OneOf,
    OrNone,
    Pair,
)


def params():
    return [torch.nn.Parameter(torch.ones(3))]


def opt():
    return antigrad.SGD(params(), lr=0.1)


def adam_chain():
    return T.chain(T.scale_by_adam(), T.descend())


# (family, how to build it, exception, message): every family, a wrong type and a wrong value.
TABLE = [
    ("chain", lambda: antigrad.ChainOptimizer(params(), adam_chain(), lr="fast"),
     TypeError, "Invalid lr value: 'fast' (must be a number)"),
    ("chain", lambda: antigrad.ChainOptimizer(params(), adam_chain(), lr=-0.5),
     ValueError, "Invalid lr value: -0.5 (must be >= 0)"),
    ("chain", lambda: antigrad.ChainOptimizer(params(), adam_chain(), betas=(2.0, 0.9)),
     ValueError, "Invalid beta parameter at index 0: 2.0 (beta1 must be in [0, 1))"),
    ("chain", lambda: antigrad.ChainOptimizer(params(), adam_chain(), betas=0.9),
     TypeError, "Invalid betas value: 0.9 (must be a pair of numbers)"),
    ("chain", lambda: antigrad.ChainOptimizer(params(), adam_chain(), eps=math.nan),
     ValueError, "Invalid eps value: nan (must not be NaN)"),
    ("chain", lambda: antigrad.ChainOptimizer(params(), adam_chain(), foreach="yes"),
     TypeError, "Invalid foreach value: 'yes' (must be True or False or None)"),
    ("chain", lambda: antigrad.ChainOptimizer(params(), adam_chain(), nonfinite="warn"),
     ValueError, "Invalid nonfinite value: 'warn' (must be one of 'raise', 'skip', 'ignore')"),
    ("first order", lambda: antigrad.SGD(params(), lr=0.1, momentum="high"),
     TypeError, "Invalid momentum value: 'high' (must be a number)"),
    ("first order", lambda: antigrad.RMSprop(params(), momentum=-1.0),
     ValueError, "Invalid momentum value: -1.0 (must be >= 0)"),
    ("first order", lambda: antigrad.LAMB(params(), max_grad_norm="1"),
     TypeError, "Invalid max_grad_norm value: '1' (must be a number)"),
    ("first order", lambda: antigrad.LARS(params(), trust_coefficient=-1e-3),
     ValueError, "Invalid trust_coefficient value: -0.001 (must be >= 0)"),
    ("textbook", lambda: antigrad.textbook.Momentum(params(), lr=0.1, gamma=1.0),
     ValueError, "Invalid gamma value: 1.0 (must be in [0, 1))"),
    ("textbook", lambda: antigrad.textbook.Adam(params(), lr=0.1, s=None),
     TypeError, "Invalid s value: None (must be a number)"),
    ("second order", lambda: antigrad.LBFGS(params(), max_iter=1.5),
     TypeError, "Invalid max_iter value: 1.5 (must be an integer)"),
    ("second order", lambda: antigrad.LBFGS(params(), max_iter=0),
     ValueError, "Invalid max_iter value: 0 (must be an integer >= 1)"),
    ("second order", lambda: antigrad.Newton(params(), mode="lbfgs"),
     ValueError, "Invalid mode value: 'lbfgs' (must be one of 'exact', 'cg', 'trust_region')"),
    ("second order", lambda: antigrad.BFGS(params(), lr="1"),
     TypeError, "Invalid lr value: '1' (must be a number)"),
    ("schedules", lambda: schedules.Step(opt(), step_size=1.5),
     TypeError, "Invalid step_size value: 1.5 (must be an integer)"),
    ("schedules", lambda: schedules.Exponential(opt(), gamma=0.0),
     ValueError, "Invalid gamma value: 0.0 (must be in (0, 1])"),
    ("schedules", lambda: schedules.robbins_monro(lambda t: 1 / t, horizon=10),
     ValueError, "Invalid horizon value: 10 (must be an integer >= 1000)"),
    ("stopping rules", lambda: stop.MaxSteps(2.0),
     TypeError, "Invalid n value: 2.0 (must be an integer)"),
    ("stopping rules", lambda: stop.Patience(min_delta="0.1"),
     TypeError, "Invalid min_delta value: '0.1' (must be a number)"),
    ("stopping rules", lambda: stop.Divergence(1.0),
     ValueError, "Invalid factor value: 1.0 (must be > 1)"),
    ("stopping rules", lambda: stop.Patience(monitor=3),
     TypeError, "Invalid monitor value: 3 (must be a str)"),
    ("fit", lambda: _fit(epochs=2.5),
     TypeError, "Invalid epochs value: 2.5 (must be an integer)"),
    ("fit", lambda: _fit(epochs=0),
     ValueError, "Invalid epochs value: 0 (must be an integer >= 1)"),
    ("fit", lambda: _fit(epochs=1, lr=[0.1]),
     TypeError, "Invalid lr value: [0.1] (must be a number)"),
]


def _fit(**kwargs):
    model = torch.nn.Linear(2, 1)
    data = (torch.ones(4, 2), torch.ones(4, 1))
    kwargs.setdefault("lr", 0.1)
    return antigrad.fit(model, torch.nn.functional.mse_loss, data, progress=False, **kwargs)


@pytest.mark.parametrize("family,make,error,message", TABLE,
                         ids=[f"{row[0]}-{i}" for i, row in enumerate(TABLE)])
def test_one_exception_policy_across_families(family, make, error, message):
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        make()


def test_the_table_covers_every_family_with_both_kinds():
    kinds = {(family, error) for family, _, error, _ in TABLE}
    for family in ("chain", "first order", "textbook", "second order", "schedules",
                   "stopping rules", "fit"):
        assert {(family, TypeError), (family, ValueError)} <= kinds, family


# -- unknown hyperparameters ---------------------------------------------------------------

def test_a_misspelt_hyperparameter_is_refused_with_the_nearest_name():
    with pytest.raises(antigrad.UnknownNameError,
                       match=r"^unknown hyperparameter 'lrr' \(did you mean 'lr'\?\); choose "
                             r"from: betas, differentiable, eps, foreach, fused, lr$") as err:
        antigrad.ChainOptimizer(params(), adam_chain(), lrr=0.1)
    assert isinstance(err.value, ValueError) and err.value.nearest == "lr"


def test_a_name_nothing_resembles_lists_the_choices_only():
    with pytest.raises(antigrad.UnknownNameError, match=r"^unknown hyperparameter 'zzz'; "
                                                        r"choose from: differentiable"):
        antigrad.ChainOptimizer(params(), T.chain(T.descend()), zzz=1)


def test_a_custom_transform_declares_what_it_reads():
    reads_k = T.Transform("reads_k", update=lambda u, x, c: u * c["k"],
                          scalars=lambda g, s, fresh: {"k": T.hyper(g, "k")},
                          constraints={"k": POSITIVE})
    with pytest.raises(ValueError, match=r"^Invalid k value: 0 \(must be > 0\)$"):
        antigrad.ChainOptimizer(params(), T.chain(reads_k, T.descend()), lr=0.1, k=0)
    p = params()
    antigrad.ChainOptimizer(p, T.chain(reads_k, T.descend()), lr=0.1, k=2.0)
    undeclared = T.Transform("reads_j", update=lambda u, x, c: u * c["j"],
                             scalars=lambda g, s, fresh: {"j": T.hyper(g, "j")})
    with pytest.raises(antigrad.UnknownNameError, match="unknown hyperparameter 'j'"):
        antigrad.ChainOptimizer(params(), T.chain(undeclared, T.descend()), lr=0.1, j=2.0)


def test_extra_keys_of_a_param_group_are_kept_as_torch_keeps_them():
    """A scheduler's initial_lr, a group's name: not hyperparameters, not refused."""
    o = antigrad.ChainOptimizer([{"params": params(), "name": "head"}], adam_chain(), lr=0.1)
    torch.optim.lr_scheduler.StepLR(o, 2)
    o.load_state_dict(o.state_dict())
    assert o.param_groups[0]["name"] == "head" and "initial_lr" in o.param_groups[0]


# -- when the constraints are checked -------------------------------------------------------

def test_the_chain_constraints_are_checked_in_add_param_group():
    o = antigrad.ChainOptimizer(params(), adam_chain(), lr=0.1)
    with pytest.raises(ValueError, match=r"^Invalid beta parameter at index 1: 1.5 "):
        o.add_param_group({"params": params(), "betas": (0.9, 1.5)})
    with pytest.raises(TypeError, match=r"^Invalid eps value: 'tiny' \(must be a number\)$"):
        o.add_param_group({"params": params(), "eps": "tiny"})
    assert len(o.param_groups) == 1


def test_the_chain_constraints_are_checked_on_load_state_dict():
    o = antigrad.ChainOptimizer(params(), adam_chain(), lr=0.1)
    saved = o.state_dict()
    saved["param_groups"][0]["lr"] = -1.0
    with pytest.raises(ValueError, match=r"^Invalid lr value: -1.0 \(must be >= 0\)$"):
        o.load_state_dict(saved)
    assert o.param_groups[0]["lr"] == 0.1


def test_every_transform_declares_a_constraint_for_each_key_it_reads():
    for t in (T.descend(), T.scale_by_lr(), T.trace(), T.momentum(), T.add_weight_decay(),
              T.decoupled_weight_decay(), T.scale_by_adagrad(), T.scale_by_rms(),
              T.scale_by_adam(), T.scale_by_adam(("b1", "b2")), T.scale_by_nadam(),
              T.scale_by_inverse_time(), T.clip_by_norm(), T.clip_by_global_norm(),
              T.scale_by_trust_ratio(), T.scale_by_lars()):
        group = Recorder()
        if t.scalars is not None:
            t.scalars(group, ScalarState({"step": 1.0, "mu_product": 1.0}), True)
        assert group.read <= set(t.constraints), (t.name, group.read - set(t.constraints))


class Recorder(dict):
    """A param group that records which keys a transform reads."""

    def __init__(self):
        super().__init__()
        self.read = set()

    def __getitem__(self, key):
        self.read.add(key)
        return (0.9, 0.99) if key == "betas" else 0.5


# -- the vocabulary --------------------------------------------------------------------------

@pytest.mark.parametrize("constraint,ok,bad,error,why", [
    (NON_NEGATIVE, 0, -1e-3, ValueError, "must be >= 0"),
    (POSITIVE, 1e-9, 0.0, ValueError, "must be > 0"),
    (UNIT, 0.0, 1.0, ValueError, "must be in [0, 1)"),
    (Interval(0.0, 1.0, "right"), 1.0, 0.0, ValueError, "must be in (0, 1]"),
    (Interval(None, 0.0, "neither"), -1.0, 0.0, ValueError, "must be < 0"),
    (COUNT, 3, 0, ValueError, "must be an integer >= 1"),
    (COUNT, 1, 1.0, TypeError, "must be an integer"),
    (COUNT, 1, True, TypeError, "must be an integer"),
    (NON_NEGATIVE, torch.tensor(0.5), torch.ones(2), ValueError, "Tensor x must be 1-element"),
    (NON_NEGATIVE, 1, "1", TypeError, "must be a number"),
    (OneOf(("a", None)), None, "b", ValueError, "must be one of 'a', None"),
    (Flag(), False, 0, TypeError, "must be True or False"),
    (Pair(), (0.5, 0.5), (0.5, torch.tensor(0.5)), ValueError,
     "x must be either both floats or both Tensors"),
    (OrNone(POSITIVE), None, 0.0, ValueError, "must be > 0"),
])
def test_constraints(constraint, ok, bad, error, why):
    constraint.check("x", ok)
    with pytest.raises(error, match=re.escape(why)) as err:
        constraint.check("x", bad)
    assert str(err.value).startswith("Invalid x")


def test_an_interval_refuses_an_unknown_closure():
    with pytest.raises(ValueError, match="Invalid closed value: 'open'"):
        Interval(0.0, 1.0, "open")


def test_check_all_checks_only_what_is_declared_and_given():
    validation.check_all({"lr": NON_NEGATIVE, "eps": POSITIVE}, {"lr": 0.1, "other": -5})
    with pytest.raises(ValueError, match="Invalid eps value: 0"):
        validation.check_all({"lr": NON_NEGATIVE, "eps": POSITIVE}, {"eps": 0})
