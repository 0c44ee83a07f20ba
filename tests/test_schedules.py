"""Learning-rate schedules: closed forms, chaining, Robbins–Monro verdicts (SPEC L6)."""

import math

import numpy as np
import pytest
import torch

import antigrad
from antigrad import schedules as S


def make_opt(lr=0.5, kind=torch.optim.SGD):
    return kind([torch.nn.Parameter(torch.zeros(2))], lr=lr)


def run_lrs(sched, n):
    """The lr in effect at steps 0..n-1 when stepping the scheduler after each step."""
    out = []
    for _ in range(n):
        out.append(sched.optimizer.param_groups[0]["lr"])
        sched.optimizer.step()
        sched.step()
    return out


FORMULAS = [
    (lambda o: S.Constant(o), lambda t: 1.0),
    (lambda o: S.Step(o, step_size=3, gamma=0.5), lambda t: 0.5 ** (t // 3)),
    (lambda o: S.Exponential(o, gamma=0.9), lambda t: 0.9 ** t),
    (lambda o: S.InverseTime(o, tau=4.0, p=0.75), lambda t: (1 + t / 4) ** -0.75),
    (lambda o: S.Cosine(o, total_steps=10, min_factor=0.1),
     lambda t: 0.1 + 0.9 * (1 + math.cos(math.pi * min(t, 10) / 10)) / 2),
    (lambda o: S.LinearWarmup(o, warmup_steps=5, start_factor=0.2),
     lambda t: 0.2 + 0.8 * min(t / 5, 1)),
]


@pytest.mark.parametrize("opt_kind", [torch.optim.SGD, antigrad.SGD])
@pytest.mark.parametrize("make,formula", FORMULAS)
def test_stepping_follows_the_closed_form(make, formula, opt_kind):
    sched = make(make_opt(0.5, opt_kind))
    lrs = run_lrs(sched, 25)
    np.testing.assert_allclose(lrs, [0.5 * formula(t) for t in range(25)], rtol=1e-12)
    assert sched.lr_at(17) == pytest.approx([0.5 * formula(17)], rel=1e-12)


@pytest.mark.parametrize("make,formula", FORMULAS)
def test_state_dict_resumes_and_epoch_jumps(make, formula):
    a = make(make_opt())
    run_lrs(a, 7)
    b = make(make_opt())
    b.load_state_dict(a.state_dict())
    assert run_lrs(a, 5) == run_lrs(b, 5)
    c = make(make_opt())
    with pytest.warns(UserWarning):
        c.step(13)  # deprecated epoch argument: uses _get_closed_form_lr
    assert c.optimizer.param_groups[0]["lr"] == pytest.approx(0.5 * formula(13))


def test_step_and_exponential_match_torch():
    ours, theirs = S.Step(make_opt(), 4, 0.3), torch.optim.lr_scheduler.StepLR(make_opt(), 4, 0.3)
    np.testing.assert_allclose(run_lrs(ours, 20), run_lrs(theirs, 20), rtol=1e-12)
    ours, theirs = S.Exponential(make_opt(), 0.8), torch.optim.lr_scheduler.ExponentialLR(
        make_opt(), 0.8)
    np.testing.assert_allclose(run_lrs(ours, 20), run_lrs(theirs, 20), rtol=1e-12)


def test_sequential_switches_at_milestones_with_a_fresh_clock():
    o = make_opt(1.0)
    s = S.Sequential(o, [S.LinearWarmup(o, 4, start_factor=0.0), S.InverseTime(o, tau=2)], [4])
    lrs = run_lrs(s, 8)
    np.testing.assert_allclose(lrs, [0, 0.25, 0.5, 0.75, 1.0, 2 / 3, 0.5, 0.4], rtol=1e-12)
    assert "milestones=[4]" in repr(s)


def test_product_multiplies_factors_and_state_round_trips():
    o = make_opt(1.0)
    s = S.Product(o, [S.LinearWarmup(o, 2, start_factor=0.5), S.Exponential(o, 0.5)])
    np.testing.assert_allclose(run_lrs(s, 4), [0.5, 0.75 * 0.5, 0.25, 0.125], rtol=1e-12)
    o2 = make_opt(1.0)
    s2 = S.Product(o2, [S.LinearWarmup(o2, 2, start_factor=0.5), S.Exponential(o2, 0.5)])
    s2.load_state_dict(s.state_dict())
    assert s2.last_epoch == s.last_epoch and run_lrs(s2, 3) == run_lrs(s, 3)


def test_param_groups_keep_their_own_base_lr():
    o = torch.optim.SGD([{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 1.0},
                         {"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 0.1}])
    s = S.InverseTime(o, tau=1, p=1)
    o.step()
    s.step()
    assert [g["lr"] for g in o.param_groups] == pytest.approx([0.5, 0.05])


ANALYTIC = [
    (lambda o: S.Constant(o), False, "Σε² = ∞"),
    (lambda o: S.Step(o, 10, 0.5), False, "Σε < ∞"),
    (lambda o: S.Step(o, 10, 1.0), False, "Σε² = ∞"),
    (lambda o: S.Exponential(o, 0.99), False, "Σε < ∞"),
    (lambda o: S.InverseTime(o, 10, p=0.4), False, "Σε² = ∞"),
    (lambda o: S.InverseTime(o, 10, p=0.5), False, "Σε² = ∞"),
    (lambda o: S.InverseTime(o, 10, p=0.51), True, "1/2 < p <= 1"),
    (lambda o: S.InverseTime(o, 10, p=0.75), True, "1/2 < p <= 1"),
    (lambda o: S.InverseTime(o, 10, p=1.0), True, "1/2 < p <= 1"),
    (lambda o: S.InverseTime(o, 10, p=1.2), False, "Σε < ∞"),
    (lambda o: S.Cosine(o, 100), False, "eventually 0"),
    (lambda o: S.Cosine(o, 100, min_factor=0.01), False, "Σε² = ∞"),
    (lambda o: S.LinearWarmup(o, 100), False, "Σε² = ∞"),
    (lambda o: S.Sequential(o, [S.LinearWarmup(o, 5), S.InverseTime(o, 1, 1.0)], [5]), True,
     "1/2 < p <= 1"),
    (lambda o: S.Sequential(o, [S.InverseTime(o, 1, 1.0), S.Constant(o)], [5]), False,
     "Σε² = ∞"),
    (lambda o: S.Product(o, [S.InverseTime(o, 1, 0.3), S.InverseTime(o, 5, 0.4)]), True,
     "t^-0.7"),
    (lambda o: S.Product(o, [S.LinearWarmup(o, 5), S.InverseTime(o, 1, 0.5)]), False,
     "p <= 1/2"),
    (lambda o: S.Product(o, [S.InverseTime(o, 1, 1.0), S.Exponential(o, 0.9)]), False,
     "geometric"),
]


@pytest.mark.parametrize("make,satisfied,why", ANALYTIC)
def test_analytic_verdicts(make, satisfied, why):
    verdict = make(make_opt()).robbins_monro
    assert verdict.satisfied is satisfied and why in verdict.reason
    assert S.robbins_monro(make(make_opt())) == verdict


def test_zero_base_lr_never_satisfies():
    assert S.InverseTime(make_opt(0.0), 1, 1.0).robbins_monro.satisfied is False


NUMERIC = [
    (lambda t: 0.1 / t, True),
    (lambda t: 0.1 / t ** 0.75, True),
    (lambda t: 0.1 / np.sqrt(t), False),       # Σε² is the harmonic series
    (lambda t: 0.1 / t ** 1.5, False),
    (lambda t: 0.1 + 0 * t, False),
    (lambda t: 0.1 * 0.999 ** t, False),
    (lambda t: np.maximum(0.0, 1 - t / 5000), False),   # linear decay to 0
    (lambda t: 0.1 * (1 + np.cos(t / 7)) / t ** 0.8, True),  # oscillating, ~t^-0.8
    (lambda t: 0.1 / t ** 0.51, None),         # too close to the boundary to tell
    (lambda t: 1 / (t * np.log(t + 2)), None),  # diverges, like log log t: undecidable
    (lambda t: 1 / (1 + t / 1e6), None),       # still flat at the horizon
]


@pytest.mark.parametrize("fn,satisfied", NUMERIC)
def test_numerical_verdicts_for_user_schedules(fn, satisfied):
    verdict = S.robbins_monro(fn, horizon=100_000)
    assert verdict.satisfied is satisfied, verdict.reason
    if satisfied is None:
        assert "inconclusive" in verdict.reason


def test_numerical_verdict_agrees_with_analytic_one_for_inverse_time():
    for p in (0.3, 0.75, 1.0, 1.5):
        sched = S.InverseTime(make_opt(), tau=1.0, p=p)
        numeric = S.robbins_monro(lambda t, s=sched: s.lr_at(int(t) - 1)[0], horizon=20_000)
        assert numeric.satisfied is sched.robbins_monro.satisfied, (p, numeric.reason)


def test_numerical_verdict_for_torch_schedulers():
    assert S.robbins_monro(torch.optim.lr_scheduler.StepLR(make_opt(), 10),
                           horizon=10_000).satisfied is False
    lam = torch.optim.lr_scheduler.LambdaLR(make_opt(), lambda t: 1 / (t + 1) ** 0.8)
    assert S.robbins_monro(lam, horizon=10_000).satisfied is True
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(make_opt())
    assert S.robbins_monro(plateau).satisfied is None


def test_bad_arguments_name_the_argument_and_value():
    o = make_opt()
    cases = [
        (lambda: S.InverseTime(o, tau=0), ValueError, "Invalid tau value: 0 (must be > 0)"),
        (lambda: S.InverseTime(o, p=-1), ValueError, "Invalid p value: -1 (must be >= 0)"),
        (lambda: S.Step(o, step_size=0), ValueError,
         "Invalid step_size value: 0 (must be an integer >= 1)"),
        (lambda: S.Step(o, step_size=2.5), TypeError,
         "Invalid step_size value: 2.5 (must be an integer)"),
        (lambda: S.Exponential(o, gamma=1.5), ValueError,
         "Invalid gamma value: 1.5 (must be in (0, 1])"),
        (lambda: S.Cosine(o, total_steps=10, min_factor=2), ValueError,
         "Invalid min_factor value: 2 (must be in [0, 1])"),
        (lambda: S.LinearWarmup(o, warmup_steps=0), ValueError, "Invalid warmup_steps value: 0"),
        (lambda: S.Sequential(o, [S.Constant(o), S.Constant(o)], []), ValueError,
         "Invalid milestones: []"),
        (lambda: S.Sequential(o, [S.Constant(o)] * 3, [5, 5]), ValueError, "must increase"),
        (lambda: S.Product(o, [S.Constant(make_opt())]), ValueError, "another optimizer"),
        (lambda: S.Product(o, [torch.optim.lr_scheduler.StepLR(o, 2)]), TypeError,
         "Invalid schedules[0]"),
        (lambda: S.robbins_monro(lambda t: 1 / t, horizon=10), ValueError,
         "Invalid horizon value: 10 (must be an integer >= 1000)"),
        (lambda: S.robbins_monro(lambda t: -1 + 0 * t), ValueError, "lr at t=1 is -1.0"),
        (lambda: S.robbins_monro(3), TypeError, "Invalid schedule: 3"),
    ]
    for make, error, text in cases:
        with pytest.raises(error, match=__import__("re").escape(text)):
            make()


def test_warmup_cosine_is_a_warmup_times_a_cosine():
    o = make_opt(1.0)
    s = S.WarmupCosine(o, total_steps=20, warmup_fraction=0.2, start_factor=0.0)
    o2 = make_opt(1.0)
    expected = S.Product(o2, [S.LinearWarmup(o2, 4, 0.0), S.Cosine(o2, 20)])
    np.testing.assert_allclose(run_lrs(s, 20), run_lrs(expected, 20), rtol=1e-12)
    assert s.lr_at(20) == [0.0] and "warmup_fraction=0.2" in repr(s)
    with pytest.raises(ValueError, match="warmup_fraction"):
        S.WarmupCosine(make_opt(), total_steps=10, warmup_fraction=1.5)
