"""The aliased param groups: torch's name as a view of the lecture's stored keys."""

import copy
import pickle

import pytest

from antigrad._aliases import Betas, Momentum


def test_the_alias_reads_and_writes_the_stored_keys():
    g = Betas({"lr": 0.1, "beta1": 0.9, "beta2": 0.999})
    assert g["betas"] == (0.9, 0.999) and "betas" in g and g.get("betas") == (0.9, 0.999)
    g["betas"] = (0.8, 0.99)
    assert (g["beta1"], g["beta2"]) == (0.8, 0.99)
    m = Momentum(lr=0.1, gamma=0.5)
    assert m["momentum"] == 0.5 and m.get("nesterov", "absent") == "absent"
    stored_none = Momentum(lr=0.1, foreach=None)
    assert stored_none.get("foreach", "absent") is None  # stored as None: not the default
    assert Momentum(lr=0.1).get("momentum", "absent") == "absent"  # no gamma: no view


def test_the_alias_is_never_stored_whichever_way_it_is_written():
    # dict's constructor and update() bypass __setitem__: they must not store "betas"
    made = Betas({"lr": 0.1, "betas": (0.5, 0.6)})
    updated = Betas(lr=0.1, beta1=0.9, beta2=0.999)
    updated.update(betas=(0.7, 0.8))
    merged = Betas(lr=0.1, beta1=0.9, beta2=0.999)
    merged |= {"betas": (0.3, 0.4)}
    wrapped = Betas.wrap({"lr": 0.1, "betas": (0.2, 0.25)})
    for g, want in ((made, (0.5, 0.6)), (updated, (0.7, 0.8)), (merged, (0.3, 0.4)),
                    (wrapped, (0.2, 0.25))):
        assert type(g) is Betas
        assert sorted(g) == ["beta1", "beta2", "lr"]
        assert g["betas"] == want and (g["beta1"], g["beta2"]) == want
    with pytest.raises(ValueError, match="beta1"):
        updated.update(betas=(1.5, 0.8))


def test_a_missing_key_raises_key_error_and_the_alias_needs_its_stored_keys():
    g = Betas(lr=0.1)
    with pytest.raises(KeyError, match="'eps'"):
        g["eps"]
    with pytest.raises(KeyError):
        g["betas"]  # beta1, beta2 missing: no view
    assert "betas" not in g


def test_stored_keys_are_read_by_dicts_own_lookup():
    # the engine reads a group's hyperparameters every step: no Python call per read
    assert Betas.__getitem__ is dict.__getitem__
    assert Momentum.__getitem__ is dict.__getitem__


def test_copies_keep_the_type_and_the_values():
    g = Betas(lr=0.1, beta1=0.9, beta2=0.999)
    for other in (copy.deepcopy(g), pickle.loads(pickle.dumps(g))):
        assert type(other) is Betas and other == g and other["betas"] == (0.9, 0.999)
