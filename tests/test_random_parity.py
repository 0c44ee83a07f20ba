"""Random mixes of what real loops do, against torch.optim: optimizers and options, float32
and float64, empty and channels-last parameters, gradients laid out unlike their
parameter, two param groups, parameters without a gradient on some steps."""

import random

import pytest
import torch

import antigrad
from test_optim import OPTIONS

SHAPES = [(3,), (4, 5), (2, 3, 4, 5), (6, 7), (1,), (0,), (40_000,)]


def params(rng, trial, dtype, shapes):
    g = torch.Generator().manual_seed(trial)
    out = []
    for s in shapes:
        t = torch.randn(s, generator=g, dtype=dtype)
        if len(s) == 4 and rng.random() < 0.4:
            t = t.to(memory_format=torch.channels_last)
        elif len(s) == 2 and rng.random() < 0.3:
            t = t.t().contiguous().t()  # column-major
        out.append(torch.nn.Parameter(t))
    return out


@pytest.mark.parametrize("backend", ["native", "foreach"])
@pytest.mark.parametrize("seed", range(3))
def test_random_loops_match_torch(backend, seed, monkeypatch):
    monkeypatch.setenv("ANTIGRAD_BACKEND", backend)
    rng = random.Random(seed)
    for trial in range(15):
        name = rng.choice(sorted(OPTIONS))
        kw = rng.choice(OPTIONS[name])
        dtype = rng.choice([torch.float32, torch.float64])
        shapes = [rng.choice(SHAPES) for _ in range(rng.randint(1, 5))]
        state = rng.getstate()
        ours = params(rng, trial, dtype, shapes)
        rng.setstate(state)
        theirs = params(rng, trial, dtype, shapes)
        groups = len(ours) > 1 and rng.random() < 0.3

        def arg(ps, groups=groups):
            return [{"params": ps[:1]}, {"params": ps[1:], "lr": 0.003}] if groups else ps

        a = getattr(antigrad, name)(arg(ours), **kw)
        b = getattr(torch.optim, name)(arg(theirs), **kw)
        for t in range(5):
            g = torch.Generator().manual_seed(100 + t)
            for p, q in zip(ours, theirs, strict=True):
                if rng.random() < 0.2:
                    p.grad = q.grad = None
                    continue
                grad = torch.randn(p.shape, generator=g, dtype=dtype)
                if p.dim() == 2 and rng.random() < 0.2:
                    grad = grad.t().contiguous().t()
                p.grad, q.grad = grad.clone(), grad.clone()
            a.step()
            b.step()
        tol = 1e-5 if dtype == torch.float32 else 1e-12
        where = f"trial {trial}: {name} {kw} {dtype} {shapes} groups={groups}"
        for p, q in zip(ours, theirs, strict=True):
            torch.testing.assert_close(p, q, rtol=tol, atol=tol, msg=where)
            assert p.stride() == q.stride(), where
            for key, value in b.state[q].items():
                torch.testing.assert_close(a.state[p][key], value, rtol=1e-4, atol=1e-6,
                                           msg=f"{where}: state {key}")
