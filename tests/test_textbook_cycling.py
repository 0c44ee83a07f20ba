"""The textbook optimizers under torch's momentum-cycling schedulers (OneCycleLR, CyclicLR
with their default cycle_momentum=True), against the float64 NumPy reference fed the
per-step lr and moment the scheduler set."""

import copy

import numpy as np
import pytest
import torch
from torch.optim.lr_scheduler import CyclicLR, OneCycleLR

import textbook_reference as ref
from antigrad import _aliases
from antigrad import textbook as tb

rng = np.random.default_rng(1)
N = 8
M = rng.normal(size=(N, N))
A = M @ M.T / N + 0.5 * np.eye(N)
C = rng.normal(size=N)
W0 = rng.normal(size=N)
STEPS = 40


def grad_np(w):
    return np.tanh(w - C) + A @ w


def grad_torch(w):
    return torch.tanh(w - torch.from_numpy(C)) + torch.from_numpy(A) @ w


# class, its moment's lecture name, torch's name, the twin torch's scheduler cycles, reference
CLASSES = [
    (tb.Adam, "beta1", "betas", lambda p: torch.optim.Adam(p, lr=0.05), ref.adam),
    (tb.Nadam, "beta1", "betas", lambda p: torch.optim.NAdam(p, lr=0.05), ref.nadam),
    (tb.AdamW, "beta1", "betas", lambda p: torch.optim.AdamW(p, lr=0.05), ref.adamw),
    (tb.AdamSimple, "beta1", "betas", lambda p: torch.optim.Adam(p, lr=0.05), ref.adam_simple),
    (tb.Momentum, "gamma", "momentum", lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9),
     ref.momentum),
    (tb.Nesterov, "gamma", "momentum", lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9),
     ref.nesterov),
    (tb.RMSprop, "gamma", "momentum", lambda p: torch.optim.RMSprop(p, lr=0.05, momentum=0.9),
     ref.rmsprop),
]
SCHEDULERS = {
    "OneCycleLR": lambda opt: OneCycleLR(opt, max_lr=0.05, total_steps=STEPS),
    "CyclicLR": lambda opt: CyclicLR(opt, base_lr=0.005, max_lr=0.05, step_size_up=7),
}
IDS = [c[0].__name__ for c in CLASSES]


def torch_moment(opt):
    group = opt.param_groups[0]
    return group["betas"][0] if "betas" in opt.defaults else group["momentum"]


def scheduled_run(cls, make_scheduler):
    """Train under the scheduler; the lr and lecture-named moment in force at each step."""
    w = torch.nn.Parameter(torch.from_numpy(W0.copy()))
    opt = cls([w], lr=0.05)
    sched = make_scheduler(opt)
    name = "beta1" if "beta1" in opt.defaults else "gamma"
    lrs, moments = [], []
    for _ in range(STEPS):
        lrs.append(opt.param_groups[0]["lr"])
        moments.append(opt.param_groups[0][name])

        def closure():
            w.grad = grad_torch(w.detach())
            return 0.0
        opt.step(closure)
        sched.step()
    return w.detach().numpy(), lrs, moments


@pytest.mark.parametrize("scheduler", sorted(SCHEDULERS))
@pytest.mark.parametrize("cls,name,alias,twin,reference", CLASSES, ids=IDS)
def test_the_cycled_moment_is_the_one_the_update_uses(cls, name, alias, twin, reference,
                                                      scheduler):
    w, lrs, moments = scheduled_run(cls, SCHEDULERS[scheduler])
    # the scheduler cycles the lecture's moment exactly as it cycles torch's twin's
    p = torch.nn.Parameter(torch.zeros(N, dtype=torch.float64))
    t_opt = twin([p])
    t_sched = SCHEDULERS[scheduler](t_opt)
    expected = []
    for _ in range(STEPS):
        expected.append(torch_moment(t_opt))
        p.grad = torch.ones_like(p)
        t_opt.step()
        t_sched.step()
    assert moments == pytest.approx(expected, abs=1e-15)
    assert max(moments) - min(moments) > 0.05            # it does move
    # ... and the update uses it, step by step (the NumPy reference fed the same values)
    np.testing.assert_allclose(w, reference(W0.copy(), grad_np, STEPS, lrs, **{name: moments}),
                               rtol=1e-9, atol=1e-12)
    fixed = reference(W0.copy(), grad_np, STEPS, lrs, **{name: moments[0]})
    assert np.abs(w - fixed).max() > 1e-6                # a fixed moment would differ


@pytest.mark.parametrize("cls,name,alias,twin,reference", CLASSES, ids=IDS)
def test_torch_names_are_views_of_the_lecture_names(cls, name, alias, twin, reference):
    w = torch.nn.Parameter(torch.zeros(2))
    opt = cls([w], lr=0.1)
    group = opt.param_groups[0]
    assert alias in opt.defaults and alias in group
    value = (0.7, group["beta2"]) if alias == "betas" else 0.7
    group[alias] = value
    assert group[name] == 0.7 and group[alias] == value
    group[name] = 0.6                                    # the lecture's name still works
    assert group[alias] == ((0.6, group["beta2"]) if alias == "betas" else 0.6)
    # the state dict keeps the lecture's names only: checkpoints are unchanged
    saved = opt.state_dict()["param_groups"][0]
    assert name in saved and alias not in saved
    # and a loaded state dict, or a copy, still answers to torch's name
    other = cls([torch.nn.Parameter(torch.zeros(2))], lr=0.1)
    other.load_state_dict(opt.state_dict())
    assert other.param_groups[0][name] == 0.6 and alias in other.param_groups[0]
    assert alias in copy.deepcopy(opt).param_groups[0]
    with pytest.raises(ValueError, match=f"Invalid {name} value: 1.5"):
        group[alias] = (1.5, 0.999) if alias == "betas" else 1.5


def test_a_param_group_may_use_torch_names():
    a, b = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2))
    opt = tb.Adam([{"params": [a]}, {"params": [b], "betas": (0.5, 0.99)}], lr=0.1)
    assert (opt.param_groups[1]["beta1"], opt.param_groups[1]["beta2"]) == (0.5, 0.99)
    assert opt.param_groups[0]["betas"] == (0.9, 0.999)
    mom = tb.Momentum([torch.nn.Parameter(torch.zeros(2))], lr=0.1)
    mom.add_param_group({"params": [torch.nn.Parameter(torch.zeros(2))], "momentum": 0.5})
    assert mom.param_groups[1]["gamma"] == 0.5


def test_optimizers_without_a_moment_are_still_refused():
    opt = tb.SGD([torch.nn.Parameter(torch.zeros(2))], lr=0.1)
    with pytest.raises(ValueError, match="momentum or beta1"):
        OneCycleLR(opt, max_lr=0.1, total_steps=10)


def test_aliased_group_rejects_a_wrong_shape():
    g = _aliases.Betas({"beta1": 0.9, "beta2": 0.999})
    with pytest.raises(ValueError, match="Invalid betas"):
        g["betas"] = (0.9,)
    assert g.get("betas") == (0.9, 0.999) and g.get("missing", 3) == 3
