"""antigrad.explain: an optimizer's formulas and the C compiled from them."""

import pytest
import torch

import antigrad
from antigrad import textbook
from antigrad import transforms as T


def test_explain_an_optimizer_by_param_group():
    model = torch.nn.Linear(3, 2)
    opt = antigrad.Adam([{"params": [model.weight]},
                         {"params": [model.bias], "amsgrad": True}], lr=1e-3)
    text = antigrad.explain(opt)
    assert text.startswith("param group 0: chain(scale_by_adam, descend)")
    assert "\n\nparam group 1: chain(scale_by_adam, descend)" in text
    assert "max_exp_avg_sq <- " in text  # group 1 keeps the running maximum
    assert text.count("generated C (antigrad.engine.csource):") == 2
    assert "ag_step_f32" in text and "ag_step_f64" in text


def test_groups_with_one_chain_are_explained_once():
    model = torch.nn.Linear(3, 2)
    opt = antigrad.AdamW([{"params": [model.weight]},
                          {"params": [model.bias], "weight_decay": 0.0}])
    text = antigrad.explain(opt, source=False)
    assert text.startswith("param groups 0, 1: chain(decoupled_weight_decay, scale_by_adam,")
    assert "generated C" not in text


def test_explain_a_chain_and_a_textbook_optimizer():
    chain = T.chain(T.scale_by_rms(), T.descend())
    assert antigrad.explain(chain, source=False) == chain.explain()
    opt = textbook.Momentum([torch.nn.Parameter(torch.ones(2))], lr=0.1)
    assert "velocity <- " in antigrad.explain(opt, source=False)


def test_explain_refuses_what_it_cannot_explain():
    with pytest.raises(TypeError, match="explain\\(\\) takes an antigrad optimizer or a "
                                        "chain, not Adam"):
        antigrad.explain(torch.optim.Adam([torch.nn.Parameter(torch.ones(1))]))
