"""antigrad's stopping rules, verdicts, probes and restarts as Lightning callbacks: each rule
stops a Lightning Trainer at the step where it stops antigrad.fit on the same problem."""

import math

import pytest
import torch
import torch.nn.functional as F

import antigrad
import integration_problem as P
from antigrad import schedules, stop

pl = pytest.importorskip("lightning.pytorch")
agl = pytest.importorskip("antigrad.integrations.lightning")


class Regression(pl.LightningModule):
    def __init__(self, net, lr=0.05, optimizer=antigrad.SGD, schedule=None, batch_size=16):
        super().__init__()
        self.net, self.lr, self.optimizer, self.schedule = net, lr, optimizer, schedule
        self.batch_size = batch_size

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.mse_loss(self(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", F.mse_loss(self(x), y))

    def configure_optimizers(self):
        opt = self.optimizer(self.parameters(), lr=self.lr)
        if self.schedule is None:
            return opt
        return {"optimizer": opt, "lr_scheduler": {"scheduler": self.schedule(opt),
                                                    "interval": "step"}}

    def train_dataloader(self):
        x, y, _, _ = P.data()
        return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y),
                                           batch_size=self.batch_size)


def trainer(callbacks=(), max_epochs=200, **kw):
    return pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False,
                      num_sanity_val_steps=0, max_epochs=max_epochs, callbacks=list(callbacks),
                      **kw)


RULES = {
    "loss_change": (lambda: stop.LossChange(1e-2), 0.05, False),
    "loss_change_epoch": (lambda: stop.LossChange(1e-3, on="epoch"), 0.05, False),
    "weight_change": (lambda: stop.WeightChange(2e-2), 0.05, False),
    "grad_norm": (lambda: stop.GradNorm(0.3), 0.05, False),
    "max_steps": (lambda: stop.MaxSteps(7), 0.05, False),
    "max_epochs": (lambda: stop.MaxEpochs(3), 0.05, False),
    "divergence": (lambda: stop.Divergence(10), 1.5, False),
    "patience": (lambda: stop.Patience(2, min_delta=1e-3), 0.05, True),
    "any": (lambda: stop.Patience(20) | stop.LossChange(3e-3, on="epoch"), 0.05, True),
    "all": (lambda: stop.MaxSteps(5) & stop.LossChange(0.1), 0.05, False),
}


def fit_result(make_rule, lr, with_val):
    train, val = P.loaders()
    return antigrad.fit(P.model(), F.mse_loss, train, optimizer=antigrad.SGD, lr=lr,
                        stop=make_rule(), divergence=None, epochs=200,
                        val=val if with_val else None, progress=False)


@pytest.mark.parametrize("name", sorted(RULES))
def test_each_rule_stops_lightning_where_it_stops_fit(name):
    make_rule, lr, with_val = RULES[name]
    expected = fit_result(make_rule, lr, with_val)
    assert not expected.stopped_by.startswith("MaxEpochs(n=200")   # the rule itself fired
    callback = agl.Stop(make_rule())
    train, val = P.loaders()
    t = trainer([callback])
    t.fit(Regression(P.model(), lr), train, val if with_val else None)
    assert (t.global_step, callback.stopped_at) == (expected.stopped_at, expected.stopped_at)
    assert (callback.stopped_by, callback.stop_reason) == (expected.stopped_by,
                                                           expected.stop_reason)


def test_patience_restores_the_best_weights_in_the_lightning_module():
    make_rule, lr, _ = RULES["patience"]
    expected = fit_result(make_rule, lr, True)
    module = Regression(P.model(), lr)
    train, val = P.loaders()
    trainer([agl.Stop(make_rule())]).fit(module, train, val)
    torch.testing.assert_close(module.net.weight, expected.model.weight)


def test_a_validation_every_few_batches_is_judged_at_its_step():
    train, val = P.loaders()
    expected = antigrad.fit(P.model(), F.mse_loss, train, optimizer=antigrad.SGD, lr=0.05,
                            stop=stop.Patience(2, min_delta=1e-3), divergence=None,
                            epochs=200, val=val, val_every=2, progress=False)
    callback = agl.Stop(stop.Patience(2, min_delta=1e-3))
    t = trainer([callback], val_check_interval=2)
    t.fit(Regression(P.model()), train, val)
    assert (t.global_step, callback.stop_reason) == (expected.stopped_at, expected.stop_reason)


def test_gradient_accumulation_counts_optimizer_steps_and_their_mean_loss():
    # two accumulated batches of 16 take the step of one batch of 32: fit's on batches of 32
    x, y, _, _ = P.data()
    big = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=32)
    make_rule = lambda: stop.LossChange(1e-2, on="epoch") | stop.LossChange(5e-3)  # noqa: E731
    expected = antigrad.fit(P.model(), F.mse_loss, big, optimizer=antigrad.SGD, lr=0.05,
                            stop=make_rule(), divergence=None, epochs=200, progress=False)
    assert not expected.stopped_by.startswith("MaxEpochs(n=200")
    callback = agl.Stop(make_rule())
    train, _ = P.loaders()
    t = trainer([callback], accumulate_grad_batches=2)
    t.fit(Regression(P.model()), train)
    assert (t.global_step, callback.stopped_by) == (expected.stopped_at, expected.stopped_by)
    assert callback.stop_reason == expected.stop_reason


def test_stop_rejects_what_is_not_a_rule():
    with pytest.raises(TypeError, match="Invalid rule"):
        agl.Stop(lambda obs: True)


def test_robbins_monro_verdicts_before_training():
    good = agl.RobbinsMonro()
    module = Regression(P.model(), schedule=lambda o: schedules.InverseTime(o, tau=10, p=1.0))
    train, _ = P.loaders()
    trainer([good], max_epochs=1).fit(module, train)
    assert [v.satisfied for v in good.verdicts] == [True]
    flat = Regression(P.model(), schedule=lambda o: schedules.Constant(o))
    with pytest.warns(UserWarning, match="Robbins–Monro"):
        trainer([agl.RobbinsMonro()], max_epochs=1).fit(flat, train)
    strict = Regression(P.model(), schedule=lambda o: schedules.Exponential(o, gamma=0.9))
    before = strict.net.weight.detach().clone()
    with pytest.raises(ValueError, match="Invalid schedule: Exponential"):
        trainer([agl.RobbinsMonro(strict=True)], max_epochs=1).fit(strict, train)
    assert torch.equal(strict.net.weight, before)         # refused before any step
    cyclic = Regression(P.model(), schedule=lambda o: torch.optim.lr_scheduler.OneCycleLR(
        o, max_lr=0.1, total_steps=4, cycle_momentum=False))
    cb = agl.RobbinsMonro(strict=True)
    trainer([cb], max_epochs=1).fit(cyclic, train)
    assert cb.verdicts[0].satisfied is None and "no closed form" in cb.verdicts[0].reason


def test_find_lr_runs_antigrads_range_test_and_sets_the_lr():
    train, _ = P.loaders()
    expected = antigrad.find_lr(P.model(), F.mse_loss, train, lr_min=1e-4, lr_max=10,
                                steps=40)
    callback = agl.FindLR(lr_min=1e-4, lr_max=10, steps=40)
    module = Regression(P.model(), lr=1e-3,
                        schedule=lambda o: schedules.InverseTime(o, tau=100, p=1.0))
    t = trainer([callback], max_steps=1)
    t.fit(module, train)
    assert callback.result.lrs == expected.lrs and callback.result.losses == expected.losses
    assert callback.lr == expected.safe_suggestion == min(expected.suggestion,
                                                          expected.lr_at_min / 10)
    assert t.lr_scheduler_configs[0].scheduler.base_lrs == [callback.lr]
    assert t.optimizers[0].param_groups[0]["lr"] == pytest.approx(
        schedules.InverseTime(torch.optim.SGD([torch.zeros(1)], lr=callback.lr), tau=100,
                              p=1.0).lr_at(1)[0])
    uncapped = agl.FindLR(cap=False, lr_min=1e-4, lr_max=10, steps=40)
    trainer([uncapped], max_steps=1).fit(Regression(P.model(), lr=1e-3), train)
    assert uncapped.lr == expected.suggestion


def test_find_lr_keeps_the_ratios_of_the_param_groups_lrs():
    module = Regression(P.model(), lr=1e-3)
    module.optimizer = lambda params, lr: antigrad.SGD(
        [{"params": [module.net.weight]}, {"params": [module.net.bias], "lr": 2 * lr}], lr=lr)
    callback = agl.FindLR(lr_min=1e-4, lr_max=10, steps=40)
    train, _ = P.loaders()
    t = trainer([callback], max_steps=1)
    t.fit(module, train)
    assert [g["lr"] for g in t.optimizers[0].param_groups] == pytest.approx(
        [callback.lr, 2 * callback.lr], rel=1e-12)


def test_find_batch_size_sets_the_module_batch_size():
    timer = lambda b: 1e-3 + 1e-5 * max(b - 8, 0)  # noqa: E731 - parallel up to 8
    callback = agl.FindBatchSize(timer=timer, max_batch_size=64)
    module = Regression(P.model(), batch_size=4)
    t = trainer([callback], max_steps=1)
    t.fit(module)
    expected = antigrad.find_batch_size(P.model(), F.mse_loss, P.data()[:2], timer=timer,
                                        max_batch_size=64)
    assert callback.result.batch_size == expected.batch_size == module.batch_size
    assert t.train_dataloader.batch_size == expected.batch_size
    with pytest.raises(ValueError, match="Invalid attr: 'bs'"):
        trainer([agl.FindBatchSize(timer=timer, attr="bs")], max_steps=1).fit(
            Regression(P.model()))


def test_fit_restarts_best_of_and_ensemble_as_fit_does():
    train, val = P.loaders()
    expected = antigrad.fit(P.model(), F.mse_loss, train, optimizer=antigrad.SGD, lr=0.05,
                            epochs=2, val=val, restarts=3, combine="ensemble", seed=0,
                            progress=False)
    module = Regression(P.model())
    result = agl.fit_restarts(lambda k: trainer(max_epochs=2), module, runs=3,
                              combine="ensemble", train_dataloaders=train,
                              val_dataloaders=val)
    assert result.best_run == expected.best_run
    assert result.scores == pytest.approx([r.score for r in expected.runs], rel=1e-5)
    assert result.mean_run_score == pytest.approx(expected.mean_run_score, rel=1e-5)
    torch.testing.assert_close(module.net.weight, expected.model.members[expected.best_run]
                               .weight)
    assert isinstance(result.model, antigrad.train.Ensemble) and len(result.model.members) == 3
    x, _, _, _ = P.data()
    torch.testing.assert_close(result.model(x), expected.model(x))
    scored = agl.fit_restarts(lambda k: trainer(max_epochs=1), Regression(P.model()), runs=2,
                              combine="ensemble", train_dataloaders=train,
                              score=lambda m: -1.0 if isinstance(m, antigrad.train.Ensemble)
                              else 0.0)
    assert scored.ensemble_score == -1.0 and scored.scores == [0.0, 0.0]
    for bad, match in (({"runs": 0}, "Invalid runs"), ({"combine": "mean"}, "Invalid combine"),
                       ({"mode": "up"}, "Invalid mode")):
        with pytest.raises(ValueError, match=match):
            agl.fit_restarts(lambda k: trainer(), Regression(P.model()), **bad)
    assert math.isfinite(result.mean_run_score)
