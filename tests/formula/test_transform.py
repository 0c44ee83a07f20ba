"""Transforms and chains are values: equal arguments, equal objects, one plan."""

import dataclasses

import pytest
import torch

import antigrad
from antigrad import formula
from antigrad import transforms as T
from antigrad.formula import transform as transform_module
from formula.user_transform import ScaleBy


def adam_chain(**options):
    return T.chain(T.decoupled_weight_decay(), T.scale_by_adam(**options), T.descend())


def test_equal_arguments_give_equal_transforms_and_chains():
    assert T.scale_by_adam(eps=0.0) == T.scale_by_adam(eps=0.0)
    assert hash(T.scale_by_adam(eps=0.0)) == hash(T.scale_by_adam(eps=0.0))
    assert T.scale_by_adam(eps=0.0) != T.scale_by_adam(eps=1e-8)
    assert T.trace(nesterov=True) != T.trace()
    assert adam_chain(amsgrad=True) == adam_chain(amsgrad=True)
    assert adam_chain(amsgrad=True) != adam_chain()
    # Built apart from chain(): still equal, and usable as the same dictionary key.
    assert formula.Chain([T.descend()]) == formula.Chain([T.descend()])
    assert len({formula.Chain([T.descend()]), formula.Chain([T.descend()])}) == 1


def test_chain_hands_back_the_chain_built_before():
    first = adam_chain()
    again = adam_chain()
    assert again is first
    assert again.graph is first.graph  # traced once


def test_fields_are_the_arguments():
    t = T.scale_by_rms(decay="gamma", centered=True)
    assert dataclasses.asdict(t) == {"decay": "gamma", "eps": "eps", "eps_root": 0.0,
                                     "centered": True}
    assert list(t.state) == ["square_avg", "grad_avg"]
    assert T.trace("gamma", state="velocity").state.keys() == {"velocity"}


def test_a_list_argument_is_a_tuple():
    t = T.scale_by_adam(betas=["beta1", "beta2"])
    assert t.betas == ("beta1", "beta2")
    assert t == T.scale_by_adam(betas=("beta1", "beta2"))
    assert T.chain(t, T.descend()) is T.chain(T.scale_by_adam(betas=("beta1", "beta2")),
                                              T.descend())
    with pytest.raises(ValueError, match="Invalid betas"):
        T.scale_by_adam(betas=["beta1"])


def test_transforms_cannot_change():
    with pytest.raises(dataclasses.FrozenInstanceError):
        T.descend().lr = 0.5
    written = formula.Transform("w", update=lambda u, x, c: u)
    with pytest.raises(AttributeError, match="a transform is a value"):
        written.name = "v"


def test_transforms_written_from_functions_compare_by_their_functions():
    def update(u, x, c):
        return u * c["k"]

    def scalars(g, s, fresh):
        return {"k": 2.0}

    a = formula.Transform("double", update=update, scalars=scalars)
    b = formula.Transform("double", update=update, scalars=scalars)
    assert a == b and hash(a) == hash(b)
    assert a != formula.Transform("double", update=lambda u, x, c: u, scalars=scalars)
    assert a.scalars({}, formula.ScalarState({}), False) == {"k": 2.0}
    assert formula.Transform("plain", update=update).scalars({}, None, False) == {}


def test_the_kept_chains_are_bounded():
    for i in range(transform_module.RECENT_CHAINS_KEPT + 20):
        T.chain(T.descend(float(i + 1)))
    assert len(transform_module._RECENT_CHAINS) <= transform_module.RECENT_CHAINS_KEPT


class Rebuilding(antigrad.ChainOptimizer):
    """An optimizer whose build() makes a new chain every step, with no cache of its own."""

    def build(self, group):
        return T.chain(ScaleBy(), T.scale_by_adam(betas=[0.9, 0.99]),
                       T.descend())


def _train(opt, params, steps):
    g = torch.Generator().manual_seed(0)
    for _ in range(steps):
        for p in params:
            p.grad = torch.randn(p.shape, generator=g)
        opt.step()


def test_a_chain_built_every_step_grows_nothing_and_gives_the_same_numbers():
    def params():
        return [torch.nn.Parameter(torch.ones(5, 3)), torch.nn.Parameter(torch.zeros(4))]

    hyper = {"lr": 0.01, "eps": 1e-8, "factor": 0.5}
    prebuilt = Rebuilding(params(), None, **hyper).build({})
    ours, theirs = params(), params()
    fixed = antigrad.ChainOptimizer(theirs, prebuilt, **hyper)
    rebuilt = Rebuilding(ours, None, **hyper)
    _train(fixed, theirs, 3)
    _train(rebuilt, ours, 3)
    kept, buckets = len(transform_module._RECENT_CHAINS), rebuilt.planner.buckets
    _train(fixed, theirs, 20)
    _train(rebuilt, ours, 20)
    assert len(transform_module._RECENT_CHAINS) == kept
    assert rebuilt.planner.planned == 1
    assert rebuilt.planner.buckets is buckets  # never planned again
    for a, b in zip(ours, theirs, strict=True):
        assert torch.equal(a, b)
        assert torch.equal(rebuilt.state[a]["exp_avg_sq"], fixed.state[b]["exp_avg_sq"])


def test_a_users_key_fields_are_known_hyperparameters_and_typos_are_refused():
    chain = T.chain(ScaleBy(), T.descend())
    assert {"factor", "lr"} <= chain.hyperparameters
    param = [torch.nn.Parameter(torch.ones(3))]
    antigrad.ChainOptimizer(param, chain, lr=0.1, factor=0.5)
    with pytest.raises(antigrad.errors.UnknownNameError, match="'factr'.*'factor'"):
        antigrad.ChainOptimizer(param, chain, lr=0.1, factr=0.5)


def test_a_chain_names_its_scalars_once_and_survives_pickling():
    """The scalars' names ("1.lr") are made on the first step and kept; a chain pickled
    without them (by an older version) names them again."""
    import pickle

    from antigrad.formula.transform import Chain, ScalarState

    c = T.chain(T.scale_by_adam(), T.descend())
    group = {"lr": 0.1, "betas": (0.9, 0.999), "eps": 1e-8}
    first = c.scalars(group, ScalarState({"step": 0.0}), True)
    assert c.scalars(group, ScalarState({"step": 0.0}), True) == first
    assert set(first) == {"0.b1", "0.b2", "0.bc1", "0.bc2", "0.bc2_sqrt", "0.eps",
                          "0.eps_root", "1.lr"}
    old = Chain.__new__(Chain)
    old.__setstate__({k: v for k, v in pickle.loads(pickle.dumps(c)).__dict__.items()
                      if k != "_scalar_names"})
    assert old.scalars(group, ScalarState({"step": 0.0}), True) == first
