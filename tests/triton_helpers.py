"""Shared pieces of the Triton backend's tests (small tensors: one chunk each, since the
interpreter runs every program in Python)."""

import os
from contextlib import contextmanager

import torch

import antigrad


@contextmanager
def backend(name):
    """Run a block (an optimizer's step: buckets are built on the first) on ``name``."""
    old = os.environ.get("ANTIGRAD_BACKEND")
    os.environ["ANTIGRAD_BACKEND"] = name
    try:
        yield
    finally:
        if old is None:
            del os.environ["ANTIGRAD_BACKEND"]
        else:
            os.environ["ANTIGRAD_BACKEND"] = old


SHAPES = [(5, 3), (7,), (2, 2, 2)]
EPS = {torch.bfloat16: 2.0 ** -7, torch.float16: 2.0 ** -10}


def make(dtype, seed=0, shapes=SHAPES):
    g = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(s, generator=g, dtype=torch.float64).to(dtype))
            for s in shapes]


def twin(params, dtype=None):
    return [torch.nn.Parameter(p.detach().clone().to(dtype or p.dtype)) for p in params]


def grads(params, step, dtype=None):
    """Gradients that depend on the parameters and a seeded noise (as a training loop)."""
    g = torch.Generator().manual_seed(1000 + step)
    out = []
    for p in params:
        noise = torch.randn(p.shape, generator=g, dtype=torch.float64)
        out.append((torch.tanh(p.detach().double()) + 0.1 * noise).to(dtype or p.dtype))
    return out


def feed(step, *param_lists):
    """Each list's gradients of step ``step`` (a run's parameters and its twin's)."""
    for ps in param_lists:
        for p, g in zip(ps, grads(ps, step), strict=True):
            p.grad = g


def step_together(ours, ref, params, theirs, steps, start=0):
    """Steps ``start`` to ``start + steps - 1`` of both optimizers, each on the same
    gradients of its own parameters."""
    for t in range(start, start + steps):
        feed(t, params, theirs)
        ours.step()
        ref.step()


def capturable_twins(name, options, split=True, torch_foreach=None):
    """``(params, theirs, ours, ref)``: twin float32 parameters, antigrad's optimizer
    ``name`` on the first and torch's on the second, both ``capturable=True`` with
    ``options`` (over :func:`groups` with ``split``)."""
    params = make(torch.float32)
    theirs = twin(params)
    ours = getattr(antigrad, name)(groups(params, split), capturable=True, **options)
    ref = getattr(torch.optim, name)(groups(theirs, split), capturable=True,
                                     foreach=torch_foreach, **options)
    return params, theirs, ours, ref


def groups(params, split=True):
    """Two param groups, the second with its own lr (one bucket, two rows of scalars)."""
    return [{"params": params[:1]}, {"params": params[1:], "lr": 0.003}] if split else params


def rel_error(a, b):
    """max |a - b| / max |b| over all tensors together."""
    diff = max((x.double() - y.double()).abs().max().item() for x, y in zip(a, b, strict=True))
    return diff / max(max(y.double().abs().max().item() for y in b), 1e-30)


def step_all(opt, params, t, name="triton"):
    for p, g in zip(params, grads(params, t), strict=True):
        p.grad = g
    with backend(name):
        opt.step()


def run(factory, params, steps=3, name="triton"):
    """``factory(param_groups)`` stepped ``steps`` times on backend ``name``."""
    opt = factory(groups(params))
    for t in range(steps):
        step_all(opt, params, t, name)
    return opt


def run_rounded(factory, params, dtype, steps=3, state_too=True):
    """The reference for a half-precision run: the same optimizer on float32 copies,
    each stored value rounded to ``dtype`` after every step (parameters, and with
    ``state_too`` the state tensors shaped like them): float32 arithmetic, one rounding per
    stored value."""
    ref = twin(params, torch.float32)
    opt = factory(groups(ref))
    for t in range(steps):
        for p, g in zip(ref, grads(ref, t, dtype), strict=True):
            p.grad = g.float()
        with backend("foreach"):
            opt.step()
        with torch.no_grad():
            for p in ref:
                p.copy_(p.to(dtype).float())
                if state_too:
                    for v in opt.state[p].values():
                        if torch.is_tensor(v) and v.shape == p.shape:
                            v.copy_(v.to(dtype).float())
    return ref, opt


def torch_twin(name, kw):
    return lambda ps: getattr(torch.optim, name)(ps, **kw)


def ours(name, kw, module=antigrad):
    return lambda ps: getattr(module, name)(ps, **kw)


def assert_state_matches(ours, ref, params, theirs, rel=1e-6):
    """Every state tensor of ``ours`` has the dtype and device of torch's (``ref``) and its
    values to ``rel`` of the largest (at least 1e-3)."""
    for p, q in zip(params, theirs, strict=True):
        for key, value in ref.state[q].items():
            mine = ours.state[p][key]
            assert mine.dtype == value.dtype and mine.device == value.device
            assert (mine - value).abs().max() <= rel * max(value.abs().max(), 1e-3), key
