"""antigrad.fit: full-batch GD (L3), minibatch SGD (L5), schedules (L6), validation, hooks."""

import re

import pytest
import torch
from torch.nn.functional import mse_loss
from torch.utils.data import DataLoader, TensorDataset

import antigrad
from antigrad import schedules as S
from antigrad import stop
from antigrad.train import Callback, StopTraining


def least_squares(n=64, d=3, noise=0.1, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    beta = torch.arange(1.0, d + 1, dtype=torch.float64)[:, None] * (-1) ** torch.arange(d)[:, None]
    y = x @ beta + noise * torch.randn(n, 1, generator=g, dtype=torch.float64)
    return x, y


def linear(d=3, seed=0):
    torch.manual_seed(seed)
    return torch.nn.Linear(d, 1, bias=False).double()


def test_full_batch_gd_reaches_the_analytic_optimum_of_a_convex_quadratic():
    x, y = least_squares()
    w_star = torch.linalg.lstsq(x, y).solution.T
    hessian = 2 * x.T @ x / len(x)
    lr = 1.0 / torch.linalg.eigvalsh(hessian).max().item()   # < 2/λ_max: stable
    r = antigrad.fit(linear(), mse_loss, (x, y), lr=lr, steps=5000,
                     stop=stop.GradNorm(1e-12), progress=False)
    assert r.stopped_by == "GradNorm(tol=1e-12)" and r.steps < 5000
    torch.testing.assert_close(r.model.weight.detach(), w_star, rtol=0, atol=1e-11)
    assert r.epochs == r.steps            # one step per epoch: the whole set each time
    losses = r.history["loss"]
    assert all(b <= a + 1e-15 for a, b in zip(losses, losses[1:], strict=False))


class ErrorPerEpoch(Callback):
    def __init__(self, w_star):
        self.w_star, self.errors = w_star, []

    def on_epoch_end(self, run, obs):
        self.errors.append(float((run.model.weight.detach() - self.w_star).norm()))


def test_sgd_with_constant_lr_stalls_at_a_noise_floor_while_inverse_time_keeps_improving():
    n = 400
    x, y = least_squares(n=n, d=2, noise=1.0)
    w_star = torch.linalg.lstsq(x, y).solution.T
    curves = {}
    for name, schedule in [("constant", None),
                           ("1/t", lambda opt: S.InverseTime(opt, tau=n / 4, p=1.0))]:
        probe = ErrorPerEpoch(w_star)
        antigrad.fit(linear(2), mse_loss, (x, y), optimizer=torch.optim.SGD, lr=0.05,
                     batch_size=4, epochs=40, schedule=schedule, callbacks=[probe],
                     progress=False)
        early, late = probe.errors[5:15], probe.errors[30:40]
        curves[name] = (sum(early) / 10, sum(late) / 10)
    (c_early, c_late), (t_early, t_late) = curves["constant"], curves["1/t"]
    assert c_late > 0.5 * c_early            # constant lr: no better after 25 more epochs
    assert c_late > 0.05                      # ... stuck well away from the optimum
    assert t_late < t_early / 1.5             # 1/t: the error keeps falling
    assert t_late < c_late / 10


def seen_rows():
    """A model that records which examples it saw (x is the example index)."""
    class Recorder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))
            self.seen = []

        def forward(self, x):
            self.seen.append(x[:, 0].long().tolist())
            return x * self.w
    return Recorder()


def test_minibatches_reshuffle_every_epoch_and_cover_the_set_once():
    x = torch.arange(10.0)[:, None]
    model = seen_rows()
    antigrad.fit(model, mse_loss, (x, x), lr=0.0, batch_size=4, epochs=3, progress=False)
    assert [len(b) for b in model.seen] == [4, 4, 2] * 3
    epochs = [sum(model.seen[i:i + 3], []) for i in (0, 3, 6)]
    assert all(sorted(e) == list(range(10)) for e in epochs)
    assert epochs[0] != epochs[1] != epochs[2]
    again = seen_rows()
    antigrad.fit(again, mse_loss, (x, x), lr=0.0, batch_size=4, epochs=3, progress=False)
    assert again.seen == model.seen                     # same seed, same order
    other = seen_rows()
    antigrad.fit(other, mse_loss, (x, x), lr=0.0, batch_size=4, epochs=3, seed=1,
                 progress=False)
    assert other.seen != model.seen
    dropped = seen_rows()
    antigrad.fit(dropped, mse_loss, (x, x), lr=0.0, batch_size=4, epochs=1, drop_last=True,
                 progress=False)
    assert [len(b) for b in dropped.seen] == [4, 4]


def test_the_callers_global_rng_is_left_alone():
    x, y = least_squares()
    model = linear()
    state = torch.get_rng_state()
    antigrad.fit(model, mse_loss, (x, y), lr=0.1, batch_size=8, epochs=2, progress=False)
    assert torch.equal(state, torch.get_rng_state())


def test_dataloader_and_dataset_inputs():
    x, y = least_squares()
    loader = DataLoader(TensorDataset(x, y), batch_size=16)
    r = antigrad.fit(linear(), mse_loss, loader, lr=0.1, epochs=3, progress=False)
    assert (r.steps, r.epochs, len(r.history.epochs["epoch"])) == (12, 3, 3)
    r2 = antigrad.fit(linear(), mse_loss, TensorDataset(x, y), lr=0.1, batch_size=16,
                      epochs=3, progress=False)
    assert (r2.steps, r2.epochs) == (12, 3)
    generated = (b for b in loader)
    with pytest.raises(TypeError, match="one-shot iterator"):
        antigrad.fit(linear(), mse_loss, generated, lr=0.1, epochs=1)
    with pytest.raises(ValueError, match="Invalid batch_size: 8 .train is a DataLoader"):
        antigrad.fit(linear(), mse_loss, loader, lr=0.1, epochs=1, batch_size=8)


def test_optimizer_forms_and_the_torch_compatible_face():
    x, y = least_squares()
    common = dict(batch_size=8, epochs=2, progress=False)
    theirs = antigrad.fit(linear(), mse_loss, (x, y), optimizer=torch.optim.Adam, lr=0.01,
                          **common)
    ours = antigrad.fit(linear(), mse_loss, (x, y), optimizer=antigrad.Adam, lr=0.01, **common)
    assert ours.history["loss"] == pytest.approx(theirs.history["loss"], rel=1e-12)
    model = linear()
    opt = antigrad.SGD(model.parameters(), lr=0.05, momentum=0.9)
    inst = antigrad.fit(model, mse_loss, (x, y), optimizer=opt, **common)
    lam = antigrad.fit(linear(), mse_loss, (x, y), optimizer=lambda p: torch.optim.SGD(
        p, lr=0.05, momentum=0.9), **common)
    assert inst.optimizer is opt and inst.history["loss"] == pytest.approx(lam.history["loss"])
    with pytest.raises(ValueError, match=re.escape("Invalid lr: None (required when")):
        antigrad.fit(linear(), mse_loss, (x, y), epochs=1)
    with pytest.raises(ValueError, match=re.escape("Invalid lr: 0.1 (the optimizer instance")):
        antigrad.fit(model, mse_loss, (x, y), optimizer=opt, lr=0.1, epochs=1)
    with pytest.raises(ValueError, match="not the model's"):
        antigrad.fit(linear(), mse_loss, (x, y), optimizer=opt, epochs=1)


def test_schedules_step_per_step_or_per_epoch():
    x, y = least_squares()
    r = antigrad.fit(linear(), mse_loss, (x, y), lr=0.1, batch_size=16, epochs=2,
                     schedule=lambda o: S.InverseTime(o, tau=2, p=1.0), progress=False)
    assert r.history["lr"] == pytest.approx([0.1 / (1 + t / 2) for t in range(8)])
    model = linear()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    r = antigrad.fit(model, mse_loss, (x, y), optimizer=opt, schedule=S.Step(opt, 1, 0.5),
                     schedule_interval="epoch", batch_size=32, epochs=3, progress=False)
    assert r.history["lr"] == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025, 0.025])
    with pytest.raises(ValueError, match="scheduler instance must be attached"):
        antigrad.fit(linear(), mse_loss, (x, y), lr=0.1, schedule=S.Step(opt, 1), epochs=1)


def test_reduce_on_plateau_with_an_antigrad_optimizer():
    x, y = least_squares()
    r = antigrad.fit(
        linear(), mse_loss, (x, y), optimizer=antigrad.SGD, lr=1e-12, epochs=4,
        schedule=lambda o: torch.optim.lr_scheduler.ReduceLROnPlateau(o, factor=0.5,
                                                                      patience=0),
        val=(x, y), progress=False)
    # validation never improves (lr ~ 0): halved after every epoch from the second on
    assert r.optimizer.param_groups[0]["lr"] == pytest.approx(1e-12 * 0.5 ** 3)


def test_validation_metrics_best_tracking_and_keep_best():
    x, y = least_squares(n=80)
    xt, yt, xv, yv = x[:60], y[:60], x[60:], y[60:]
    mae = {"mae": lambda out, t: (out - t).abs().mean()}
    r = antigrad.fit(linear(), mse_loss, (xt, yt), lr=0.05, batch_size=10, epochs=6,
                     val=(xv, yv), metrics=mae, monitor="val_mae", progress=False)
    v = r.history.val
    assert set(v) == {"step", "epoch", "val_loss", "val_mae"} and len(v["step"]) == 6
    assert v["step"] == [6, 12, 18, 24, 30, 36]
    best = min(range(6), key=lambda i: v["val_mae"][i])
    assert (r.best_value, r.best_step) == (v["val_mae"][best], v["step"][best])
    check = linear()
    check.load_state_dict(r.best_state)
    assert (check(xv) - yv).abs().mean().item() == pytest.approx(r.best_value)
    every = antigrad.fit(linear(), mse_loss, (xt, yt), lr=0.05, batch_size=10, epochs=2,
                         val=(xv, yv), val_every=4, progress=False)
    assert every.history.val["step"] == [4, 8, 12]


def test_patience_stops_and_restores_the_best_weights():
    x, y = least_squares()
    scripted = iter([3.0, 2.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    metric = {"score": lambda out, t: next(scripted)}
    r = antigrad.fit(linear(), mse_loss, (x, y), lr=0.05, steps=50, val=(x, y),
                     metrics=metric, monitor="val_score",
                     stop=stop.Patience(1, monitor="val_score"), progress=False)
    assert r.stopped_at == 5 and r.stopped_by.startswith("Patience")
    three = antigrad.fit(linear(), mse_loss, (x, y), lr=0.05, steps=3, progress=False)
    torch.testing.assert_close(r.model.weight, three.model.weight, rtol=0, atol=0)


def test_callbacks_hooks_and_stop_training():
    x, y = least_squares()
    calls = []

    class Hooks(Callback):
        def on_fit_start(self, run):
            calls.append("start")

        def on_epoch_end(self, run, obs):
            calls.append(f"epoch {obs.epoch}")

        def on_step_end(self, run, obs):
            if obs.step == 6:
                raise StopTraining("enough")

        def on_fit_end(self, run, result):
            calls.append(f"end {result.steps}")

    steps = []
    r = antigrad.fit(linear(), mse_loss, (x, y), lr=0.1, batch_size=16, epochs=5,
                     callbacks=[Hooks(), lambda obs: steps.append(obs.step)], progress=False)
    assert calls == ["start", "epoch 1", "end 6"]
    assert steps == [1, 2, 3, 4, 5, 6]
    assert (r.stopped_by, r.stop_reason) == ("StopTraining", "enough")


def test_progress_bar_runs_without_a_terminal(capsys):
    x, y = least_squares()
    r = antigrad.fit(linear(), mse_loss, (x, y), lr=0.1, steps=20, progress=True)
    assert r.steps == 20


@pytest.mark.parametrize("kwargs,error,text", [
    (dict(), ValueError, "Invalid budget"),
    (dict(epochs=0), ValueError, "Invalid epochs value: 0 (must be an integer >= 1)"),
    (dict(epochs=1.5), TypeError, "Invalid epochs value: 1.5 (must be an integer)"),
    (dict(epochs=1, batch_size=0), ValueError, "Invalid batch_size: 0"),
    (dict(epochs=1, monitor="val_acc"), ValueError, "Invalid monitor: 'val_acc'"),
    (dict(epochs=1, track=["hessian"]), ValueError, "Invalid track: ['hessian']"),
    (dict(epochs=1, combine="vote"), ValueError, "Invalid combine: 'vote'"),
    (dict(epochs=1, restarts=0), ValueError, "Invalid restarts value: 0"),
    (dict(epochs=1, restarts=[{"momentum": 0.9}]), ValueError, "unknown keys ['momentum']"),
    (dict(epochs=1, schedule_interval="batch"), ValueError, "Invalid schedule_interval"),
    (dict(epochs=1, stop=5), TypeError, "Invalid stop: 5"),
    (dict(epochs=1, resume=True), ValueError, "Invalid resume: True (needs checkpoint="),
    (dict(epochs=1, lr=-1.0), ValueError, "Invalid lr value: -1.0 (must be >= 0)"),
    (dict(epochs=1, lr="big"), TypeError, "Invalid lr value: 'big' (must be a number)"),
    (dict(epochs=1, optimizer="adam"), TypeError, "Invalid optimizer: 'adam'"),
])
def test_bad_arguments_name_the_argument(kwargs, error, text):
    x, y = least_squares()
    kwargs = {"lr": 0.1, **kwargs}
    with pytest.raises(error, match=re.escape(text)):
        antigrad.fit(linear(), mse_loss, (x, y), **kwargs)


def test_bad_data_and_loss():
    x, y = least_squares()
    with pytest.raises(ValueError, match="must share a non-empty first dimension"):
        antigrad.fit(linear(), mse_loss, (x, y[:5]), lr=0.1, epochs=1)
    with pytest.raises(TypeError, match="must be a scalar tensor"):
        antigrad.fit(linear(), lambda o, t: (o - t) ** 2, (x, y), lr=0.1, epochs=1)
    with pytest.raises(TypeError, match="Invalid model"):
        antigrad.fit(lambda v: v, mse_loss, (x, y), lr=0.1, epochs=1)


class _NaNGradient(torch.nn.Module):
    """A linear model whose weight gradient is NaN from the second call on (finite loss)."""

    def __init__(self):
        super().__init__()
        self.lin = linear()
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        out = self.lin(x)
        if self.calls >= 2:  # adds 0 to the output, NaN to the weight's gradient
            out = out + 0.0 * _NaNBackward.apply(self.lin.weight).sum()
        return out


class _NaNBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w):
        return w.clone()

    @staticmethod
    def backward(ctx, g):
        return torch.full_like(g, float("nan"))


@pytest.mark.parametrize("make", [
    lambda m: antigrad.Adam,                                   # a class
    lambda m: (lambda ps, lr: antigrad.SGD(ps, lr=lr)),        # a factory
    lambda m: antigrad.SGD(m.parameters(), lr=0.01),           # an instance
    lambda m: None])                                           # fit's own antigrad.SGD
def test_fit_raises_on_a_nan_gradient_with_torch_face_optimizers_left_at_their_default(make):
    x, y = least_squares()
    model = _NaNGradient()
    opt = make(model)
    with pytest.raises(antigrad.NonFiniteGradientError):
        antigrad.fit(model, mse_loss, (x, y), optimizer=opt,
                     lr=None if isinstance(opt, torch.optim.Optimizer) else 0.01,
                     steps=5, progress=False)


def test_fit_keeps_a_nonfinite_mode_that_was_chosen():
    x, y = least_squares()
    model = _NaNGradient()
    r = antigrad.fit(model, mse_loss, (x, y), optimizer=antigrad.SGD(
        model.parameters(), lr=0.01, nonfinite="skip"), steps=4, divergence=None,
        progress=False)
    assert r.steps == 4 and torch.isfinite(model.lin.weight).all()
