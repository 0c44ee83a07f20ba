"""The bound native kernel never reads a tensor unlike the one it was bound to.

A bucket binds its kernel once (addresses, sizes); between steps a user may give a
gradient of another dtype (``p.grad_dtype``, ``p.grad.data = ...``), shape, strides or
storage, or move a parameter or a state tensor. Each step must then give torch.optim's
numbers (or torch's exception), never a read of the wrong memory.
"""

import random

import pytest
import torch

import antigrad

OPTIMIZERS = [("SGD", dict(lr=0.05)), ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
              ("Adagrad", dict(lr=0.1)), ("RMSprop", dict(lr=0.01, centered=True)),
              ("Adam", dict(lr=0.01)), ("AdamW", dict(lr=0.01, amsgrad=True)),
              ("NAdam", dict(lr=0.01))]
SHAPES = [(6, 6), (40,), (3, 4, 5)]
DTYPES = [torch.float64, torch.float16, torch.bfloat16]


def _grad_as_dtype(p, g, rng):
    dtype = rng.choice(DTYPES)
    p.grad_dtype = dtype  # torch then accepts `p.grad = g.to(dtype)`
    p.grad = g.to(dtype)


def _data_as_dtype(p, g, rng):
    p.grad = g.clone()
    p.grad.data = g.to(rng.choice(DTYPES))


def _strided(p, g, rng):
    # Same values, every other element of a larger storage: not dense.
    wide = torch.stack([g, torch.full_like(g, float("nan"))], dim=-1)
    p.grad = wide[..., 0]


def _transposed(p, g, rng):
    # Same values, other strides (dense, but laid out unlike the parameter).
    p.grad = g.transpose(0, -1).contiguous().transpose(0, -1) if g.dim() > 1 else g.clone()


def _shared_storage(p, g, rng):
    # A view at an offset into a storage that other tensors use too.
    big = torch.empty(g.numel() + 17)
    big[5:5 + g.numel()] = g.reshape(-1)
    p.grad = big[5:5 + g.numel()].view(g.shape)


def _reshaped(p, g, rng):
    p.grad = g.clone()
    p.grad.data = g.reshape(-1)  # torch refuses to update with it


def _param_strides(p, g, rng):
    # Same values, the parameter now laid out transposed (same address for a 1-d one).
    if p.dim() > 1:
        p.data = p.data.transpose(0, -1).contiguous().transpose(0, -1)
    p.grad = g.clone()


def _plain(p, g, rng):
    p.grad = g.clone()


MUTATIONS = [_grad_as_dtype, _data_as_dtype, _strided, _transposed, _shared_storage,
             _reshaped, _param_strides]


def _step(opt):
    try:
        opt.step()
    except (RuntimeError, TypeError, ValueError) as err:
        return type(err)
    return None


def _fuzz(name, kw, seed, steps=12):
    rng = random.Random(seed)
    gen = torch.Generator().manual_seed(seed)
    ours = [torch.nn.Parameter(torch.randn(s, generator=gen)) for s in SHAPES]
    theirs = [torch.nn.Parameter(p.detach().clone()) for p in ours]
    a = getattr(antigrad, name)([*ours], nonfinite="ignore", **kw)
    b = getattr(torch.optim, name)([*theirs], **kw)
    low = False  # a float16/bfloat16 gradient was given: torch computes parts in it
    for t in range(steps):
        for i, (p, q) in enumerate(zip(ours, theirs, strict=True)):
            g = torch.tanh(p.detach()) + torch.randn(p.shape, generator=gen)
            # The first step and half the others plain, so that the kernel is bound before a
            # change. (torch's SGD would give its momentum buffer the first gradient's dtype,
            # antigrad the parameter's: docs/methods.md.)
            mutate = rng.choice(MUTATIONS) if t and rng.random() < 0.5 else _plain
            for param in (p, q):
                param.grad = None
                param.grad_dtype = param.dtype
            state = rng.getstate()
            mutate(p, g.clone(), rng)
            rng.setstate(state)
            mutate(q, g.clone(), rng)
            assert p.grad.dtype == q.grad.dtype and p.grad.stride() == q.grad.stride(), i
            low |= p.grad.dtype in (torch.float16, torch.bfloat16)
        err_a, err_b = _step(a), _step(b)
        assert err_a == err_b, f"step {t}: antigrad {err_a}, torch {err_b}"
        if err_b is not None:
            return t  # torch may have updated part of the tensors: stop comparing here
        # A misread moves a parameter by about a step (>= 1e-2); torch's own low-precision
        # arithmetic (a float16 momentum buffer, say) by a rounding of half precision.
        tol = 2e-3 if low else 1e-5
        for i, (p, q) in enumerate(zip(ours, theirs, strict=True)):
            torch.testing.assert_close(p.detach(), q.detach(), rtol=tol, atol=tol,
                                       msg=lambda m, t=t, i=i: f"step {t}, tensor {i}: {m}")
    return steps


@pytest.mark.parametrize("name,kw", OPTIMIZERS, ids=[f"{n}-{kw}" for n, kw in OPTIMIZERS])
def test_fuzzed_gradients_match_torch_step_by_step(name, kw):
    compared = sum(_fuzz(name, kw, seed) for seed in range(12))
    assert compared >= 12  # most runs compare several steps before an error stops them


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_gradient_of_another_dtype_is_not_read_as_float32(dtype):
    """The case that read float64 memory as float32 (and float16 past its end)."""
    p = torch.nn.Parameter(torch.ones(1000))
    q = torch.nn.Parameter(torch.ones(1000))
    a, b = antigrad.SGD([p], lr=0.1), torch.optim.SGD([q], lr=0.1)
    for step in range(3):
        g = torch.full((1000,), 0.5 + step)
        p.grad, q.grad = g.clone(), g.clone()
        if step == 2:
            p.grad.data, q.grad.data = g.to(dtype), g.to(dtype)
        a.step()
        b.step()
        torch.testing.assert_close(p.detach(), q.detach(), rtol=0, atol=0)


def test_a_state_tensor_changed_in_place_is_not_read_as_bound():
    """`state[...].data = m.t()`: the same address, other strides (torch then reads the
    buffer transposed, and so must antigrad)."""
    p = torch.nn.Parameter(torch.randn(8, 8))
    q = torch.nn.Parameter(p.detach().clone())
    a, b = antigrad.Adam([p], lr=0.1), torch.optim.Adam([q], lr=0.1)
    for step in range(4):
        g = torch.randn(8, 8)
        p.grad, q.grad = g.clone(), g.clone()
        if step == 2:
            for opt, x in ((a, p), (b, q)):
                m = opt.state[x]["exp_avg"]
                m.data = m.data.t()
        a.step()
        b.step()
        torch.testing.assert_close(p.detach(), q.detach(), rtol=1e-6, atol=1e-7)
