"""antigrad's stopping rules and schedule verdict as Hugging Face TrainerCallbacks: each
rule stops a transformers Trainer at the step where it stops antigrad.fit."""

import pytest
import torch
import torch.nn.functional as F

import antigrad
import integration_problem as P
from antigrad import stop

transformers = pytest.importorskip("transformers")
pytest.importorskip("accelerate")
aghf = pytest.importorskip("antigrad.integrations.hf")


class Net(torch.nn.Module):
    """The shared regression model with the Trainer's calling convention."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x, labels=None):
        out = self.net(x)
        return {"loss": F.mse_loss(out, labels), "logits": out}


def rows(x, y):
    return [{"x": a, "labels": b} for a, b in zip(x, y, strict=True)]


def hf_trainer(tmp_path, model, optimizer, callbacks, with_val=False, epochs=200,
               scheduler="constant", **kw):
    x, y, xv, yv = P.data()
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path), per_device_train_batch_size=P.BATCH,
        per_device_eval_batch_size=P.N_VAL, num_train_epochs=epochs,
        lr_scheduler_type=scheduler, max_grad_norm=0.0, train_sampling_strategy="sequential",
        eval_strategy="epoch" if with_val else "no", logging_strategy="no",
        save_strategy="no", report_to="none", use_cpu=True, disable_tqdm=True, **kw)
    return transformers.Trainer(model=model, args=args, train_dataset=rows(x, y),
                                eval_dataset=rows(xv, yv) if with_val else None,
                                optimizers=(optimizer, None), callbacks=callbacks)


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


@pytest.mark.parametrize("name", sorted(RULES))
def test_each_rule_stops_the_hf_trainer_where_it_stops_fit(name, tmp_path):
    make_rule, lr, with_val = RULES[name]
    train, val = P.loaders()
    expected = antigrad.fit(P.model(), F.mse_loss, train, optimizer=antigrad.SGD, lr=lr,
                            stop=make_rule(), divergence=None, epochs=200,
                            val=val if with_val else None, progress=False)
    assert not expected.stopped_by.startswith("MaxEpochs(n=200")
    callback = aghf.Stop(make_rule())
    model = Net(P.model())
    t = hf_trainer(tmp_path, model, antigrad.SGD(model.parameters(), lr=lr), [callback],
                   with_val)
    t.train()
    assert (t.state.global_step, callback.stopped_at) == (expected.stopped_at,
                                                          expected.stopped_at)
    assert (callback.stopped_by, callback.stop_reason) == (expected.stopped_by,
                                                           expected.stop_reason)
    if name == "patience":                      # the best weights are back in the model
        torch.testing.assert_close(model.net.weight, expected.model.weight)


def test_gradient_accumulation_counts_optimizer_steps_and_their_mean_loss(tmp_path):
    x, y, _, _ = P.data()
    big = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=32)
    make_rule = lambda: stop.LossChange(1e-2, on="epoch") | stop.LossChange(5e-3)  # noqa: E731
    expected = antigrad.fit(P.model(), F.mse_loss, big, optimizer=antigrad.SGD, lr=0.05,
                            stop=make_rule(), divergence=None, epochs=200, progress=False)
    assert not expected.stopped_by.startswith("MaxEpochs(n=200")
    callback = aghf.Stop(make_rule())
    model = Net(P.model())
    t = hf_trainer(tmp_path, model, antigrad.SGD(model.parameters(), lr=0.05), [callback],
                   gradient_accumulation_steps=2)
    t.train()
    assert (t.state.global_step, callback.stopped_by) == (expected.stopped_at,
                                                          expected.stopped_by)
    assert callback.stop_reason == expected.stop_reason


def test_a_model_built_from_a_config_trains_under_stop(tmp_path):
    config = transformers.GPT2Config(vocab_size=32, n_positions=16, n_embd=16, n_layer=1,
                                     n_head=2, resid_pdrop=0.0, embd_pdrop=0.0,
                                     attn_pdrop=0.0)
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(config)
    ids = torch.randint(0, 32, (32, 16), generator=torch.Generator().manual_seed(0))
    data = [{"input_ids": r, "labels": r} for r in ids]
    callback = aghf.Stop(stop.LossChange(1e-9) | stop.MaxSteps(5))
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path), per_device_train_batch_size=8, num_train_epochs=50,
        logging_strategy="no", save_strategy="no", report_to="none", use_cpu=True,
        disable_tqdm=True)
    t = transformers.Trainer(model=model, args=args, train_dataset=data, callbacks=[callback],
                             optimizers=(antigrad.AdamW(model.parameters(), lr=1e-3), None))
    t.train()
    assert t.state.global_step == callback.stopped_at == 5
    assert callback.stopped_by == "MaxSteps(n=5)"
    assert callback.watch.prev_loss is not None and callback.watch.prev_loss < 4.0


def test_robbins_monro_judges_the_trainers_schedule(tmp_path):
    model = Net(P.model())
    linear = aghf.RobbinsMonro(horizon=10_000)
    with pytest.warns(UserWarning, match="Robbins–Monro"):
        hf_trainer(tmp_path, model, antigrad.SGD(model.parameters(), lr=0.05), [linear],
                   epochs=1, scheduler="linear").train()
    assert linear.verdicts[0].satisfied is False and "Σε < ∞" in linear.verdicts[0].reason
    before = model.net.weight.detach().clone()
    with pytest.raises(ValueError, match="Invalid schedule: LambdaLR"):
        hf_trainer(tmp_path, model, antigrad.SGD(model.parameters(), lr=0.05),
                   [aghf.RobbinsMonro(strict=True, horizon=10_000)], epochs=1).train()
    assert torch.equal(model.net.weight, before)


def test_a_model_without_a_loss_is_refused(tmp_path):
    class NoLoss(Net):
        def forward(self, x, labels=None):
            return {"logits": self.net(x)}

    model = NoLoss(P.model())
    t = hf_trainer(tmp_path, model, antigrad.SGD(model.parameters(), lr=0.05),
                   [aghf.Stop(stop.MaxSteps(3))], epochs=1)
    t.compute_loss = lambda model, inputs, **kw: F.mse_loss(model(**inputs)["logits"],
                                                           inputs["labels"])
    with pytest.raises(ValueError, match="Invalid model output"):
        t.train()
