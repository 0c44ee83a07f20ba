"""capturable=True off the Triton backend: the step's scalars computed on the device by
the same formulas, the update on the eager backend with them as 0-d tensors. torch (and
antigrad, as torch) refuse capturable on the CPU; these tests widen both lists of devices
so that the device-side arithmetic runs on CPU tensors and can be compared with torch's
own capturable branches (the same code torch runs on a GPU)."""

import importlib

import pytest
import torch

import antigrad
from antigrad.engine import capturable
from host_reads import HostReadForbidden
from triton_helpers import assert_state_matches, capturable_twins, feed, make, rel_error, twin


@pytest.fixture(autouse=True)
def _capturable_on_cpu(monkeypatch):
    monkeypatch.setenv("ANTIGRAD_BACKEND", "auto")  # the CPU's own backend, not Triton
    cpu_too = lambda supports_xla=True: ["cpu", "cuda"]  # noqa: E731
    monkeypatch.setattr(capturable, "_get_capturable_supported_devices", cpu_too)
    for name in ("adam", "nadam", "rmsprop"):
        monkeypatch.setattr(importlib.import_module(f"torch.optim.{name}"),
                            "_get_capturable_supported_devices", cpu_too)


CASES = [
    ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.1)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1)),
    ("NAdam", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, momentum=0.9, centered=True)),
]


@pytest.mark.parametrize("torch_foreach", [False, True])
@pytest.mark.parametrize("name,options", CASES)
def test_matches_torch_capturable(name, options, torch_foreach):
    params, theirs, ours, ref = capturable_twins(name, options, torch_foreach=torch_foreach)
    buckets = None
    for t in range(6):
        feed(t, params, theirs)
        if t == 2:  # one sits a step out: its own step count
            params[1].grad = theirs[1].grad = None
        ours.step()
        ref.step()
        buckets = buckets or list(ours.planner.buckets)
    assert ours.planner.buckets == buckets  # kept: its own writes do not invalidate it
    assert buckets[0].stale  # the scalars were computed on the device
    assert rel_error(params, theirs) <= 1e-6
    assert_state_matches(ours, ref, params, theirs)


def test_a_capturable_tensor_lr_is_never_read_on_the_host():
    params = make(torch.float32)
    theirs = twin(params)
    ours = antigrad.Adam(params, lr=torch.tensor(0.01), capturable=True)
    ref = torch.optim.Adam(theirs, lr=torch.tensor(0.01), capturable=True)
    feed(0, params, theirs)
    ours.step()  # builds the buckets (reading the step counts once)
    ref.step()
    for t, lr in enumerate((0.02, 0.005), start=1):
        ours.param_groups[0]["lr"] = torch.tensor(lr).as_subclass(HostReadForbidden)
        ref.param_groups[0]["lr"].fill_(lr)
        feed(t, params, theirs)
        ours.step()
        ref.step()
    assert rel_error(params, theirs) <= 1e-6


def test_a_refused_step_writes_nothing():
    params = make(torch.float32)
    ours = antigrad.Adam(params, lr=0.01, capturable=True, nonfinite="skip")
    feed(0, params)
    ours.step()
    before = [p.detach().clone() for p in params], {k: v.clone() for k, v in
                                                     ours.state[params[0]].items()}
    feed(1, params)
    params[1].grad[0] = float("nan")
    ours.step()
    assert ours.skipped_steps == 1
    assert all(torch.equal(p, b) for p, b in zip(params, before[0], strict=True))
    assert all(torch.equal(ours.state[params[0]][k], v) for k, v in before[1].items())


def test_without_the_widened_list_the_cpu_is_refused_as_torch_refuses_it(monkeypatch):
    monkeypatch.undo()
    monkeypatch.setenv("ANTIGRAD_BACKEND", "auto")
    params = make(torch.float32)
    ours = antigrad.Adam(params, capturable=True)
    feed(0, params)
    with pytest.raises(AssertionError, match="If capturable=True, params and state_steps"):
        ours.step()


@pytest.mark.parametrize("options,message", [
    (dict(capturable=False), "capturable is False"),
    (dict(capturable=True, nonfinite="raise"), "nonfinite='raise'"),
    (dict(capturable=True), None),
])
def test_a_step_that_could_not_be_replayed_is_refused_while_capturing(monkeypatch, options,
                                                                        message):
    """Under CUDA-graph capture (simulated: no GPU here) a step whose values would be baked
    into the graph or read on the host raises before anything is written; a capturable
    one steps."""
    params = make(torch.float32)
    ours = antigrad.Adam(params, lr=0.01, **options)
    feed(0, params)
    before = [p.detach().clone() for p in params]
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_current_stream_capturing", lambda: True)
    if message is None:  # capturable, nothing checked on the host: it steps
        ours.step()
        assert not any(torch.equal(p, b) for p, b in zip(params, before, strict=True))
        return
    with pytest.raises(RuntimeError, match=message):
        ours.step()
    assert all(torch.equal(p, b) for p, b in zip(params, before, strict=True))
