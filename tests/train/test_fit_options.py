"""fit's loop options: device, gradient clipping, mixed precision, gradient accumulation."""

import pytest
import torch
from torch.nn.functional import mse_loss

import antigrad
from antigrad.train import Callback


def problem(n=70, d=3, dtype=torch.float64):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, d, generator=g, dtype=dtype)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]], dtype=dtype) + 0.3 * torch.randn(
        n, 1, generator=g, dtype=dtype)
    return x, y


def linear(dtype=torch.float64):
    torch.manual_seed(0)
    return torch.nn.Linear(3, 1).to(dtype)


# ---------------------------------------------------------------- device
class Seen(Exception):
    pass


class RecordDevices(torch.nn.Linear):
    def forward(self, x):
        raise Seen(x.device, self.weight.device)


def test_device_moves_the_model_and_every_batch():
    # Training on the meta device cannot finish (a loss there has no value), but the first
    # forward shows where fit put the model and the batch.
    with pytest.raises(Seen) as seen:
        antigrad.fit(RecordDevices(3, 1), mse_loss, problem(), lr=0.1, steps=1,
                     device="meta", progress=False)
    assert seen.value.args == (torch.device("meta"), torch.device("meta"))


def test_device_cpu_trains_as_without_it():
    a = antigrad.fit(linear(), mse_loss, problem(), lr=0.1, steps=5, progress=False)
    b = antigrad.fit(linear(), mse_loss, problem(), lr=0.1, steps=5, device="cpu",
                     progress=False)
    assert a.history == b.history


@pytest.mark.parametrize("device, error", [(3, TypeError), ("nonsense", ValueError)])
def test_a_bad_device_is_refused(device, error):
    with pytest.raises(error, match="Invalid device"):
        antigrad.fit(linear(), mse_loss, problem(), lr=0.1, steps=1, device=device,
                     progress=False)


# ---------------------------------------------------------------- clipping
def reference(clip, steps=5, lr=0.5):
    """The same full-batch run written by hand with torch's clipping."""
    x, y = problem()
    model = linear()
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    norms = []
    for _ in range(steps):
        opt.zero_grad()
        mse_loss(model(x), y).backward()
        clip(model.parameters())
        norms.append(float(torch.linalg.vector_norm(
            torch.cat([p.grad.reshape(-1) for p in model.parameters()]))))
        opt.step()
    return model, norms


@pytest.mark.parametrize("option, clip", [
    ({"clip_grad_norm": 0.5}, lambda p: torch.nn.utils.clip_grad_norm_(p, 0.5)),
    ({"clip_grad_value": 0.2}, lambda p: torch.nn.utils.clip_grad_value_(p, 0.2)),
])
def test_clipping_matches_torch_and_logs_the_norm_before_and_after(option, clip):
    r = antigrad.fit(linear(), mse_loss, problem(), optimizer=torch.optim.SGD, lr=0.5,
                     steps=5, progress=False, track=["grad_norm"], **option)
    model, norms = reference(clip)
    torch.testing.assert_close(r.model.weight, model.weight, rtol=0, atol=1e-14)
    assert r.history["grad_norm_clipped"] == pytest.approx(norms, rel=1e-12)
    before = r.history["grad_norm"]
    assert all(b > c for b, c in zip(before, norms, strict=True))   # clipping was active
    if "clip_grad_norm" in option:
        assert max(norms) <= 0.5 + 1e-12


@pytest.mark.parametrize("name, value, error", [
    ("clip_grad_norm", 0.0, ValueError), ("clip_grad_value", -1, ValueError),
    ("clip_grad_norm", float("inf"), ValueError), ("clip_grad_value", "1", TypeError)])
def test_bad_clipping_limits_are_refused(name, value, error):
    with pytest.raises(error, match=f"Invalid {name}"):
        antigrad.fit(linear(), mse_loss, problem(), lr=0.1, steps=1, progress=False,
                     **{name: value})


# ---------------------------------------------------------------- accumulation
def test_accumulation_equals_batches_k_times_larger():
    # 70 examples: batches of 8 grouped by 4 are batches of 32, 32 and a last one of 6.
    kwargs = dict(optimizer=torch.optim.SGD, lr=0.1, epochs=3, progress=False)
    big = antigrad.fit(linear(), mse_loss, problem(), batch_size=32, **kwargs)
    acc = antigrad.fit(linear(), mse_loss, problem(), batch_size=8, accumulate=4, **kwargs)
    assert acc.steps == big.steps == 9
    assert acc.history["loss"] == pytest.approx(big.history["loss"], rel=1e-13)
    assert acc.history["train_loss"] == pytest.approx(big.history["train_loss"], rel=1e-13)
    for a, b in zip(acc.model.parameters(), big.model.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-14)


def test_accumulation_over_a_dataloader_counts_optimizer_steps():
    x, y = problem(n=64)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=4)
    r = antigrad.fit(linear(), mse_loss, loader, lr=0.1, epochs=2, accumulate=8,
                     progress=False)
    assert r.steps == 4 and r.history["epoch"] == [0, 0, 1, 1]
    with pytest.raises(ValueError, match="Invalid accumulate"):
        antigrad.fit(linear(), mse_loss, (x, y), lr=0.1, steps=1, accumulate=0,
                     progress=False)


# ---------------------------------------------------------------- mixed precision
class Dtypes(Callback):
    def __init__(self):
        self.outputs, self.scales = [], []

    def on_fit_start(self, run):
        run.model.register_forward_hook(lambda m, i, out: self.outputs.append(out.dtype))

    def on_step_end(self, run, obs):
        self.scales.append(None if run.amp.scaler is None else run.amp.scaler.get_scale())


def test_bf16_autocast_runs_the_forward_in_bfloat16_and_keeps_float32_weights():
    x, y = problem(dtype=torch.float32)
    probe = Dtypes()
    r = antigrad.fit(linear(torch.float32), mse_loss, (x, y), lr=0.1, steps=30,
                     precision="bf16", callbacks=[probe], progress=False)
    assert set(probe.outputs) == {torch.bfloat16}
    assert r.model.weight.dtype == torch.float32
    assert r.history["loss"][-1] < 0.2 * r.history["loss"][0]


def test_fp16_with_grad_scaler_skips_overflowing_steps_and_lowers_its_scale():
    x, y = problem(dtype=torch.float32)
    probe = Dtypes()
    # Targets ~1e3: scaled by the initial 2^16 the float16 gradients overflow, so the
    # scaler skips those steps and halves its scale until they fit.
    r = antigrad.fit(linear(torch.float32), mse_loss, (x, 1e3 * y), lr=0.05, steps=40,
                     precision="fp16", callbacks=[probe], progress=False)
    assert set(probe.outputs) == {torch.float16}
    assert probe.scales[0] == 2.0 ** 15 and probe.scales[-1] < 2.0 ** 15
    assert r.model.weight.dtype == torch.float32
    assert r.history["loss"][-1] < 0.2 * r.history["loss"][0]
    with pytest.raises(ValueError, match="Invalid precision"):
        antigrad.fit(linear(), mse_loss, (x, y), lr=0.1, steps=1, precision="fp8",
                     progress=False)


class CrashAt(Callback):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, run, obs):
        if obs.step == self.step:
            raise RuntimeError("simulated crash")


def test_resume_with_fp16_scaler_and_accumulation_is_bit_identical(tmp_path):
    x, y = problem(dtype=torch.float32)
    kwargs = dict(lr=0.05, epochs=4, batch_size=8, accumulate=3, precision="fp16",
                  checkpoint_every=2, progress=False)
    whole = antigrad.fit(linear(torch.float32), mse_loss, (x, 1e3 * y), **kwargs)
    with pytest.raises(RuntimeError, match="simulated crash"):
        antigrad.fit(linear(torch.float32), mse_loss, (x, 1e3 * y), checkpoint=tmp_path,
                     callbacks=[CrashAt(7)], **kwargs)
    probe = Dtypes()
    again = antigrad.fit(linear(torch.float32), mse_loss, (x, 1e3 * y), checkpoint=tmp_path,
                         resume=True, callbacks=[probe], **kwargs)
    assert again.resumed_from == 6 and again.history == whole.history
    assert probe.scales[0] < 2.0 ** 15        # the scaler's scale came back with the run
    torch.testing.assert_close(again.model.weight, whole.model.weight, rtol=0, atol=0)


def test_resuming_with_other_loop_options_is_refused(tmp_path):
    kwargs = dict(lr=0.05, epochs=2, batch_size=8, progress=False)
    antigrad.fit(linear(), mse_loss, problem(), checkpoint=tmp_path, accumulate=2, **kwargs)
    with pytest.raises(antigrad.train.CheckpointError, match="accumulate: 2 in the checkpoint"):
        antigrad.fit(linear(), mse_loss, problem(), checkpoint=tmp_path, resume=True,
                     epochs=3, batch_size=8, lr=0.05, progress=False)


def test_fp16_a_nan_loss_is_not_applied_and_closes_the_scaler_iteration():
    x, y = problem(dtype=torch.float32)
    calls = []

    def loss_fn(out, target):
        calls.append(1)
        loss = mse_loss(out, target)
        return loss * float("nan") if len(calls) == 3 else loss

    probe = Dtypes()
    r = antigrad.fit(linear(torch.float32), loss_fn, (x, y), lr=0.05, steps=10,
                     precision="fp16", callbacks=[probe], divergence=1e6, progress=False)
    assert r.stopped_by.startswith("Divergence") and r.stopped_at == 3
    assert probe.scales[-1] == probe.scales[-2] / 2     # the scaler saw the overflow
