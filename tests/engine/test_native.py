"""The native backend: same numbers as foreach, clean fallbacks, an on-disk cache, a warning."""

import os
import subprocess
import sys
import textwrap

import pytest
import torch

import antigrad
from antigrad import textbook
from antigrad import transforms as T
from antigrad.engine import backends, native
from test_optim import OPTIONS  # the torch-compatible options, one table

TEXTBOOK = {"SGD": dict(lr=0.05), "Momentum": dict(lr=0.05), "Nesterov": dict(lr=0.05),
            "AdaGrad": dict(lr=0.1), "RMSprop": dict(lr=0.01), "AdamSimple": dict(lr=0.01),
            "Adam": dict(lr=0.01), "Nadam": dict(lr=0.01), "AdamW": dict(lr=0.01)}
CASES = [(antigrad, n, kw) for n, kws in OPTIONS.items() for kw in kws] + \
        [(textbook, n, kw) for n, kw in TEXTBOOK.items()] + \
        [(textbook, "Adam", dict(lr=0.01, weight_decay=0.01))]
# sizes straddle the SIMD width and the threading threshold (one tensor over 2**15 elements)
SHAPES = [(300, 120), (7,), (2, 2, 2), (1,), (33, 5)]
TOL = {torch.float32: 1e-6, torch.float64: 1e-12}


@pytest.fixture(autouse=True)
def _cache(monkeypatch):
    """Kernels go to the user cache (compiled once per machine), unless a test says otherwise."""
    monkeypatch.delenv("ANTIGRAD_CACHE_DIR", raising=False)


def make(dtype, shapes=SHAPES, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(s, generator=g, dtype=torch.float64).to(dtype))
            for s in shapes]


def set_grads(params, step):
    g = torch.Generator().manual_seed(1000 + step)
    for p in params:
        noise = torch.randn(p.shape, generator=g, dtype=torch.float64).to(p.dtype)
        p.grad = torch.tanh(p.detach()) + 0.1 * noise


def run(backend, module, name, kw, dtype, monkeypatch, steps=8, params=None):
    monkeypatch.setenv("ANTIGRAD_BACKEND", backend)
    params = make(dtype) if params is None else params
    opt = getattr(module, name)(params, **kw)
    for t in range(steps):
        set_grads(params, t)
        opt.step()
    return params, opt


def rel_error(a, b):
    """Largest difference relative to the largest value, over all tensors together."""
    diff = max((x - y).abs().max().item() for x, y in zip(a, b, strict=True))
    return diff / max(max(y.abs().max().item() for y in b), 1e-30)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("module,name,kw", CASES,
                         ids=[f"{m.__name__.split('.')[-1]}.{n}-{kw}" for m, n, kw in CASES])
def test_native_matches_foreach(module, name, kw, dtype, monkeypatch):
    ours, a = run("native", module, name, kw, dtype, monkeypatch)
    ref, b = run("foreach", module, name, kw, dtype, monkeypatch)
    assert rel_error(ours, ref) <= TOL[dtype]
    for p, q in zip(ours, ref, strict=True):
        for key, value in b.state[q].items():
            assert rel_error([a.state[p][key]], [value]) <= TOL[dtype] * 10, key


def test_native_kernel_is_really_used(monkeypatch):
    graph = antigrad.Adam([torch.nn.Parameter(torch.ones(1))]).build(
        {"maximize": False, "weight_decay": 0, "amsgrad": False})
    assert native.kernel(graph.graph) is not None
    monkeypatch.setenv("ANTIGRAD_BACKEND", "native")
    calls = []
    real = native.Bound.__call__

    def spy(self, *args, **kw):
        calls.append(self.fn)
        return real(self, *args, **kw)

    monkeypatch.setattr(native.Bound, "__call__", spy)
    params = make(torch.float32)
    opt = antigrad.Adam(params)
    for t in range(3):
        set_grads(params, t)
        opt.step()
    assert len(calls) == 3 and calls[0] is native.kernel(graph.graph).fns[torch.float32]


def test_custom_chain_and_all_ops(monkeypatch):
    """A chain using every op (sign, abs, minimum, maximum, lerp with a tensor weight)."""
    from antigrad.formula.expr import absolute, lerp, maximum, minimum, sign, sqrt
    from antigrad.formula.transform import Transform

    def update(u, x, c):
        w = minimum(absolute(u), 1.0) * 0.9
        m = lerp(x.state["m"], u, w)
        x.state["m"] = m
        return sign(m) * maximum(sqrt(absolute(m)), c["floor"]) / (2.0 - w) - 1.0 / (1.0 + u * u)

    weird = Transform("weird", update=update, state={"m": T.zeros},
                      scalars=lambda g, s, fresh: {"floor": 0.1})
    for dtype in (torch.float32, torch.float64):
        out = []
        for backend in ("native", "foreach"):
            monkeypatch.setenv("ANTIGRAD_BACKEND", backend)
            ps = make(dtype)
            opt = antigrad.ChainOptimizer(ps, T.chain(weird, T.descend()), lr=0.01)
            for t in range(5):
                set_grads(ps, t)
                ps[0].grad[0, :3] = torch.tensor([0.0, -0.0, 0.5])
                opt.step()
            out.append(ps)
        assert rel_error(*out) <= TOL[dtype]


def test_nan_semantics(monkeypatch):
    """sqrt of a negative is NaN, maximum propagates NaN, sign(0) = 0: as torch."""
    from antigrad.formula.expr import maximum, sign, sqrt
    from antigrad.formula.transform import Transform

    t = Transform("odd", update=lambda u, x, c: sqrt(u) + maximum(u, x.p) + sign(u))
    results = []
    for backend in ("native", "foreach"):
        monkeypatch.setenv("ANTIGRAD_BACKEND", backend)
        p = torch.nn.Parameter(torch.tensor([1.0, float("nan"), 2.0, 3.0] * 10))
        p.grad = torch.tensor([-1.0, 1.0, 0.0, 4.0] * 10)
        opt = antigrad.ChainOptimizer([p], T.chain(t, T.descend()), lr=1.0, nonfinite="ignore")
        opt.step()
        results.append(p.detach().clone())
    torch.testing.assert_close(results[0], results[1], equal_nan=True)
    assert results[0][0].isnan() and results[0][1].isnan()


def test_grads_untouched_and_in_place(monkeypatch):
    params = make(torch.float32)
    set_grads(params, 0)
    grads = [p.grad.clone() for p in params]
    storages = [p.data_ptr() for p in params]
    monkeypatch.setenv("ANTIGRAD_BACKEND", "native")
    opt = antigrad.Adam(params, weight_decay=0.1, amsgrad=True, maximize=True)
    states = None
    for _ in range(3):
        opt.step()
        ptrs = [opt.state[p]["exp_avg"].data_ptr() for p in params]
        assert states is None or ptrs == states
        states = ptrs
    assert all(torch.equal(p.grad, g) for p, g in zip(params, grads, strict=True))
    assert [p.data_ptr() for p in params] == storages


def _strided(base):
    big = torch.randn(40, 30, generator=torch.Generator().manual_seed(3))
    return base[:2] + [torch.nn.Parameter(big.t())]  # not contiguous


def _bfloat16(base):
    return [torch.nn.Parameter(p.detach().to(torch.bfloat16)) for p in base]


def _complex(base):
    return [torch.nn.Parameter(torch.complex(p.detach(), p.detach().flip(0))) for p in base]


def _mixed(base):
    return [base[0], torch.nn.Parameter(base[1].detach().double()),
            torch.nn.Parameter(base[2].detach().to(torch.bfloat16))]


# parameters the native backend does not take, by kind (built from make(torch.float32))
_FALLBACKS = {"strided": _strided, "bfloat16": _bfloat16, "complex": _complex,
              "mixed": _mixed}


@pytest.mark.parametrize("kind", list(_FALLBACKS))
def test_fallbacks_give_foreach_numbers(kind, monkeypatch):
    def params():
        return _FALLBACKS[kind](make(torch.float32))

    def grads(ps, t):
        g = torch.Generator().manual_seed(t)
        for p in ps:
            p.grad = torch.randn(p.shape, generator=g, dtype=p.dtype)

    out = []
    for backend in ("native", "foreach"):
        monkeypatch.setenv("ANTIGRAD_BACKEND", backend)
        ps = params()
        opt = antigrad.Adam(ps, lr=0.01)
        for t in range(4):
            grads(ps, t)
            opt.step()
        out.append([p.detach() for p in ps])
    for a, b in zip(*out, strict=True):
        tol = 1e-2 if a.dtype == torch.bfloat16 else 1e-6
        torch.testing.assert_close(a, b, rtol=tol, atol=tol * 1e-2)
        if a.dtype == torch.bfloat16:
            assert torch.equal(a, b)  # bfloat16 always runs on foreach


def test_eligibility():
    f = torch.ones(4)
    cpu = torch.device("cpu")
    assert native.eligible({"param": [f]}, cpu, torch.float32)
    t = torch.ones(4, 4).t()  # dense, transposed
    assert native.eligible({"param": [t], "m": [torch.zeros_like(t)]}, cpu, torch.float32)
    assert not native.eligible({"param": [t], "m": [torch.zeros(4, 4)]}, cpu, torch.float32)
    assert not native.eligible({"param": [torch.ones(4, 8)[:, ::2]]}, cpu, torch.float32)
    assert not native.eligible({"param": [f], "m": [torch.ones(5)]}, cpu, torch.float32)
    assert not native.eligible({"param": [f.bfloat16()]}, cpu, torch.bfloat16)
    assert not native.eligible({"param": [f]}, torch.device("meta"), torch.float32)


def test_native_finite_check():
    good = [torch.ones(50_000), torch.zeros(3)]
    assert native.all_finite(good) is True
    for bad in (float("nan"), float("inf"), -float("inf")):
        for where in (0, 49_999):
            gs = [torch.ones(50_000), torch.zeros(3, dtype=torch.float64)]
            gs[0][where] = bad
            assert native.all_finite(gs) is False
    assert native.all_finite([torch.ones(4, 4).t()]) is True  # dense, transposed
    assert native.all_finite([torch.ones(4, 8)[:, ::2]]) is None  # gaps
    assert native.all_finite([torch.ones(4, dtype=torch.bfloat16)]) is None


def test_invalid_backend_name(monkeypatch):
    monkeypatch.setenv("ANTIGRAD_BACKEND", "cuda-magic")
    with pytest.raises(ValueError, match="Invalid ANTIGRAD_BACKEND"):
        backends.choice()


def _python(code, env):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env,
                          capture_output=True, text=True, timeout=120)


STEP = """
    import time, warnings, torch, antigrad
    from antigrad.engine import compiler
    p = torch.nn.Parameter(torch.ones(100))
    opt = antigrad.NAdam([p], lr=0.1, weight_decay=0.03)
    p.grad = torch.full_like(p, 0.5)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        t = time.perf_counter(); opt.step(); opt.step(); dt = time.perf_counter() - t
    print(len([x for x in w if "foreach backend" in str(x.message)]), p[0].item(),
          len(list(compiler.cache_dir().glob("*.so"))), compiler.compiler())
"""


def test_cache_hit_in_a_new_process(tmp_path):
    env = {**os.environ, "ANTIGRAD_CACHE_DIR": str(tmp_path), "ANTIGRAD_BACKEND": "native"}
    env.pop("CC", None)
    first = _python(STEP, env)
    assert first.returncode == 0, first.stderr
    files = sorted(tmp_path.glob("*.so"))
    assert files
    stamps = [f.stat().st_mtime_ns for f in files]
    second = _python(STEP, env)
    assert second.returncode == 0, second.stderr
    assert first.stdout.split()[:3] == second.stdout.split()[:3]
    assert first.stdout.split()[0] == "0"
    assert [f.stat().st_mtime_ns for f in sorted(tmp_path.glob("*.so"))] == stamps  # not rebuilt
    assert not list(tmp_path.glob("*.c")) and not list(tmp_path.glob("*.tmp.so"))


def test_no_compiler_warns_once_and_still_works(tmp_path):
    env = {**os.environ, "ANTIGRAD_CACHE_DIR": str(tmp_path), "ANTIGRAD_BACKEND": "native",
           "CC": str(tmp_path / "no-such-cc")}
    out = _python(STEP, env)
    assert out.returncode == 0, out.stderr
    warned, value, kernels = out.stdout.split()[:3]
    assert warned == "1" and kernels == "0"
    ref = _python(STEP, {**env, "ANTIGRAD_BACKEND": "foreach", "CC": ""})
    assert float(value) == float(ref.stdout.split()[1])


def test_nonfinite_in_native_step_touches_nothing(monkeypatch):
    monkeypatch.setenv("ANTIGRAD_BACKEND", "native")
    params = make(torch.float32)
    opt = antigrad.Adam(params, nonfinite="skip")
    set_grads(params, 0)
    opt.step()
    before = [p.detach().clone() for p in params]
    state = [{k: v.clone() for k, v in opt.state[p].items()} for p in params]
    set_grads(params, 1)
    params[0].grad[-1, -1] = float("nan")
    opt.step()
    assert opt.skipped_steps == 1
    assert all(torch.equal(p, b) for p, b in zip(params, before, strict=True))
    for p, s in zip(params, state, strict=True):
        assert all(torch.equal(opt.state[p][k], v) for k, v in s.items())


def test_unwritable_cache_folder_compiles_elsewhere_and_says_so(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = {**os.environ, "ANTIGRAD_CACHE_DIR": str(blocker / "kernels"),
           "ANTIGRAD_BACKEND": "native", "TMPDIR": str(tmpdir)}
    env.pop("CC", None)
    out = _python(STEP + "    print(compiler.kernel_folder(), [str(x.message) for x in w])\n", env)
    assert out.returncode == 0, out.stderr
    first, second = out.stdout.splitlines()
    assert first.split()[0] == "0"  # no fall back to foreach
    assert str(tmpdir) in second and "cannot write its kernel cache" in second
    assert list(tmpdir.glob("antigrad-kernels-*/*.so"))


def test_compiler_without_openmp_still_runs_natively(tmp_path):
    """A compiler that rejects -fopenmp (Apple's clang, say): kernels on one thread, with
    the same numbers, and one warning saying so."""
    cc = tmp_path / "cc-without-openmp"
    cc.write_text('#!/bin/sh\nfor a in "$@"; do [ "$a" = -fopenmp ] && '
                  '{ echo "unsupported option -fopenmp" >&2; exit 1; }; done\n'
                  'exec gcc "$@"\n')
    cc.chmod(0o755)
    env = {**os.environ, "ANTIGRAD_CACHE_DIR": str(tmp_path / "kernels"),
           "ANTIGRAD_BACKEND": "native", "CC": str(cc)}
    out = _python(STEP + "    print(sum('one thread' in str(x.message) for x in w))\n", env)
    assert out.returncode == 0, out.stderr
    first, second = out.stdout.splitlines()
    fell_back, value, kernels = first.split()[:3]
    assert fell_back == "0" and int(kernels) >= 1 and second == "1"
    ref = _python(STEP, {**env, "ANTIGRAD_BACKEND": "foreach", "CC": ""})
    assert abs(float(value) - float(ref.stdout.split()[1])) <= 1e-6
    for lib in (tmp_path / "kernels").glob("*.so"):
        assert b"libgomp" not in lib.read_bytes()
