"""Independent references for the optimizers and transforms that read norms: each paper's
algorithm written step by step with plain torch ops, one tensor at a time, and torch's
own ``clip_grad_norm_``. Shared by the CPU tests and the Triton ones."""

import math

import torch

from antigrad import transforms as T
from antigrad.formula.expr import max_abs, norm, total

SHAPES = [(3, 4), (5,), (), (0,), (2, 3, 2)]


def make_groups(dtype, seed=0):
    """Two param groups of several shapes (an empty and a scalar tensor among them, and a
    bias at zero, whose norm of 0 takes the zero-norm rule), as lists of tensors."""
    g = torch.Generator().manual_seed(seed)
    first = [torch.randn(s, generator=g, dtype=dtype) for s in SHAPES[:3]]
    second = [torch.randn(s, generator=g, dtype=dtype) for s in SHAPES[3:]] + [
        torch.zeros(4, dtype=dtype)]
    return [first, second]


def gradients(groups, steps, seed=1):
    g = torch.Generator().manual_seed(seed)
    return [[[3 * torch.randn(p.shape, generator=g, dtype=p.dtype) for p in ps]
             for ps in groups] for _ in range(steps)]


def lamb(groups, grads, options):
    """You et al. 2019, Algorithm 2 (phi = identity), per layer; ``options[k]`` are group
    k's (lr, beta1, beta2, eps, weight_decay, max_grad_norm)."""
    ws = [[w.clone() for w in ps] for ps in groups]
    ms = [[torch.zeros_like(w) for w in ps] for ps in groups]
    vs = [[torch.zeros_like(w) for w in ps] for ps in groups]
    for t, step in enumerate(grads, start=1):
        for k, gs in enumerate(step):
            lr, b1, b2, eps, wd, max_norm = options[k]
            if max_norm is not None:
                gs = [g.clone() for g in gs]
                _clip(gs, max_norm)
            for i, g in enumerate(gs):
                w, m, v = ws[k][i], ms[k][i], vs[k][i]
                m.mul_(b1).add_((1 - b1) * g)
                v.mul_(b2).add_((1 - b2) * g * g)
                m_hat = m / (1 - b1 ** t)
                v_hat = v / (1 - b2 ** t)
                r = m_hat / (v_hat.sqrt() + eps) + wd * w
                w_norm, r_norm = float(w.norm()), float(r.norm())
                ratio = w_norm / r_norm if w_norm > 0 and r_norm > 0 else 1.0
                w.sub_(lr * ratio * r)
    return ws


def lars(groups, grads, options):
    """You, Gitman & Ginsburg 2017, Algorithm 1, per layer; ``options[k]`` are group k's
    (lr, momentum, weight_decay, trust_coefficient)."""
    ws = [[w.clone() for w in ps] for ps in groups]
    vs = [[torch.zeros_like(w) for w in ps] for ps in groups]
    for step in grads:
        for k, gs in enumerate(step):
            lr, mom, wd, eta = options[k]
            for i, g in enumerate(gs):
                w, v = ws[k][i], vs[k][i]
                w_norm, g_norm = float(w.norm()), float(g.norm())
                local = eta * w_norm / (g_norm + wd * w_norm) \
                    if w_norm > 0 and g_norm > 0 else 1.0
                v.mul_(mom).add_(lr * local * (g + wd * w))
                w.sub_(v)
    return ws


def _clip(gs, max_norm):
    """torch.nn.utils.clip_grad_norm_ on plain tensors (it takes parameters: wrap them)."""
    params = [torch.nn.Parameter(torch.zeros_like(g)) for g in gs]
    for p, g in zip(params, gs, strict=True):
        p.grad = g
    torch.nn.utils.clip_grad_norm_(params, max_norm)


def clipped_sgd(groups, grads, options, per_tensor=False):
    """SGD on gradients clipped by torch's clip_grad_norm_: over each group's tensors, or
    each tensor alone; ``options[k]`` are group k's (lr, max_norm)."""
    ws = [[w.clone() for w in ps] for ps in groups]
    for step in grads:
        for k, gs in enumerate(step):
            lr, max_norm = options[k]
            gs = [g.clone() for g in gs]
            if per_tensor:
                for g in gs:
                    _clip([g], max_norm)
            else:
                _clip(gs, max_norm)
            for w, g in zip(ws[k], gs, strict=True):
                w.sub_(lr * g)
    return ws


def max_error(ours, theirs):
    """Largest |difference| relative to the largest |value| (over all tensors)."""
    scale = max([float(t.abs().max()) for ts in theirs for t in ts if t.numel()] + [1e-30])
    diff = max([float((a.detach() - b).abs().max()) for xs, ts in zip(ours, theirs, strict=True)
                for a, b in zip(xs, ts, strict=True) if b.numel()] + [0.0])
    return diff / scale


def mix(u, x, c):
    """Every kind of reduction in one update; the group-wide ones read the per-tensor ones'
    phase (a second reduce phase)."""
    scaled = u / (max_abs(u) + 1.0)
    return (scaled * total(x.p) + u * norm(scaled, over="group")
            - x.p * max_abs(u * 2.0, over="group") + total(u, over="group"))


MIX = T.Transform("mix", update=mix)


def mix_reference(ws, gs):
    """The update of `_mix` for one param group, with torch's reductions."""
    def amax(t):
        return float(t.abs().max()) if t.numel() else 0.0
    scaled = [g / (amax(g) + 1.0) for g in gs]
    group_norm = math.sqrt(sum(float(s.double().square().sum()) for s in scaled))
    group_max = max(amax(2.0 * g) for g in gs)
    group_sum = sum(float(g.double().sum()) for g in gs)
    return [w + (s * float(w.double().sum()) + g * group_norm - w * group_max + group_sum)
            for w, g, s in zip(ws, gs, scaled, strict=True)]
