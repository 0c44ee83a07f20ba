"""Each transform on its own, against the formula in its docstring (float64, by hand)."""

import math

import pytest
import torch

import antigrad
from antigrad import transforms as T


def one_step(chain, w, g, steps=1, **hyper):
    p = torch.nn.Parameter(torch.tensor(w, dtype=torch.float64))
    opt = antigrad.ChainOptimizer([p], chain, **hyper)
    for _ in range(steps):
        p.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
    return p.detach().tolist(), opt.state[p]


def test_descend_and_scale_by_lr():
    assert one_step(T.chain(T.descend()), [1.0], [2.0], lr=0.1)[0] == [0.8]
    assert one_step(T.chain(T.scale_by_lr(), T.apply_update()), [1.0], [2.0], lr=0.1)[0] == [0.8]
    assert one_step(T.chain(T.descend(0.5)), [1.0], [2.0])[0] == [0.0]  # a fixed lr


def test_flip_climbs():
    assert one_step(T.chain(T.flip(), T.descend()), [1.0], [2.0], lr=0.1)[0] == [1.2]


def test_weight_decay_coupled_and_decoupled():
    w, _ = one_step(T.chain(T.add_weight_decay(factor=2.0), T.descend()), [1.0], [0.0],
                    lr=0.1, weight_decay=0.5)
    assert w == pytest.approx([1.0 - 0.1 * 2 * 0.5])
    w, _ = one_step(T.chain(T.decoupled_weight_decay(), T.descend()), [2.0], [1.0],
                    lr=0.1, weight_decay=0.5)
    assert w == pytest.approx([2.0 * (1 - 0.05) - 0.1])


def test_trace_plain_and_nesterov():
    _, state = one_step(T.chain(T.trace(), T.descend()), [0.0], [1.0], steps=3,
                        lr=1.0, momentum=0.5)
    assert state["momentum_buffer"].item() == pytest.approx(1 + 0.5 + 0.25)
    w, _ = one_step(T.chain(T.trace(nesterov=True), T.descend()), [0.0], [1.0], steps=2,
                    lr=1.0, momentum=0.5)
    # step 1: v=1, u=1+0.5; step 2: v=1.5, u=1+0.75
    assert w == pytest.approx([-(1.5 + 1.75)])


def test_torch_momentum_starts_from_the_first_gradient():
    _, state = one_step(T.chain(T.momentum(), T.descend()), [0.0], [2.0], steps=1,
                        lr=1.0, momentum=0.9, dampening=0.5)
    assert state["momentum_buffer"].item() == 2.0  # no dampening on the first step
    _, state = one_step(T.chain(T.momentum(), T.descend()), [0.0], [2.0], steps=2,
                        lr=1.0, momentum=0.9, dampening=0.5)
    assert state["momentum_buffer"].item() == pytest.approx(0.9 * 2 + 0.5 * 2)


def test_adagrad_with_inverse_time_decay():
    w, state = one_step(T.chain(T.scale_by_adagrad(eps=0.0), T.scale_by_inverse_time(),
                                T.descend()), [0.0], [2.0], steps=2, lr=1.0, lr_decay=1.0,
                        initial_accumulator_value=1.0)
    # G: 1+4=5, then 9; steps: 2/sqrt(5) at t=1, 2/sqrt(9)/2 at t=2
    assert state["sum"].item() == 9.0 and state["step"].item() == 2
    assert w == pytest.approx([-(2 / math.sqrt(5) + 2 / 3 / 2)])


def test_rms_centered_and_eps_inside_the_root():
    w, state = one_step(T.chain(T.scale_by_rms(decay=0.5, eps=0.0, eps_root=0.25,
                                               centered=True), T.descend()),
                        [0.0], [2.0], lr=1.0)
    G, a = 0.5 * 4, 0.5 * 2  # square_avg, grad_avg
    assert state["square_avg"].item() == G and state["grad_avg"].item() == a
    assert w == pytest.approx([-2 / math.sqrt(G - a * a + 0.25)])


def test_adam_amsgrad_keeps_the_maximum():
    _, state = one_step(T.chain(T.scale_by_adam(amsgrad=True), T.descend()), [0.0], [1.0],
                        steps=1, lr=0.1)
    first = state["max_exp_avg_sq"].item()
    p = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    opt = antigrad.ChainOptimizer([p], T.chain(T.scale_by_adam(amsgrad=True), T.descend()))
    for g in (1.0, 0.0, 0.0):
        p.grad = torch.tensor([g], dtype=torch.float64)
        opt.step()
    assert opt.state[p]["max_exp_avg_sq"].item() == pytest.approx(first)
    assert opt.state[p]["exp_avg_sq"].item() < first


def test_nadam_dozat_coefficients():
    w, _ = one_step(T.chain(T.scale_by_nadam((0.5, 0.5), eps=0.0, momentum_decay=None),
                            T.descend()), [0.0], [1.0], lr=1.0)
    m, v = 0.5, 0.5  # (1 - b1) g, (1 - b2) g^2
    m_bar = 0.5 * m / (1 - 0.25) + 0.5 * 1.0 / (1 - 0.5)
    assert w == pytest.approx([-m_bar / math.sqrt(v / 0.5)])


def test_bad_betas_spec():
    with pytest.raises(ValueError, match="Invalid betas"):
        T.scale_by_adam(betas=("betas", 0))
