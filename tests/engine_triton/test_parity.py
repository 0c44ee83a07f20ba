"""Generated Triton kernels (interpreted) against torch.optim and the foreach backend: every
optimizer of both faces and a custom chain, float32/float64/bfloat16/float16, two param
groups in one bucket."""

import pytest
import torch

import antigrad
from antigrad import textbook
from antigrad import transforms as T
from antigrad.engine import tritonkernel
from antigrad.formula.expr import absolute, lerp, maximum, minimum, sign
from antigrad.transforms import Transform, hyper, zeros
from test_optim import OPTIONS
from triton_helpers import (
    EPS,
    grads,
    groups,
    make,
    ours,
    rel_error,
    run,
    run_rounded,
    torch_twin,
    twin,
)

CASES = [(name, kw) for name, kws in OPTIONS.items() for kw in kws]
TEXTBOOK = {"SGD": dict(lr=0.05), "Momentum": dict(lr=0.05), "Nesterov": dict(lr=0.05),
            "AdaGrad": dict(lr=0.1), "RMSprop": dict(lr=0.01), "AdamSimple": dict(lr=0.01),
            "Adam": dict(lr=0.01, weight_decay=0.01), "Nadam": dict(lr=0.01),
            "AdamW": dict(lr=0.01)}
FUSED = ("SGD", "Adagrad", "Adam", "AdamW")  # torch has fused (one rounding) kernels for these
ONE_ROUNDING = 1 / 8  # of the dtype's epsilon, relative to the largest value


def _ids(cases):
    return [f"{n}-{kw}" for n, kw in cases]


def _state(opt, params, key):
    return [opt.state[p][key] for p in params]


@pytest.mark.parametrize("name,kw", CASES, ids=_ids(CASES))
def test_torch_face_float32_matches_torch_and_foreach(name, kw):
    params = make(torch.float32)
    theirs, fe = twin(params), twin(params)
    # checked: the device check and the update reading its flag (the step's other path,
    # unchecked, runs in the half-precision tests with the default policy)
    a = run(ours(name, {**kw, "nonfinite": "raise"}), params)
    b = run(torch_twin(name, kw), theirs)
    run(ours(name, kw), fe, name="foreach")
    assert all(b.bound is not None for b in a.planner.buckets)  # the kernel ran
    assert isinstance(a.planner.buckets[0].bound, tritonkernel.Bound)
    assert rel_error(params, theirs) <= 1e-6
    assert rel_error(params, fe) <= 1e-6
    for key in b.state[theirs[0]]:
        assert rel_error(_state(a, params, key), _state(b, theirs, key)) <= 1e-5, key


@pytest.mark.parametrize("name,kw", CASES, ids=_ids(CASES))
def test_torch_face_bfloat16_rounds_once_per_stored_value(name, kw):
    _half(name, kw, torch.bfloat16)


@pytest.mark.parametrize("name,kw", [(n, kws[-1]) for n, kws in OPTIONS.items()],
                         ids=list(OPTIONS))
def test_torch_face_float16_rounds_once_per_stored_value(name, kw):
    _half(name, kw, torch.float16)


def _half(name, kw, dtype):
    params = make(dtype)
    start = twin(params)
    opt = run(ours(name, kw), params)
    assert isinstance(opt.planner.buckets[0].bound, tritonkernel.Bound)
    assert all(p.dtype == dtype for p in params)
    ref, _ = run_rounded(torch_twin(name, kw), start, dtype)
    # float32 arithmetic, one rounding per stored value: the same numbers, short of a
    # rare rounding flip. (The foreach path, which rounds after every operation, is off by
    # a quarter to several roundings here, or overflows in float16.)
    assert rel_error(params, ref) <= ONE_ROUNDING * EPS[dtype]
    if name in FUSED:  # torch's fused kernels promise the same precision
        fused = twin(start)
        run(torch_twin(name, {**kw, "fused": True}), fused)
        assert rel_error(params, fused) <= 2 * EPS[dtype]


def _to_float32_state(opt, params) -> None:
    """Adam's moments of ``params`` converted to float32 (the bucket is rebuilt)."""
    for p in params:
        for key in ("exp_avg", "exp_avg_sq"):
            opt.state[p][key] = opt.state[p][key].float()


def _round_state(opt, params, dtype) -> None:
    """Adam's moments of ``params`` rounded to ``dtype`` (kept float32)."""
    for p in params:
        for key in ("exp_avg", "exp_avg_sq"):
            opt.state[p][key].copy_(opt.state[p][key].to(dtype).float())


def _half_params_float32_state_reference(start, dtype):
    """torch's Adam in float32 on ``start``, the state rounded to ``dtype`` after the first
    step only, the parameters after every step: what the kernel should compute."""
    ref = twin(start, torch.float32)
    r = torch.optim.Adam(groups(ref), lr=0.01)
    for t in range(3):
        for p, g in zip(ref, grads(ref, t, dtype), strict=True):
            p.grad = g.float()
        r.step()
        with torch.no_grad():
            for p in ref:
                p.copy_(p.to(dtype).float())
            if t == 0:
                _round_state(r, ref, dtype)
    return ref, r


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_float32_state_for_half_parameters(dtype):
    """State kept in float32 beside half-precision parameters: the kernel reads and writes
    each tensor in its own dtype, and rounds only the parameter."""
    params = make(dtype)
    start = twin(params)
    opt = antigrad.Adam(groups(params), lr=0.01)
    for t in range(3):
        if t == 1:  # from the second step on, float32 state (the bucket is rebuilt)
            _to_float32_state(opt, params)
        for p, g in zip(params, grads(params, t), strict=True):
            p.grad = g
        opt.step()
    assert opt.state[params[0]]["exp_avg"].dtype == torch.float32
    assert isinstance(opt.planner.buckets[0].bound, tritonkernel.Bound)
    ref, r = _half_params_float32_state_reference(start, dtype)
    assert rel_error(params, ref) <= ONE_ROUNDING * EPS[dtype]
    assert rel_error(_state(opt, params, "exp_avg_sq"), _state(r, ref, "exp_avg_sq")) <= 1e-5


@pytest.mark.parametrize("name", list(TEXTBOOK))
@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_textbook_face_matches_foreach(name, dtype):
    kw = TEXTBOOK[name]
    params = make(dtype)
    start = twin(params)
    opt = run(ours(name, kw, textbook), params)
    assert isinstance(opt.planner.buckets[0].bound, tritonkernel.Bound)
    if dtype == torch.float64:  # float64 parameters are computed in float64
        fe = twin(start)
        run(ours(name, kw, textbook), fe, name="foreach")
        assert rel_error(params, fe) <= 1e-12
    else:
        ref, _ = run_rounded(ours(name, kw, textbook), start, dtype)
        assert rel_error(params, ref) <= ONE_ROUNDING * EPS[dtype]


def _custom() -> T.Chain:
    """A chain no torch optimizer has: the sign of a lerp (Lion-like), scaled by a running
    peak of |g| clipped at 10 -- sign, lerp, maximum, minimum and abs in one kernel."""
    def update(u, x, c):
        m = x.state["m"]
        direction = sign(lerp(m, u, c["w1"]))
        x.state["m"] = lerp(m, u, c["w2"])
        x.state["peak"] = maximum(x.state["peak"], absolute(u))
        return direction / (minimum(x.state["peak"], 10.0) + 1.0)

    lion = Transform("lion", update=update, state={"m": zeros, "peak": zeros},
                     scalars=lambda g, s, fresh: {"w1": 1 - hyper(g, ("betas", 0)),
                                                  "w2": 1 - hyper(g, ("betas", 1))},
                     defaults={"betas": (0.9, 0.99)})
    return T.chain(T.decoupled_weight_decay(), lion, T.descend())


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_custom_chain(dtype):
    params = make(dtype)
    start = twin(params)
    factory = lambda ps: antigrad.ChainOptimizer(ps, _custom(), lr=0.01,  # noqa: E731
                                                 weight_decay=0.1)
    opt = run(factory, params)
    assert isinstance(opt.planner.buckets[0].bound, tritonkernel.Bound)
    if dtype == torch.float32:
        fe = twin(start)
        run(factory, fe, name="foreach")
        assert rel_error(params, fe) <= 1e-6
    else:
        ref, _ = run_rounded(factory, start, dtype)
        assert rel_error(params, ref) <= ONE_ROUNDING * EPS[dtype]


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_parameters_run_in_smaller_programs(dtype):
    """16-bit buckets split their tensors into programs of BLOCK_16BIT elements (faster on
    the GPU); a tensor spanning several of them still rounds once per stored value."""
    shapes = [(2 * tritonkernel.BLOCK_16BIT + 17,), (5,)]
    params = make(dtype, shapes=shapes)
    start = twin(params)
    kw = {"lr": 0.01, "momentum": 0.9}
    opt = run(ours("SGD", kw), params)
    bound = opt.planner.buckets[0].bound
    assert bound.block == tritonkernel.BLOCK_16BIT < tritonkernel.BLOCK
    assert bound.grid == 3 + 1  # three chunks of the long tensor, one of the short
    ref, _ = run_rounded(torch_twin("SGD", kw), start, dtype)
    assert rel_error(params, ref) <= ONE_ROUNDING * EPS[dtype]


def test_wide_parameters_keep_the_larger_programs():
    params = make(torch.float32, shapes=[(tritonkernel.BLOCK + 1,)])
    opt = run(ours("SGD", {"lr": 0.01, "momentum": 0.9}), params)
    bound = opt.planner.buckets[0].bound
    assert (bound.block, bound.grid) == (tritonkernel.BLOCK, 2)
