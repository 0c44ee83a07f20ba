"""antigrad.lab.search_space: what ``compare --search`` draws, for which optimizer."""

import pytest

pytest.importorskip("optuna")

import optuna  # noqa: E402

from antigrad import schedules  # noqa: E402
from antigrad.errors import UnknownNameError  # noqa: E402
from antigrad.lab.optimizers import get_optimizer  # noqa: E402
from antigrad.lab.search_space import (  # noqa: E402
    SEARCHABLE,
    check_search,
    configured,
    distributions,
    hyperparameters,
    searched,
    space_text,
    suggest,
)

ALL = list(SEARCHABLE)


@pytest.mark.parametrize("name, expected", [
    ("adamw", ALL),                                    # textbook beta1, weight_decay
    ("adam", ALL),
    ("nadam", ["lr", "beta1", "schedule"]),            # no weight decay argument
    ("momentum", ["lr", "beta1", "schedule"]),         # its gamma is the momentum
    ("rmsprop", ["lr", "schedule"]),                   # its gamma is a second-moment decay
    ("sgd", ["lr", "schedule"]),
    ("torch:Adam", ALL),                               # betas
    ("torch:SGD", ALL),                                # momentum
    ("adamw(weight_decay=0.1)", ["lr", "beta1", "schedule"]),  # fixed by the text
    ("torch:Adam(betas=(0.8, 0.99))@cosine", ["lr", "weight_decay"]),
])
def test_each_optimizer_searches_what_it_has_and_does_not_fix(name, expected):
    assert searched(get_optimizer(name), ALL) == expected
    assert searched(get_optimizer(name), ["lr"]) == ["lr"]


def test_configured_sets_the_drawn_values_under_the_optimizer_s_own_names():
    params = {"use_weight_decay": True, "weight_decay": 1e-3, "one_minus_beta1": 0.2,
              "schedule": "warmup-cosine"}
    spec = configured(get_optimizer("torch:Adam"), params)
    assert spec.kwargs == {"weight_decay": 1e-3, "betas": (0.8, 0.999)}
    assert spec.schedule.cls is schedules.WarmupCosine and spec.name == "torch:Adam"
    momentum = configured(get_optimizer("nesterov"), {"one_minus_beta1": 0.05})
    assert momentum.kwargs == {"gamma": pytest.approx(0.95)} and momentum.schedule is None
    off = configured(get_optimizer("adamw"), {"use_weight_decay": False})
    assert off.kwargs == {"weight_decay": 0.0}
    assert hyperparameters(params) == {"weight_decay": 1e-3, "beta1": 0.8,
                                       "schedule": "warmup-cosine"}
    import torch
    w = torch.nn.Parameter(torch.zeros(2))
    assert spec.build([w], lr=1e-3).param_groups[0]["betas"] == (0.8, 0.999)


def test_suggest_draws_inside_the_declared_distributions():
    spec = get_optimizer("adamw")
    space = distributions(spec, ALL)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(30):
        params = suggest(study.ask(), spec, ALL)
        for key, value in params.items():
            assert space[key]._contains(space[key].to_internal_repr(value))
        assert ("weight_decay" in params) == params["use_weight_decay"]
        seen.add(params["schedule"])
    assert seen == {"constant", "cosine", "warmup-cosine"}
    assert set(suggest(study.ask(), get_optimizer("sgd"), ALL)) == {"lr", "schedule"}


def test_space_text_names_the_ranges_and_what_is_not_searched():
    text = space_text(get_optimizer("sgd"), ALL)
    assert text.startswith("lr log-uniform [0.01, 100]")
    assert "not searched (absent or fixed): weight_decay, beta1" in text
    assert "beta1 = 1 - log-uniform [0.01, 0.5]" in space_text(get_optimizer("adam"), ALL)


@pytest.mark.parametrize("names, error, match", [
    (["lr", "wieght_decay"], UnknownNameError, "did you mean 'weight_decay'"),
    (["lr", "lr"], ValueError, "names repeat"),
    ("lr", TypeError, "must be a list"),
    ([1], TypeError, "must be a name"),
])
def test_bad_search_names_are_refused(names, error, match):
    with pytest.raises(error, match=match):
        check_search(names)


def test_the_lr_is_always_searched_and_comes_first():
    assert check_search(["schedule", "beta1"]) == ["lr", "beta1", "schedule"]
