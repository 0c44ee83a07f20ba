"""The torch-compatible face: same numbers, state_dict format and validation as torch.optim."""

import copy
import io
import warnings

import pytest
import torch

import antigrad

OPTIONS = {
    "SGD": [dict(lr=0.05), dict(lr=0.05, momentum=0.9), dict(lr=0.05, momentum=0.9, dampening=0.3),
            dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1),
            dict(lr=0.05, momentum=0.5, maximize=True, weight_decay=0.01)],
    "Adagrad": [dict(), dict(lr=0.1, lr_decay=0.01, weight_decay=0.1,
                             initial_accumulator_value=0.3, eps=1e-6), dict(maximize=True)],
    "RMSprop": [dict(), dict(momentum=0.9), dict(centered=True), dict(alpha=0.9, eps=1e-4),
                dict(momentum=0.9, centered=True, weight_decay=0.1, maximize=True)],
    "Adam": [dict(), dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6), dict(amsgrad=True),
             dict(weight_decay=0.1), dict(weight_decay=0.1, decoupled_weight_decay=True),
             dict(maximize=True, amsgrad=True, weight_decay=0.05)],
    "AdamW": [dict(), dict(weight_decay=0.3, amsgrad=True), dict(maximize=True)],
    "NAdam": [dict(), dict(momentum_decay=0.01), dict(weight_decay=0.1),
              dict(weight_decay=0.1, decoupled_weight_decay=True), dict(maximize=True)],
}
CASES = [(name, kw) for name, kws in OPTIONS.items() for kw in kws]
SHAPES = [(5, 3), (7,), (2, 2, 2), (1,)]


def make_params(dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(s, generator=g, dtype=dtype)) for s in SHAPES]


def twin(params):
    return [torch.nn.Parameter(p.detach().clone()) for p in params]


def set_grads(params, step):
    """A gradient that depends on the parameters and on a seeded noise: a realistic loop."""
    g = torch.Generator().manual_seed(1000 + step)
    for p in params:
        noise = torch.randn(p.shape, generator=g, dtype=p.real.dtype if p.is_complex() else p.dtype)
        if p.is_complex():
            noise = torch.complex(noise, noise.flip(0))
        p.grad = torch.tanh(p.detach()) + 0.1 * noise


def rel_error(a, b):
    """max |a - b| / max |b| over all parameters together (a single element near zero
    would make a per-element ratio meaningless)."""
    diff = max((x - y).abs().max().item() for x, y in zip(a, b, strict=True))
    return diff / max(y.abs().max().item() for y in b)


def run_pair(name, kw, steps=100, groups=False, dtype=torch.float32, scheduler=None):
    ours, theirs = make_params(dtype), None
    theirs = twin(ours)
    if groups:  # two groups, the second with its own lr
        ours_arg = [{"params": ours[:2]}, {"params": ours[2:], "lr": 0.003}]
        theirs_arg = [{"params": theirs[:2]}, {"params": theirs[2:], "lr": 0.003}]
    else:
        ours_arg, theirs_arg = ours, theirs
    a = getattr(antigrad, name)(ours_arg, **kw)
    b = getattr(torch.optim, name)(theirs_arg, **kw)
    sa, sb = (scheduler(a), scheduler(b)) if scheduler else (None, None)
    for t in range(steps):
        set_grads(ours, t)
        set_grads(theirs, t)
        a.step()
        b.step()
        if sa:
            sa.step()
            sb.step()
    return ours, theirs, a, b


@pytest.mark.parametrize("name,kw", CASES, ids=[f"{n}-{kw}" for n, kw in CASES])
def test_same_numbers_as_torch(name, kw):
    ours, theirs, a, b = run_pair(name, kw)
    assert rel_error(ours, theirs) <= 1e-6
    for key in b.state[theirs[0]]:
        assert rel_error([a.state[p][key] for p in ours],
                         [b.state[q][key] for q in theirs]) <= 1e-5, key


@pytest.mark.parametrize("name", list(OPTIONS))
def test_several_groups_and_a_scheduler(name):
    kw = OPTIONS[name][1]
    ours, theirs, *_ = run_pair(
        name, kw, groups=True,
        scheduler=lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=30, gamma=0.3))
    assert rel_error(ours, theirs) <= 1e-6


@pytest.mark.parametrize("name", list(OPTIONS))
def test_reduce_on_plateau_changes_our_lr(name):
    p = make_params()
    opt = getattr(antigrad, name)(p, lr=0.01)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=1, factor=0.5)
    for _ in range(6):
        set_grads(p, 0)
        opt.step()
        sched.step(1.0)  # a flat validation loss: a plateau
    assert opt.param_groups[0]["lr"] < 0.01


@pytest.mark.parametrize("name", ["SGD", "Adagrad", "RMSprop", "Adam", "NAdam"])
def test_complex_parameters_like_torch(name):
    kw = OPTIONS[name][1]
    ours, theirs, *_ = run_pair(name, kw, steps=30, dtype=torch.complex64)
    assert rel_error(ours, theirs) <= 1e-6


@pytest.mark.parametrize("name", list(OPTIONS))
def test_float64_and_closure(name):
    kw = OPTIONS[name][0]
    ours, theirs = make_params(torch.float64), None
    theirs = twin(ours)
    a = getattr(antigrad, name)(ours, **kw)
    b = getattr(torch.optim, name)(theirs, **kw)
    for t in range(20):
        def closure(ps=ours, t=t):
            set_grads(ps, t)
            return torch.tensor(float(t))
        assert float(a.step(closure)) == t
        b.step(lambda ps=theirs, t=t: set_grads(ps, t))
    assert rel_error(ours, theirs) <= 1e-13  # NAdam sums its two terms in another order


@pytest.mark.parametrize("name,kw", [(n, OPTIONS[n][-1]) for n in OPTIONS])
def test_state_dict_round_trip_continues_bit_for_bit(name, kw):
    ref, _, ref_opt, _ = run_pair(name, kw, steps=20)
    params = make_params()
    opt = getattr(antigrad, name)(params, **kw)
    for t in range(10):
        set_grads(params, t)
        opt.step()
    buffer = io.BytesIO()
    torch.save(opt.state_dict(), buffer)
    buffer.seek(0)
    resumed = getattr(antigrad, name)(params, **kw)
    resumed.load_state_dict(torch.load(buffer))
    for t in range(10, 20):
        set_grads(params, t)
        resumed.step()
    for p, q in zip(params, ref, strict=True):
        assert torch.equal(p, q)


@pytest.mark.parametrize("name,kw", [(n, OPTIONS[n][-1]) for n in OPTIONS])
@pytest.mark.parametrize("direction", ["antigrad->torch", "torch->antigrad"])
def test_checkpoints_cross_load(name, kw, direction):
    ref, _, _, _ = run_pair(name, kw, steps=20)
    params = make_params()
    first, second = (antigrad, torch.optim) if direction == "antigrad->torch" else \
        (torch.optim, antigrad)
    opt = getattr(first, name)(params, **kw)
    for t in range(10):
        set_grads(params, t)
        opt.step()
    other = getattr(second, name)(params, **kw)
    other.load_state_dict(opt.state_dict())
    assert set(other.state_dict()["state"][0]) == set(opt.state_dict()["state"][0])
    for t in range(10, 20):
        set_grads(params, t)
        other.step()
    assert rel_error(params, ref) <= 1e-6


@pytest.mark.parametrize("name,kw,message", [
    ("SGD", dict(lr=-0.1), "Invalid lr value: -0.1"),
    ("SGD", dict(lr=0.1, momentum=-1), "Invalid momentum value: -1"),
    ("SGD", dict(lr=0.1, nesterov=True), "Invalid nesterov"),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "Invalid nesterov"),
    ("Adagrad", dict(lr_decay=-1), "Invalid lr_decay value: -1"),
    ("Adagrad", dict(initial_accumulator_value=-1), "Invalid initial_accumulator_value"),
    ("Adagrad", dict(eps=-1e-3), "Invalid eps"),
    ("RMSprop", dict(alpha=-0.5), "Invalid alpha value: -0.5"),
    ("RMSprop", dict(momentum=-0.5), "Invalid momentum"),
    ("Adam", dict(betas=(1.0, 0.999)),
     r"Invalid beta parameter at index 0: 1.0 \(beta1 must be in \[0, 1\)\)"),
    ("Adam", dict(betas=(0.9, -0.1)), "Invalid beta parameter at index 1: -0.1"),
    ("Adam", dict(eps=-1.0), "Invalid eps value: -1.0"),
    ("AdamW", dict(weight_decay=-1.0), "Invalid weight_decay value: -1.0"),
    ("NAdam", dict(momentum_decay=-1.0), "Invalid momentum_decay value: -1.0"),
    ("Adam", dict(lr=float("nan")), "Invalid lr value: nan"),
])
def test_invalid_hyperparameters_like_torch(name, kw, message):
    with pytest.raises(ValueError, match=message):
        getattr(antigrad, name)(make_params(), **kw)
    if "nan" not in message:  # torch accepts a NaN lr; we do not
        with pytest.raises(ValueError):
            getattr(torch.optim, name)(make_params(), **kw)


def test_wrong_types_are_named():
    with pytest.raises(TypeError, match="Invalid lr value: 'fast'"):
        antigrad.Adam(make_params(), lr="fast")


@pytest.mark.parametrize("name", ["Adam", "AdamW", "RMSprop", "NAdam"])
def test_capturable_on_the_cpu_is_refused_at_the_step_as_torch_refuses_it(name, monkeypatch):
    """capturable=True is accepted; on CPU parameters (no Triton interpreter) the first
    step raises torch's AssertionError, with its message, and changes nothing."""
    monkeypatch.setenv("ANTIGRAD_BACKEND", "auto")
    messages = []
    for cls in (getattr(antigrad, name), getattr(torch.optim, name)):
        params = make_params()
        before = [p.detach().clone() for p in params]
        opt = cls(params, capturable=True)
        for p in params:
            p.grad = torch.ones_like(p)
        with pytest.raises(AssertionError, match="If capturable=True, params") as err:
            opt.step()
        messages.append(str(err.value))
        assert all(torch.equal(p, b) for p, b in zip(params, before, strict=True))
    ours, theirs = messages
    assert ours.split(":")[1] in theirs  # the same list of devices


@pytest.mark.parametrize("flags", [dict(foreach=True), dict(fused=True), dict(foreach=False)])
def test_foreach_and_fused_are_accepted_and_change_nothing(flags):
    ours, theirs, *_ = run_pair("Adam", flags, steps=20)
    assert rel_error(ours, theirs) <= 1e-6


def test_empty_and_duplicate_parameters_rejected_like_torch():
    with pytest.raises(ValueError, match="empty parameter list"):
        antigrad.Adam([])
    p = torch.nn.Parameter(torch.zeros(2))
    with pytest.raises(ValueError, match="more than one parameter group"):
        antigrad.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        antigrad.SGD([p, p], lr=0.1)
    assert any("duplicate parameters" in str(w.message) for w in caught)


@pytest.mark.parametrize("name", [n for n in OPTIONS if n not in ("SGD", "Adagrad")])
def test_sparse_gradients_get_a_clear_error(name):
    emb = torch.nn.Embedding(10, 3, sparse=True)
    opt = getattr(antigrad, name)(emb.parameters(), lr=0.1)
    emb(torch.tensor([1, 2])).sum().backward()
    before = emb.weight.detach().clone()
    with pytest.raises(RuntimeError, match="does not support sparse gradients.*parameter 0"):
        opt.step()
    assert torch.equal(emb.weight, before)


def test_parameters_without_gradients_are_left_alone():
    a, b = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2))
    opt = antigrad.Adam([a, b], lr=0.1)
    a.grad = torch.ones(2)
    opt.step()
    assert torch.equal(b, torch.ones(2)) and b not in opt.state
    assert not torch.equal(a, torch.ones(2))


def test_named_parameters_like_torch():
    model = torch.nn.Linear(3, 2)
    opt = antigrad.Adam(model.named_parameters(), lr=0.1)
    assert opt.state_dict()["param_groups"][0]["param_names"] == ["weight", "bias"]


@pytest.mark.parametrize("name,kw", [c for c in CASES if c[0] != "NAdam"],
                         ids=[f"{n}-{kw}" for n, kw in CASES if n != "NAdam"])
def test_foreach_backend_is_bit_identical_to_torch(name, kw, monkeypatch):
    monkeypatch.setenv("ANTIGRAD_BACKEND", "foreach")
    ours, theirs, *_ = run_pair(name, kw, steps=30)
    assert all(torch.equal(p, q) for p, q in zip(ours, theirs, strict=True))


def test_tensor_learning_rate_like_torch():
    ours, theirs, *_ = run_pair("Adam", dict(lr=torch.tensor(0.01)), steps=5)
    assert rel_error(ours, theirs) <= 1e-6


def test_grad_scaler_skips_overflowing_steps_and_applies_the_rest():
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1)
    opt = antigrad.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**16)
    for i in range(3):
        opt.zero_grad()
        scaler.scale(model(torch.randn(8, 4)).pow(2).mean()).backward()
        if i == 1:
            model.weight.grad[0, 0] = float("inf")  # an overflow: the scaler must skip it
        before = model.weight.detach().clone()
        scaler.step(opt)
        scaler.update()
        assert torch.equal(model.weight, before) == (i == 1)
    assert scaler.get_scale() == 2.0**15


@pytest.mark.parametrize("how", ["deepcopy", "torch.save"])
@pytest.mark.parametrize("name,kw", [(n, OPTIONS[n][-1]) for n in OPTIONS])
def test_whole_optimizer_copies_are_independent_and_continue(name, kw, how):
    """copy.deepcopy(opt) and torch.save(opt) keep every option, and the copy's prepared
    kernels point at its own tensors, not the original's."""
    import copy

    ref, _, _, _ = run_pair(name, kw, steps=20)
    params = make_params()
    opt = getattr(antigrad, name)(params, nonfinite="skip", **kw)
    for t in range(10):
        set_grads(params, t)
        opt.step()
    if how == "deepcopy":
        clone = copy.deepcopy(opt)
    else:
        buffer = io.BytesIO()
        torch.save(opt, buffer)
        buffer.seek(0)
        clone = torch.load(buffer, weights_only=False)
    assert clone.nonfinite == "skip"
    cloned = clone.param_groups[0]["params"]
    frozen = [p.detach().clone() for p in params]
    for t in range(10, 20):
        set_grads(cloned, t)
        clone.step()
    for p, f in zip(params, frozen, strict=True):
        assert torch.equal(p, f)  # the original did not move
    assert rel_error(cloned, ref) == 0


@pytest.mark.parametrize("kw", OPTIONS["NAdam"])
def test_nadam_mu_product_rounds_as_torch(kw):
    """torch multiplies the float32 `mu_product` tensor by mu in float32 (mu rounded
    first); a product rounded once drifts by ~1e-11 in float64 parameters."""
    ours, theirs, a, b = run_pair("NAdam", kw, steps=30, dtype=torch.float64)
    assert rel_error(ours, theirs) <= 1e-13
    for p, q in zip(ours, theirs, strict=True):
        assert a.state[p]["mu_product"].item() == b.state[q]["mu_product"].item()


@pytest.mark.parametrize("name", list(OPTIONS))
def test_numpy_and_other_real_numbers_are_accepted_as_torch(name):
    import fractions

    import numpy as np
    for value in (np.float32(1e-3), np.float64(1e-3), np.int64(0), fractions.Fraction(1, 1000)):
        kw = dict(lr=value, weight_decay=np.float32(0.01))
        if name in ("Adam", "AdamW", "NAdam"):
            kw.update(betas=(np.float32(0.9), np.float64(0.99)), eps=np.float32(1e-8))
        if name in ("SGD", "RMSprop"):
            kw.update(momentum=np.float32(0.5))
        ours = getattr(antigrad, name)(make_params(), **kw)
        ps = ours.param_groups[0]["params"]
        set_grads(ps, 0)
        ours.step()
        assert all(torch.isfinite(p).all() for p in ps)


@pytest.mark.parametrize("name", list(OPTIONS))
def test_torchs_error_inputs_raise_the_same_exceptions(name):
    """Every construction error of torch's own optimizer test database (CPU): torch's
    exception type, and a message that torch's regex matches."""
    from torch.testing._internal.common_optimizers import OptimizerErrorEnum, optim_db
    info = next(i for i in optim_db if i.optim_cls is getattr(torch.optim, name))
    checked = 0
    for err in info.optim_error_inputs_func(device="cpu", dtype=torch.float32):
        if err.error_on != OptimizerErrorEnum.CONSTRUCTION_ERROR:
            continue
        inp = err.optimizer_error_input
        params = inp.params if inp.params is not None else make_params()
        expect = pytest.warns if issubclass(err.error_type, Warning) else pytest.raises
        with expect(err.error_type, match=err.error_regex):
            getattr(antigrad, name)(params, **inp.kwargs)
        checked += 1
    assert checked >= 5


@pytest.mark.parametrize("name", list(OPTIONS))
def test_none_params_and_fused_meta_raise_as_torch(name):
    with pytest.raises(TypeError):
        getattr(antigrad, name)(None)
    if name in ("SGD", "Adam", "AdamW", "Adagrad"):  # the classes with fused=True
        with pytest.raises(RuntimeError):
            getattr(antigrad, name)(make_params(), fused=True, foreach=True)
        p = torch.nn.Parameter(torch.ones(2, device="meta"))
        opt = getattr(antigrad, name)([p], lr=0.1, fused=True, nonfinite="ignore")
        p.grad = torch.ones(2, device="meta")
        with pytest.raises(RuntimeError, match="`fused=True` requires all the params to be "
                           "floating point Tensors") as raised:
            opt.step()
        assert "Invalid fused value: True" in str(raised.value)
        assert "dtype torch.float32 on device meta" in str(raised.value)


@pytest.mark.parametrize("name,kw,message", [
    ("SGD", dict(lr=0.1, momentum=-0.5), r"^Invalid momentum value: -0.5 \(must be >= 0\)$"),
    ("Adam", dict(betas=(1.0, 0.0)),
     r"^Invalid beta parameter at index 0: 1.0 \(beta1 must be in \[0, 1\)\)$"),
    ("Adam", dict(lr=torch.tensor([1e-3, 1e-3])),
     r"^Invalid lr value: a tensor of shape \(2,\) \(Tensor lr must be 1-element\)$"),
    ("Adam", dict(betas=(0.9, torch.tensor(0.99))),
     r"^Invalid betas value: \(0.9, tensor\(0.99.*\(betas must be either both floats or both "
     r"Tensors\)$"),
    ("AdamW", dict(lr=torch.tensor(1e-3), foreach=True),
     r"^Invalid lr value: a tensor with foreach=True \(lr as a Tensor is not supported for "
     r"capturable=False and foreach=True, as in torch.optim; pass a float or foreach=False\)$"),
    ("Adam", dict(betas=(torch.tensor(0.9), torch.tensor(0.99)), foreach=True),
     r"^Invalid betas\[0\] value: a tensor with foreach=True \(betas\[0\] as a Tensor"),
    ("Adagrad", dict(lr_decay=-0.5), r"^Invalid lr_decay value: -0.5 \(must be >= 0\)$"),
    ("NAdam", dict(momentum_decay=-0.2), r"^Invalid momentum_decay value: -0.2 \(must be >= 0\)$"),
    ("Adam", dict(weight_decay=-1), r"^Invalid weight_decay value: -1 \(must be >= 0\)$"),
])
def test_messages_read_as_torchs_and_say_why(name, kw, message):
    """torch's wording first (its regexes match), then what the value must be."""
    with pytest.raises(ValueError, match=message):
        getattr(antigrad, name)(make_params(), **kw)


@pytest.mark.parametrize("name", list(OPTIONS))
def test_an_antigrad_optimizer_is_an_instance_of_its_torch_twin(name):
    p = torch.nn.Parameter(torch.ones(3))
    opt = getattr(antigrad, name)([p], lr=0.1)
    assert isinstance(opt, getattr(torch.optim, name))
    assert isinstance(opt, antigrad.ChainOptimizer) and type(opt).__name__ == name
    calls = []
    opt.register_step_post_hook(lambda *_: calls.append(1))
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    p.grad = torch.ones(3)
    opt.step()
    sched.step()
    assert calls == [1] and opt.param_groups[0]["lr"] == 0.05
    theirs = getattr(torch.optim, name)([torch.nn.Parameter(torch.ones(3))], lr=0.1)
    theirs.load_state_dict(opt.state_dict())  # still torch's format


@pytest.mark.parametrize("name,kw", CASES, ids=[f"{n}-{kw}" for n, kw in CASES])
def test_old_checkpoints_load_and_step_as_in_torch(name, kw):
    """A state dict of an older torch: no maximize/foreach/differentiable/fused/capturable
    in its param groups, and ``step`` a plain number."""
    ours, _, a, _ = run_pair(name, kw, steps=3)
    sd = copy.deepcopy(a.state_dict())
    for group in sd["param_groups"]:
        for key in ("maximize", "foreach", "differentiable", "fused", "capturable"):
            group.pop(key, None)
    for state in sd["state"].values():
        if "step" in state:
            state["step"] = float(state["step"])
    ps, qs = make_params(seed=1), make_params(seed=1)
    mine = getattr(antigrad, name)(ps, **kw)
    ref = getattr(torch.optim, name)(qs, **kw)
    mine.load_state_dict(copy.deepcopy(sd))
    ref.load_state_dict(copy.deepcopy(sd))
    for t in range(3):
        set_grads(ps, t)
        set_grads(qs, t)
        mine.step()
        ref.step()
    assert rel_error(ps, qs) <= 1e-6
    assert mine.param_groups[0]["maximize"] == ref.param_groups[0]["maximize"]


def test_sgd_without_momentum_keeps_no_state_entry_as_torch():
    ours, theirs, a, b = run_pair("SGD", dict(lr=0.05), steps=3)
    assert a.state_dict()["state"] == b.state_dict()["state"] == {}
    assert len(a.state) == len(b.state) == 0
    sd = a.state_dict()
    torch.optim.SGD(twin(ours), lr=0.05).load_state_dict(sd)


@pytest.mark.parametrize("name", list(OPTIONS))
def test_nonfinite_gradients_are_applied_by_default_as_torch(name):
    ps, qs = make_params(), make_params()
    a = getattr(antigrad, name)(ps, lr=0.1)
    b = getattr(torch.optim, name)(qs, lr=0.1)
    assert a.nonfinite == "ignore" and not a.nonfinite_chosen
    for t in range(3):
        set_grads(ps, t)
        set_grads(qs, t)
        if t == 1:
            for x in (ps, qs):
                x[0].grad[0, 0], x[1].grad[2] = float("nan"), float("inf")
        a.step()
        b.step()
    for p, q in zip(ps, qs, strict=True):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7, equal_nan=True)
    assert ps[0].isnan().any()
    strict = getattr(antigrad, name)(make_params(), lr=0.1, nonfinite="raise")
    assert strict.nonfinite == "raise" and strict.nonfinite_chosen


# Half precision on the CPU: torch's default there is its for-loop path, foreach=True its
# foreach path; each rounds differently in bfloat16/float16. NAdam and Adagrad issue other
# ops than torch on one or both paths (docs/methods.md): their measured bounds after 16 steps.
HALF_CASES = [*CASES, ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.1))]
HALF_BOUND = {("NAdam", torch.bfloat16): 5.5e-3, ("NAdam", torch.float16): 3.7e-3,
              ("Adagrad", torch.bfloat16): 5.0e-3, ("Adagrad", torch.float16): 6.2e-4}


def assert_half_matches(ours, theirs, bound):
    """Bit for bit (the same inf and NaN where float16's eps=1e-8 underflows), or, with a
    bound, the same non-finite entries and a relative difference within it."""
    finite = [x.isfinite() & y.isfinite() for x, y in zip(ours, theirs, strict=True)]
    for x, y, f in zip(ours, theirs, finite, strict=True):
        torch.testing.assert_close(x[~f], y[~f], rtol=0, atol=0, equal_nan=True)
    if bound is None:
        for x, y in zip(ours, theirs, strict=True):
            torch.testing.assert_close(x, y, rtol=0, atol=0, equal_nan=True)
    else:
        assert rel_error([x[f] for x, f in zip(ours, finite, strict=True)],
                         [y[f] for y, f in zip(theirs, finite, strict=True)]) <= bound


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("name,kw", HALF_CASES, ids=[f"{n}-{kw}" for n, kw in HALF_CASES])
def test_half_precision_on_the_cpu_follows_torchs_default_for_loop(name, kw, dtype):
    ours, theirs, *_ = run_pair(name, kw, steps=16, dtype=dtype)
    assert_half_matches(ours, theirs, HALF_BOUND.get((name, dtype)) if name == "NAdam" else None)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("name,kw", HALF_CASES, ids=[f"{n}-{kw}" for n, kw in HALF_CASES])
def test_half_precision_with_foreach_true_follows_torchs_foreach_path(name, kw, dtype):
    ours, theirs, *_ = run_pair(name, dict(kw, foreach=True), steps=16, dtype=dtype)
    assert_half_matches(ours, theirs, HALF_BOUND.get((name, dtype)))


def test_each_param_group_takes_its_own_path_in_half_precision():
    """One group on torch's default for-loop path, the other with foreach=True: the same
    bfloat16 parameters, each group bit-identical to torch's."""
    ours = make_params(torch.bfloat16)
    theirs = twin(ours)

    def groups(ps):
        return [{"params": ps[:2]}, {"params": ps[2:], "foreach": True}]

    a = antigrad.SGD(groups(ours), lr=0.05, momentum=0.9, nesterov=True)
    b = torch.optim.SGD(groups(theirs), lr=0.05, momentum=0.9, nesterov=True)
    for t in range(16):
        set_grads(ours, t)
        set_grads(theirs, t)
        a.step()
        b.step()
    assert all(torch.equal(p, q) for p, q in zip(ours, theirs, strict=True))
