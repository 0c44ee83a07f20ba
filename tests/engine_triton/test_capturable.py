"""capturable=True and tensor hyperparameters on the Triton backend: every per-step scalar
computed on the device (stacked ``step`` tensors, tensor ``lr``), read by the kernel from
device memory, nothing read back. Compared with torch's own capturable branches, which
torch runs only on GPUs: the tests let them run on CPU tensors by widening the list of
devices torch checks against (the arithmetic is the same code)."""

import importlib

import pytest
import torch

import antigrad
from antigrad.engine import tritonkernel
from host_reads import HostReadForbidden
from triton_helpers import (
    assert_state_matches,
    capturable_twins,
    feed,
    make,
    rel_error,
    step_together,
    twin,
)

TORCH_MODULES = ("adam", "adamw", "nadam", "rmsprop")


@pytest.fixture(autouse=True)
def _torch_capturable_on_cpu(monkeypatch):
    """torch.optim's capturable branches, allowed on CPU tensors (see the module doc)."""
    for name in TORCH_MODULES:
        module = importlib.import_module(f"torch.optim.{name}")
        if hasattr(module, "_get_capturable_supported_devices"):
            monkeypatch.setattr(module, "_get_capturable_supported_devices",
                                lambda supports_xla=True: ["cpu", "cuda"])


CASES = [
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.1)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1)),
    ("NAdam", dict(lr=0.01)),
    ("NAdam", dict(lr=0.01, decoupled_weight_decay=True, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, momentum=0.9, centered=True)),
]


def _bucket(opt):
    bucket, = opt.planner.buckets
    assert isinstance(bucket.bound, tritonkernel.Bound)
    return bucket


@pytest.mark.parametrize("torch_foreach", [False, True])
@pytest.mark.parametrize("name,options", CASES)
def test_matches_torch_capturable(name, options, torch_foreach):
    params, theirs, ours, ref = capturable_twins(name, options, torch_foreach=torch_foreach)
    step_together(ours, ref, params, theirs, 6)
    assert _bucket(ours).stale  # the scalars were computed on the device
    assert rel_error(params, theirs) <= 1e-6
    assert_state_matches(ours, ref, params, theirs)


def test_a_tensor_lr_is_never_read_on_the_host():
    """The learning rate is a tensor that fails on any host read (item, float, tolist...):
    the steps still run, and match torch with the same learning rates."""
    params = make(torch.float32)
    theirs = twin(params)
    ours = antigrad.Adam(params, lr=torch.tensor(0.01))
    ref = torch.optim.Adam(theirs, lr=torch.tensor(0.01))
    feed(0, params, theirs)
    ours.step()  # builds the buckets
    ref.step()
    for t, lr in enumerate((0.02, 0.005, 0.001), start=1):
        ours.param_groups[0]["lr"] = torch.tensor(lr).as_subclass(HostReadForbidden)
        ref.param_groups[0]["lr"].fill_(lr)
        feed(t, params, theirs)
        ours.step()
        ref.step()
    with pytest.raises(AssertionError, match="host read"):  # the guard does guard
        float(ours.param_groups[0]["lr"] * 2)
    assert rel_error(params, theirs) <= 1e-6


def test_a_tensor_lr_changed_in_place_by_a_scheduler():
    params = make(torch.float32)
    theirs = twin(params)
    ours = antigrad.AdamW(params, lr=torch.tensor(0.01), capturable=True)
    ref = torch.optim.AdamW(theirs, lr=torch.tensor(0.01), capturable=True)
    sa = torch.optim.lr_scheduler.StepLR(ours, step_size=2, gamma=0.5)
    sb = torch.optim.lr_scheduler.StepLR(ref, step_size=2, gamma=0.5)
    for t in range(6):
        feed(t, params, theirs)
        ours.step()
        ref.step()
        sa.step()
        sb.step()
    assert float(ours.param_groups[0]["lr"]) == float(ref.param_groups[0]["lr"]) != 0.01
    assert rel_error(params, theirs) <= 1e-6


def test_no_new_kernel_while_scalars_change_on_the_device():
    params = make(torch.float32)
    ours = antigrad.Adam(params, lr=torch.tensor(0.01), capturable=True)
    seen = None
    for t in range(5):
        ours.param_groups[0]["lr"].fill_(0.01 / (1 + t))
        feed(t, params)
        ours.step()
        if t == 0:
            seen = (set(tritonkernel.signatures), dict(tritonkernel._modules))
        assert set(tritonkernel.signatures) == seen[0]
        assert tritonkernel._modules == seen[1]
    # The gradients did not move: their addresses and rows were uploaded once, per set.
    assert len(_bucket(ours).bound.kept) <= 4


def test_state_dict_moves_between_antigrad_and_torch_capturable():
    params, theirs, ours, ref = capturable_twins("Adam", dict(lr=0.01), split=False)
    step_together(ours, ref, params, theirs, 3)
    saved = ours.state_dict()
    assert saved["state"][0]["step"].dtype == torch.float32
    # Each loads the other's state, then both continue: the same numbers as before.
    ours.load_state_dict(ref.state_dict())
    ref.load_state_dict(saved)
    step_together(ours, ref, params, theirs, 3, start=3)
    assert float(ours.state[params[0]]["step"]) == float(ref.state[theirs[0]]["step"]) == 6.0
    assert rel_error(params, theirs) <= 1e-6


def test_parameters_that_skip_steps_keep_their_step_on_the_device():
    params, theirs, ours, ref = capturable_twins("NAdam", dict(lr=0.01), split=False)
    for t in range(4):
        feed(t, params, theirs)
        if t in (1, 2):
            params[1].grad = theirs[1].grad = None
        ours.step()
        ref.step()
    assert float(ours.state[params[1]]["step"]) == 2.0
    # torch's capturable NAdam computes mu in float32, antigrad in float64 then rounds it.
    mine, theirs_mu = (float(o.state[ps[1]]["mu_product"]) for o, ps in ((ours, params),
                                                                         (ref, theirs)))
    assert mine != 1.0 and abs(mine - theirs_mu) <= 1e-6 * theirs_mu
    assert rel_error(params, theirs) <= 1e-6


def test_a_refused_step_advances_nothing_on_the_device():
    params = make(torch.float32)
    theirs = twin(params)
    ours = antigrad.Adam(params, lr=0.01, capturable=True, nonfinite="skip")
    ref = torch.optim.Adam(theirs, lr=0.01, capturable=True)
    for t in range(4):
        feed(t, params)
        if t == 2:
            params[0].grad[0, 0] = float("nan")
        else:
            feed(t, theirs)
            ref.step()
        ours.step()
    assert ours.skipped_steps == 1
    assert float(ours.state[params[0]]["step"]) == 3.0
    assert rel_error(params, theirs) <= 1e-6


def test_back_to_python_scalars_after_device_ones():
    """A group that stops computing its scalars on the device (its tensor lr replaced by a
    number) reads its step counts again and goes on as torch does."""
    params = make(torch.float32)
    theirs = twin(params)
    ours = antigrad.Adam(params, lr=torch.tensor(0.01))
    ref = torch.optim.Adam(theirs, lr=0.01)
    for t in range(5):
        if t == 3:
            ours.param_groups[0]["lr"] = 0.01
        feed(t, params, theirs)
        ours.step()
        ref.step()
    assert not _bucket(ours).stale
    assert float(ours.state[params[0]]["step"]) == 5.0
    assert rel_error(params, theirs) <= 1e-6


@pytest.mark.parametrize("name,options", [*CASES, ("SGD", dict(lr=0.01, momentum=0.9))])
def test_device_scalars_give_the_bits_of_the_python_ones(name, options):
    """Computed on the device (a tensor lr) or in Python (the same lr as a number), the
    scalars are the same float64 numbers: the kernel writes the same bits."""
    params = make(torch.float32)
    theirs = twin(params)
    lr = torch.tensor(options["lr"])
    ours = getattr(antigrad, name)(params, **{**options, "lr": lr})
    ref = getattr(antigrad, name)(theirs, **{**options, "lr": float(lr)})
    step_together(ours, ref, params, theirs, 5)
    assert _bucket(ours).stale and not _bucket(ref).stale
    assert all(torch.equal(p, q) for p, q in zip(params, theirs, strict=True))
    for p, q in zip(params, theirs, strict=True):
        assert all(torch.equal(ours.state[p][k], v) for k, v in ref.state[q].items())


def test_an_upload_captured_in_a_graph_is_never_rewritten_nor_dropped(monkeypatch):
    """A captured copy reads its host buffer again on each replay: the buffer used during
    a capture is one allocated before it, and it stays as it was while others come and go."""
    kept = tritonkernel.KeptUploads(2, torch.device("cpu"))
    spare = kept.spare
    monkeypatch.setattr(tritonkernel, "capturing_on", lambda device: True)
    captured = kept.get((1, 2))
    assert captured is spare and kept.spare is None
    monkeypatch.setattr(tritonkernel, "capturing_on", lambda device: False)
    for i in range(10):
        kept.get((3, i))
    assert kept.get((1, 2)) is captured and captured.tolist() == [1, 2]
    assert len(kept) == 1 + kept.LIMIT and kept.spare is not None
