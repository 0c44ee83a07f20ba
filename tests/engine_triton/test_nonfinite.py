"""A NaN/inf gradient on the Triton backend: checked on the device into a flag the update
kernel reads, so nothing is written, and reported when the host next needs the verdict."""

import pytest
import torch

import antigrad
from antigrad import NonFiniteGradientError
from antigrad.engine import tritonkernel
from triton_helpers import backend, grads, make, twin

BAD = 1  # the step whose gradient holds a NaN


def _groups(params):
    return [{"params": params[:1]}, {"params": params[1:], "lr": 0.003}]


def _snapshot(opt, params):
    return [p.detach().clone() for p in params] + [
        v.clone() for p in params for v in opt.state[p].values()]


def _same(a, b):
    return len(a) == len(b) and all(torch.equal(x, y) or (x.isnan() == y.isnan()).all()
                                    and torch.equal(x.nan_to_num(), y.nan_to_num())
                                    for x, y in zip(a, b, strict=True))


def _step(opt, params, t, value=float("nan")):
    for p, g in zip(params, grads(params, t), strict=True):
        p.grad = g
    if t == BAD:
        params[2].grad[1, 0, 1] = value
    opt.step()


def _torch_run(start, steps, skip_bad):
    ref = twin(start)
    opt = torch.optim.Adam(_groups(ref), lr=0.01)
    for t in range(steps):
        if skip_bad and t == BAD:
            continue
        _step(opt, ref, t)
    return ref


def test_ignore_applies_the_step_as_torch():
    params = make(torch.float32)
    start = twin(params)
    opt = antigrad.Adam(_groups(params), lr=0.01, nonfinite="ignore")
    for t in range(3):
        _step(opt, params, t)
    ref = _torch_run(start, 3, skip_bad=False)
    assert params[2].isnan().any()
    for p, q in zip(params, ref, strict=True):
        torch.testing.assert_close(p, q, equal_nan=True, rtol=1e-6, atol=1e-7)


def test_skip_writes_nothing_and_counts_without_waiting():
    params = make(torch.float32)
    start = twin(params)
    opt = antigrad.Adam(_groups(params), lr=0.01, nonfinite="skip")
    _step(opt, params, 0)
    before = _snapshot(opt, params)
    _step(opt, params, BAD)
    assert opt._nonfinite.pending  # the verdict is still on the device
    assert _same(_snapshot(opt, params), before)  # nothing written: parameters, state, step
    assert opt.skipped_steps == 1
    for t in (2, 3):
        _step(opt, params, t)
    assert opt.skipped_steps == 1
    assert float(opt.state[params[0]]["step"]) == 3.0
    ref = _torch_run(start, 4, skip_bad=True)
    for p, q in zip(params, ref, strict=True):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("surface", ["synchronize", "step", "state_dict"])
def test_raise_surfaces_at_the_next_sync_point_and_nothing_was_written(surface):
    params = make(torch.float32)
    start = twin(params)
    opt = antigrad.Adam(_groups(params), lr=0.01, nonfinite="raise")
    _step(opt, params, 0)
    before = _snapshot(opt, params)
    _step(opt, params, BAD)  # returns: the host did not wait for the check
    assert _same(_snapshot(opt, params), before)
    with pytest.raises(NonFiniteGradientError,
                       match=r"parameter 1 in param group 1 \(shape \(2, 2, 2\)\) contained NaN"):
        if surface == "step":
            _step(opt, params, 2)  # this call writes nothing either
        elif surface == "state_dict":
            opt.state_dict()
        else:
            opt.synchronize()
    assert _same(_snapshot(opt, params), before)
    opt.synchronize()  # settled once: nothing pending any more
    for t in (2, 3):
        _step(opt, params, t)
    ref = _torch_run(start, 4, skip_bad=True)
    for p, q in zip(params, ref, strict=True):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)


def test_infinity_is_named():
    params = make(torch.float32)
    opt = antigrad.Adam(_groups(params), lr=0.01, nonfinite="raise")
    _step(opt, params, 0)
    _step(opt, params, BAD, value=float("-inf"))
    with pytest.raises(NonFiniteGradientError, match="contained infinity"):
        opt.synchronize()


def test_one_flag_for_all_buckets():
    """Two buckets (float32 and bfloat16): a NaN in the second bucket's gradients stops
    the first bucket's update too, because every check runs before any update."""
    params = make(torch.float32) + make(torch.bfloat16, seed=1)
    opt = antigrad.Adam(params, lr=0.01, nonfinite="raise")
    for p, g in zip(params, grads(params, 0), strict=True):
        p.grad = g
    opt.step()
    assert len(opt.planner.buckets) == 2
    assert all(isinstance(b.bound, tritonkernel.Bound) for b in opt.planner.buckets)
    before = _snapshot(opt, params)
    for p, g in zip(params, grads(params, 1), strict=True):
        p.grad = g
    params[4].grad[0] = float("nan")
    opt.step()
    with pytest.raises(NonFiniteGradientError, match="parameter 4 in param group 0"):
        opt.synchronize()
    assert _same(_snapshot(opt, params), before)


def test_the_textbook_face_raises_too():
    w = torch.nn.Parameter(torch.ones(4))
    opt = antigrad.textbook.Adam([w], lr=0.1)
    w.grad = torch.ones(4)
    opt.step()
    w.grad = torch.tensor([1.0, float("nan"), 1.0, 1.0])
    opt.step()
    with pytest.raises(NonFiniteGradientError):
        opt.synchronize()
    assert float(opt.state[w]["step"]) == 1.0


def test_forced_triton_on_the_cpu_needs_the_interpreter(monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET")
    w = torch.nn.Parameter(torch.ones(3))
    w.grad = torch.ones(3)
    with pytest.raises(RuntimeError, match="TRITON_INTERPRET=1"):
        antigrad.Adam([w]).step()
    with backend("foreach"):  # nothing was half-done: another backend takes over
        opt = antigrad.Adam([w])
        opt.step()
    assert float(opt.state[w]["step"]) == 1.0


class _NaNOnSecondCall(torch.nn.Module):
    """A finite loss whose gradient is NaN on the second call: 0 * sqrt(|w - w|)."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(2, 1)
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        out = self.lin(x) + 0.0 * self.w
        if self.calls == 2:
            out = out + 0.0 * (self.w - self.w.detach()).abs().sqrt()
        return out


def test_fit_raises_at_the_refused_step():
    """fit waits for every step's loss anyway, so it settles the device's verdict there:
    the step with the NaN gradient raises (not the next one), as on the CPU backends."""
    torch.manual_seed(0)
    model = _NaNOnSecondCall()
    x, y = torch.randn(8, 2), torch.randn(8, 1)
    with pytest.raises(NonFiniteGradientError):
        antigrad.fit(model, torch.nn.functional.mse_loss, (x, y), lr=0.1, steps=3,
                     progress=False)
    assert model.calls == 2
