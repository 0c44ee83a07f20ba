"""CSV and TensorBoard loggers of the fit loop: lr, loss, gradient norm, the rule that fired."""

import csv

import pytest
import torch
from torch.nn.functional import mse_loss

import antigrad
from antigrad import stop
from antigrad.train.loggers import CSVLogger, TensorBoardLogger


def problem():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(32, 3, generator=g, dtype=torch.float64)
    return x, x @ torch.tensor([[1.0], [-2.0], [0.5]], dtype=torch.float64)


def model():
    torch.manual_seed(0)
    return torch.nn.Linear(3, 1).double()


def test_csv_logger_writes_every_step_with_lr_loss_grad_norm_and_the_rule_that_fired(tmp_path):
    path = tmp_path / "log.csv"
    r = antigrad.fit(model(), mse_loss, problem(), lr=0.1, steps=7, progress=False,
                     callbacks=[CSVLogger(path)])
    rows = list(csv.DictReader(path.open()))
    assert [int(row["step"]) for row in rows] == list(range(1, 8))
    for key in ("loss", "lr", "grad_norm"):          # grad_norm is measured for the logger
        assert [float(row[key]) for row in rows] == r.history[key]
    assert [row["stopped_by"] for row in rows] == [""] * 6 + [r.stopped_by]
    assert r.stopped_by == "MaxSteps(n=7)"
    assert rows[-1]["stop_reason"] == r.stop_reason != ""


def test_csv_logger_refuses_to_overwrite_a_file(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("precious")
    with pytest.raises(ValueError, match="exists"):
        antigrad.fit(model(), mse_loss, problem(), lr=0.1, steps=2, progress=False,
                     callbacks=[CSVLogger(path)])
    assert path.read_text() == "precious"
    with pytest.raises(TypeError, match="Invalid path"):
        CSVLogger(3)


def test_csv_logger_with_restarts_writes_one_block_per_run(tmp_path):
    path = tmp_path / "log.csv"
    antigrad.fit(model(), mse_loss, problem(), lr=0.1, steps=3, restarts=2, progress=False,
                 callbacks=[CSVLogger(path)])
    rows = list(csv.DictReader(path.open()))
    assert [(row["run"], row["step"]) for row in rows] == \
        [(str(k), str(s)) for k in (0, 1) for s in (1, 2, 3)]


def test_tensorboard_logger_writes_scalars_and_the_stop_rule(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    x, y = problem()
    r = antigrad.fit(model(), mse_loss, (x, y), lr=0.1, steps=50, val=(x, y), val_every=5,
                     stop=stop.LossChange(1e-3), progress=False,
                     callbacks=[TensorBoardLogger(tmp_path)])
    events = EventAccumulator(str(tmp_path / "run-0"),
                              size_guidance={"scalars": 0, "tensors": 0}).Reload()
    for key in ("loss", "lr", "grad_norm"):
        scalars = events.Scalars(f"train/{key}")
        assert [s.step for s in scalars] == r.history["step"]
        assert [s.value for s in scalars] == pytest.approx(r.history[key], rel=1e-6)
    assert [s.step for s in events.Scalars("val/loss")] == r.history.val["step"]
    (text,) = events.Tensors("stopped_by/text_summary")
    assert text.step == r.stopped_at
    assert r.stopped_by in text.tensor_proto.string_val[0].decode()
