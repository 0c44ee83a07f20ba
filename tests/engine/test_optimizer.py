"""ChainOptimizer: non-finite gradients, state handling, custom chains."""

import copy
import math

import pytest
import torch

import antigrad
from antigrad import transforms as T
from antigrad.engine import NonFiniteGradientError


def params_with_grads(bad=None):
    ps = [torch.nn.Parameter(torch.ones(4)), torch.nn.Parameter(torch.ones(3))]
    for p in ps:
        p.grad = torch.full_like(p, 0.5)
    if bad is not None:
        ps[1].grad[2] = bad
    return ps


def warm(opt, ps):
    opt.step()  # a good step first, so there is state to protect
    for p in ps:
        p.grad = torch.full_like(p, 0.5)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("name", ["SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "NAdam"])
def test_nonfinite_gradient_raises_and_changes_nothing(name, bad):
    ps = params_with_grads()
    opt = getattr(antigrad, name)(ps, lr=0.1, nonfinite="raise",
                                  **({"momentum": 0.9} if name == "SGD" else {}))
    warm(opt, ps)
    ps[1].grad[2] = bad
    before = [p.detach().clone() for p in ps]
    state = {k: v.clone() for k, v in opt.state[ps[1]].items()}
    kind = "NaN" if math.isnan(bad) else "infinity"
    with pytest.raises(NonFiniteGradientError, match=rf"parameter 1 in param group 0 \(shape "
                       rf"\(3,\)\) contains {kind}"):
        opt.step()
    assert all(torch.equal(p, b) for p, b in zip(ps, before, strict=True))
    assert all(torch.equal(opt.state[ps[1]][k], v) for k, v in state.items())


def test_nonfinite_skip_skips_the_whole_step():
    ps = params_with_grads(bad=math.nan)
    opt = antigrad.Adam(ps, lr=0.1, nonfinite="skip")
    opt.step()
    assert opt.skipped_steps == 1
    assert all(torch.equal(p, torch.ones_like(p)) for p in ps)
    assert not opt.state  # no state was created either


def test_nonfinite_ignore_applies_like_torch():
    ps = params_with_grads(bad=math.inf)
    opt = antigrad.SGD(ps, lr=0.1, nonfinite="ignore")
    opt.step()
    assert math.isinf(ps[1][2].item())


def test_invalid_nonfinite_mode():
    with pytest.raises(ValueError, match="Invalid nonfinite value: 'warn'"):
        antigrad.Adam(params_with_grads(), nonfinite="warn")


def test_gradients_are_never_modified():
    ps = params_with_grads()
    grads = [p.grad.clone() for p in ps]
    for opt in [antigrad.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.1, maximize=True),
                antigrad.Adam(ps, weight_decay=0.1, amsgrad=True),
                antigrad.textbook.Nadam(ps, lr=0.1)]:
        for _ in range(3):
            opt.step()
        assert all(torch.equal(p.grad, g) for p, g in zip(ps, grads, strict=True))


def test_custom_chain_adam_with_nesterov_and_decoupled_decay():
    """The README's example: three lines of chain, checked against a hand computation."""
    w = torch.nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
    opt = antigrad.ChainOptimizer(
        [w], T.chain(T.decoupled_weight_decay(), T.scale_by_nadam(momentum_decay=None),
                     T.descend()), lr=0.1, weight_decay=0.01)
    g = torch.tensor([0.5, -1.0], dtype=torch.float64)
    w.grad = g.clone()
    opt.step()
    b1, b2, eps = 0.9, 0.999, 1e-8
    m, v = (1 - b1) * g, (1 - b2) * g * g
    m_bar = b1 * m / (1 - b1**2) + (1 - b1) * g / (1 - b1)
    expected = torch.tensor([1.0, -2.0], dtype=torch.float64) * (1 - 0.1 * 0.01) \
        - 0.1 * m_bar / ((v / (1 - b2)).sqrt() + eps)
    torch.testing.assert_close(w.detach(), expected, rtol=1e-14, atol=1e-15)
    assert set(opt.state[w]) == {"exp_avg", "exp_avg_sq", "step"}
    assert opt.param_groups[0]["betas"] == (0.9, 0.999)  # defaults come from the transforms


def test_chain_rejects_bad_parts():
    with pytest.raises(TypeError, match="chain\\(\\) takes transforms"):
        T.chain(T.descend(), "adam")
    with pytest.raises(ValueError, match="at least one transform"):
        T.chain()
    with pytest.raises(ValueError, match="'exp_avg' is kept by both"):
        T.chain(T.scale_by_adam(), T.scale_by_nadam())
    with pytest.raises(TypeError, match="Invalid chain"):
        antigrad.ChainOptimizer([torch.nn.Parameter(torch.ones(1))], [T.descend()])


def test_hyperparameters_live_in_the_group():
    w = torch.nn.Parameter(torch.ones(2))
    opt = antigrad.ChainOptimizer([w], T.chain(T.trace(), T.descend()), lr=0.1, momentum=0.0)
    w.grad = torch.ones(2)
    opt.step()
    opt.param_groups[0]["lr"] = 0.5  # as a scheduler would
    opt.step()
    torch.testing.assert_close(w.detach(), torch.full((2,), 1 - 0.1 - 0.5))


def test_mixed_devices_dtypes_in_one_group():
    a = torch.nn.Parameter(torch.ones(3, dtype=torch.float64))
    b = torch.nn.Parameter(torch.ones(3, dtype=torch.bfloat16))
    c = torch.nn.Parameter(torch.ones(3, dtype=torch.float16))
    ref = [torch.nn.Parameter(p.detach().clone()) for p in (a, b, c)]
    ours, theirs = antigrad.Adam([a, b, c], lr=0.1), torch.optim.Adam(ref, lr=0.1)
    for _ in range(3):
        for p in (a, b, c, *ref):
            p.grad = torch.full_like(p, 0.25)
        ours.step()
        theirs.step()
    for p, q in zip((a, b, c), ref, strict=True):
        assert p.dtype == q.dtype and torch.equal(p, q)


def test_step_counts_per_parameter():
    """A parameter without a gradient for a while keeps its own step count, as in torch."""
    a, b = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2))
    a2, b2 = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2))
    ours, theirs = antigrad.Adam([a, b], lr=0.1), torch.optim.Adam([a2, b2], lr=0.1)
    for t in range(5):
        for p, q in ((a, a2), (b, b2)):
            if p is b and t < 3:
                p.grad = q.grad = None
                continue
            p.grad, q.grad = torch.full((2,), float(t + 1)), torch.full((2,), float(t + 1))
        ours.step()
        theirs.step()
    assert ours.state[a]["step"] == 5 and ours.state[b]["step"] == 2
    assert torch.equal(a, a2) and torch.equal(b, b2)


@pytest.mark.parametrize("dtype", [torch.float32, torch.complex64])
def test_replaced_parameter_data_and_state_are_followed(dtype):
    """Prepared buckets must notice `p.data = ...` and a replaced state tensor."""
    p = torch.nn.Parameter(torch.ones(4, dtype=dtype))
    q = torch.nn.Parameter(torch.ones(4, dtype=dtype))
    ours, theirs = antigrad.Adam([p], lr=0.1), torch.optim.Adam([q], lr=0.1)
    for t in range(4):
        if t == 2:
            p.data = torch.full((4,), 3.0, dtype=dtype)
            q.data = torch.full((4,), 3.0, dtype=dtype)
            ours.state[p]["exp_avg"] = torch.zeros(4, dtype=dtype)
            theirs.state[q]["exp_avg"] = torch.zeros(4, dtype=dtype)
        if t == 3:
            ours.state[p]["step"].fill_(10.0)
            theirs.state[q]["step"].fill_(10.0)
        p.grad = torch.full((4,), 0.5, dtype=dtype)
        q.grad = torch.full((4,), 0.5, dtype=dtype)
        ours.step()
        theirs.step()
        torch.testing.assert_close(p.detach(), q.detach(), rtol=1e-6, atol=1e-7)
    assert ours.state[p]["step"] == 11


@pytest.mark.parametrize("backend", ["native", "foreach"])
def test_step_runs_without_grad_and_restores_grad_mode(backend, monkeypatch):
    monkeypatch.setenv("ANTIGRAD_BACKEND", backend)
    p = torch.nn.Parameter(torch.ones(3))
    opt = antigrad.Adam([p], lr=0.1, nonfinite="raise")
    for enabled in (True, False):
        with torch.set_grad_enabled(enabled):
            p.grad = torch.ones(3)
            opt.step()
            assert torch.is_grad_enabled() is enabled
            p.grad = torch.tensor([1.0, float("nan"), 1.0])
            with pytest.raises(antigrad.NonFiniteGradientError):
                opt.step()
            assert torch.is_grad_enabled() is enabled
    assert p.grad_fn is None and p.requires_grad


def test_state_of_the_wrong_shape_is_named_and_nothing_moves():
    p = torch.nn.Parameter(torch.ones(6))
    opt = antigrad.Adam([p], lr=0.1)
    p.grad = torch.ones(6)
    opt.step()
    sd = opt.state_dict()
    sd["state"][0]["exp_avg_sq"] = torch.ones(2, 3)
    other = antigrad.Adam([p], lr=0.1)
    other.load_state_dict(sd)
    before = p.detach().clone()
    p.grad = torch.ones(6)
    with pytest.raises(RuntimeError, match=r"state 'exp_avg_sq' of parameter 0 in param group 0 "
                                           r"is \(2, 3\), but the parameter has shape \(6,\)"):
        other.step()
    assert torch.equal(p.detach(), before)
    assert other.state[p]["step"].item() == 1.0


def test_step_inside_torch_compile_runs_eagerly_with_torch_numbers():
    import warnings

    torch._dynamo.reset()
    torch.manual_seed(0)
    ours, theirs = torch.nn.Linear(6, 1), torch.nn.Linear(6, 1)
    theirs.load_state_dict(ours.state_dict())
    a = antigrad.Adam(ours.parameters(), lr=0.1)
    b = torch.optim.Adam(theirs.parameters(), lr=0.1)
    x, y = torch.randn(16, 6), torch.randn(16, 1)

    def train_step(model, opt):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        return loss

    compiled = torch.compile(train_step, backend="eager")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(4):
            compiled(ours, a)
            train_step(theirs, b)
    assert not [w for w in caught if "antigrad" in str(w.filename)]
    assert not [w for w in caught if "lru_cache" in str(w.message)]  # our step is not traced
    for p, q in zip(ours.parameters(), theirs.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)
    assert a.state[ours.weight]["step"].item() == 4.0


def test_step_inside_torch_compile_is_not_traced(monkeypatch):
    """The compiler never traces the step: it runs eagerly, outside the graph (traced, the
    step would see ``is_compiling()`` true)."""
    from antigrad.engine.optimizer import ChainOptimizer

    torch._dynamo.reset()
    seen, apply_chains = [], ChainOptimizer._apply_chains

    def spy(self, build=None):
        seen.append(torch.compiler.is_compiling())
        return apply_chains(self, build)

    monkeypatch.setattr(ChainOptimizer, "_apply_chains", spy)
    model = torch.nn.Linear(6, 1)
    opt = antigrad.Adam(model.parameters(), lr=0.1)
    x, y = torch.randn(16, 6), torch.randn(16, 1)

    def train_step():
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()

    compiled = torch.compile(train_step, backend="eager")
    for _ in range(3):
        compiled()
    assert seen == [False, False, False]


def test_a_step_without_torch_compile_does_not_import_the_compiler():
    """torch._dynamo (and sympy with it) costs ~2 s of CPU to import: a process that never
    compiles, the lab's included, does not pay it."""
    import subprocess
    import sys

    code = ("import sys, torch, antigrad, antigrad.lab\n"
            "p = torch.nn.Parameter(torch.ones(3)); p.grad = torch.ones(3)\n"
            "antigrad.Adam([p], lr=0.1).step()\n"
            "print(sorted({'torch._dynamo', 'sympy'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def _saved(name, **kw):
    """A state dict after one step, copied so that editing it leaves the optimizer alone."""
    p = torch.nn.Parameter(torch.ones(3))
    opt = getattr(antigrad, name)([p], **kw)
    p.grad = torch.full_like(p, 0.5)
    opt.step()
    return copy.deepcopy(opt.state_dict())


def _fresh(name, **kw):
    p = torch.nn.Parameter(torch.ones(3))
    return p, getattr(antigrad, name)([p], **kw)


@pytest.mark.parametrize("name,kw,buffer", [
    ("Adam", {}, "exp_avg_sq"), ("Adam", {}, "exp_avg"), ("Adam", {}, "step"),
    ("AdamW", dict(amsgrad=True), "max_exp_avg_sq"), ("NAdam", {}, "mu_product"),
    ("RMSprop", dict(centered=True), "grad_avg"), ("Adagrad", {}, "sum"),
    ("RMSprop", dict(momentum=0.9), "momentum_buffer")])
def test_a_state_dict_missing_a_buffer_is_refused_with_torchs_exception(name, kw, buffer):
    sd = _saved(name, **kw)
    del sd["state"][0][buffer]
    with pytest.raises(KeyError):  # what torch.optim raises, at load or at the next step
        theirs = getattr(torch.optim, name)([torch.nn.Parameter(torch.ones(3))], **kw)
        theirs.load_state_dict(copy.deepcopy(sd))
        theirs.param_groups[0]["params"][0].grad = torch.ones(3)
        theirs.step()
    p, opt = _fresh(name, **kw)
    before = copy.deepcopy(opt.state_dict())
    with pytest.raises(KeyError, match=f"no {buffer!r}"):
        opt.load_state_dict(sd)
    assert opt.state_dict()["state"].keys() == before["state"].keys()  # nothing loaded
    p.grad = torch.ones(3)
    opt.step()  # and the optimizer still works


def test_sgd_without_its_momentum_buffer_starts_it_afresh_as_torch():
    sd = _saved("SGD", lr=0.1, momentum=0.9)
    del sd["state"][0]["momentum_buffer"]
    ours, opt = _fresh("SGD", lr=0.1, momentum=0.9)
    theirs = torch.nn.Parameter(torch.ones(3))
    ref = torch.optim.SGD([theirs], lr=0.1, momentum=0.9)
    opt.load_state_dict(copy.deepcopy(sd))
    ref.load_state_dict(copy.deepcopy(sd))
    for p, o in ((ours, opt), (theirs, ref)):
        p.grad = torch.full_like(p, 0.5)
        o.step()
    assert torch.equal(ours, theirs)


@pytest.mark.parametrize("name,key,value,message", [
    ("Adam", "lr", float("nan"), "Invalid lr value: nan"),
    ("SGD", "lr", -1.0, "Invalid lr value: -1.0"),
    ("Adam", "betas", (0.9, 1.5), r"Invalid beta parameter at index 1: 1.5 \(beta2 must"),
    ("RMSprop", "momentum", -0.5, "Invalid momentum"),
    ("NAdam", "momentum_decay", float("nan"), "Invalid momentum_decay value: nan"),
    ("Adagrad", "eps", -1.0, "Invalid eps value: -1.0"),
    ("SGD", "nesterov", True, "Invalid nesterov value: True")])
def test_a_loaded_hyperparameter_is_checked_as_by_the_constructor(name, key, value, message):
    kw = dict(lr=0.1) if name == "SGD" else {}
    sd = _saved(name, **kw)
    sd["param_groups"][0][key] = value
    p, opt = _fresh(name, **kw)
    with pytest.raises(ValueError, match=message):
        opt.load_state_dict(sd)
    assert not math.isnan(opt.param_groups[0]["lr"]) and opt.param_groups[0][key] != value
    with pytest.raises(ValueError, match=message):  # the constructor says the same
        getattr(antigrad, name)([p], **{**kw, key: value})


def test_a_param_group_added_later_is_checked_too():
    p, opt = _fresh("Adam")
    with pytest.raises(ValueError, match="Invalid lr value: nan"):
        opt.add_param_group({"params": [torch.nn.Parameter(torch.ones(2))], "lr": math.nan})
