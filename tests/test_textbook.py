"""The textbook face against an independent float64 NumPy transcription of SPEC L3-L14."""

import numpy as np
import pytest
import torch

import textbook_reference as ref
from antigrad import NonFiniteGradientError
from antigrad import textbook as tb

rng = np.random.default_rng(0)
N = 12
M = rng.normal(size=(N, N))
A = M @ M.T / N + 0.5 * np.eye(N)  # symmetric positive definite
C = rng.normal(size=N)
W0 = rng.normal(size=N)


def grad_np(w):
    """Gradient of sum(log cosh(w - c)) + w'Aw/2: smooth, convex, not quadratic."""
    return np.tanh(w - C) + A @ w


def grad_torch(w):
    return torch.tanh(w - torch.from_numpy(C)) + torch.from_numpy(A) @ w


def run(cls, steps=60, closure=False, **kw):
    w = torch.nn.Parameter(torch.from_numpy(W0.copy()))
    opt = cls([w], **kw)
    for _ in range(steps):
        if closure:
            def loss():
                w.grad = grad_torch(w.detach())
                return 0.0
            opt.step(loss)
        else:
            w.grad = grad_torch(w.detach())
            opt.step()
    return w.detach().numpy()


CASES = [
    (tb.SGD, ref.sgd, dict(lr=0.05)),
    (tb.Momentum, ref.momentum, dict(lr=0.02, gamma=0.8)),
    (tb.AdaGrad, ref.adagrad, dict(lr=0.3, s=1e-6)),
    (tb.RMSprop, ref.rmsprop, dict(lr=0.01, gamma=0.9, s=1e-6)),
    (tb.AdamSimple, ref.adam_simple, dict(lr=0.01, beta1=0.8, beta2=0.99, s=1e-8)),
    (tb.Adam, ref.adam, dict(lr=0.01, beta1=0.9, beta2=0.999, s=1e-8)),
    (tb.Adam, ref.adam, dict(lr=0.01, weight_decay=0.1)),
    (tb.Nadam, ref.nadam, dict(lr=0.01, beta1=0.9, beta2=0.99, s=1e-6)),
    (tb.AdamW, ref.adamw, dict(lr=0.01, weight_decay=0.05)),
    (tb.AdamW, ref.adamw, dict(lr=0.01)),
]


@pytest.mark.parametrize("cls,reference,kw", CASES, ids=lambda x: getattr(x, "__name__", ""))
def test_matches_float64_transcription(cls, reference, kw):
    # 30 steps: long enough to exercise every term, short of the chaotic phase near the
    # optimum where RMSprop-like steps amplify rounding differences.
    expected = reference(W0.copy(), grad_np, 30, **kw)
    got = run(cls, steps=30, **kw)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)
    assert not np.allclose(got, W0), "the optimizer did not move"


def test_nesterov_with_closure_takes_gradient_at_lookahead_point():
    expected = ref.nesterov(W0.copy(), grad_np, 60, lr=0.02, gamma=0.9)
    got = run(tb.Nesterov, closure=True, lr=0.02, gamma=0.9)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)
    # Plain momentum from the same start ends elsewhere: the look-ahead matters.
    assert not np.allclose(got, ref.momentum(W0.copy(), grad_np, 60, lr=0.02, gamma=0.9))


def test_nesterov_without_closure_holds_the_lookahead_point():
    """Without a closure the parameters follow phi_t = w_t - gamma v_{t-1}."""
    steps, lr, gamma = 40, 0.02, 0.9
    w, v = W0.copy(), np.zeros(N)
    for _ in range(steps):
        v = gamma * v + lr * grad_np(w - gamma * v)
        w = w - v
    phi = w - gamma * v
    got = run(tb.Nesterov, steps=steps, lr=lr, gamma=gamma)
    np.testing.assert_allclose(got, phi, rtol=1e-12, atol=1e-14)


def test_momentum_velocity_carries_the_learning_rate():
    """L7: after an lr change, old velocity is not rescaled (torch's buffer would be)."""
    lrs = [0.05] * 10 + [0.005] * 10
    expected = ref.momentum(W0.copy(), grad_np, 20, lr=None, gamma=0.9, lrs=lrs)
    w = torch.nn.Parameter(torch.from_numpy(W0.copy()))
    opt = tb.Momentum([w], lr=0.05, gamma=0.9)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.1)
    for _ in range(20):
        w.grad = grad_torch(w.detach())
        opt.step()
        sched.step()
    np.testing.assert_allclose(w.detach().numpy(), expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("cls", [tb.SGD, tb.Momentum, tb.Nesterov, tb.AdaGrad, tb.RMSprop,
                                 tb.AdamSimple, tb.Adam, tb.Nadam, tb.AdamW])
def test_lr_is_required_and_validated(cls):
    w = torch.nn.Parameter(torch.zeros(2))
    with pytest.raises(TypeError):
        cls([w])
    with pytest.raises(ValueError, match="Invalid lr value: -1"):
        cls([w], lr=-1.0)


@pytest.mark.parametrize("cls,arg,value,message", [
    (tb.Momentum, "gamma", 1.0, r"Invalid gamma value: 1.0 \(must be in \[0, 1\)\)"),
    (tb.RMSprop, "s", -1e-3, "Invalid s value: -0.001"),
    (tb.Adam, "beta1", 1.2, r"Invalid beta1 value: 1.2 \(must be in \[0, 1\)\)"),
    (tb.AdamW, "weight_decay", -0.1, "Invalid weight_decay value: -0.1"),
    (tb.Nadam, "beta2", float("nan"), "Invalid beta2 value: nan"),
])
def test_invalid_hyperparameters(cls, arg, value, message):
    with pytest.raises(ValueError, match=message):
        cls([torch.nn.Parameter(torch.zeros(2))], lr=0.1, **{arg: value})


COPIED = [(c, kw) for c, _, kw in CASES[:4]] + [(tb.Nesterov, dict(lr=0.02))]


@pytest.mark.parametrize("cls,kw", COPIED, ids=lambda x: getattr(x, "__name__", ""))
def test_deepcopy_continues_identically(cls, kw):
    import copy

    w = torch.nn.Parameter(torch.from_numpy(W0.copy()))
    opt = cls([w], **kw)
    for _ in range(3):
        w.grad = grad_torch(w.detach())
        opt.step()
    clone = copy.deepcopy(opt)
    (v,) = clone.param_groups[0]["params"]
    for _ in range(3):
        for p, o in ((w, opt), (v, clone)):
            p.grad = grad_torch(p.detach())
            o.step()
    assert v is not w and torch.equal(v, w)


def test_nesterov_refused_closure_step_leaves_parameters_bit_for_bit():
    """A NaN gradient at the look-ahead point is refused: w is exactly what it was (moving
    by -gamma v and back does not round-trip in float32)."""
    gen = torch.Generator().manual_seed(0)
    for _ in range(100):
        w = torch.nn.Parameter(torch.randn(64, generator=gen))
        opt = tb.Nesterov([w], lr=0.1, gamma=0.9)
        w.grad = torch.randn(64, generator=gen)
        opt.step()  # builds a velocity
        before = w.detach().clone()

        def closure(w=w):
            w.grad = torch.full_like(w, float("nan"))
            return 0.0

        with pytest.raises(NonFiniteGradientError):
            opt.step(closure)
        assert torch.equal(w.detach(), before)
