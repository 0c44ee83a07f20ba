"""The lab's optimizer registry: every name builds and steps; bad input."""

import pytest
import torch

from antigrad.lab.optimizers import (
    LECTURE_OPTIMIZERS,
    OptimizerSpec,
    get_optimizer,
    optimizer_names,
    register_optimizer,
)
from antigrad.problems import UnknownNameError


def test_lecture_order_and_sections():
    assert optimizer_names()[:9] == ["sgd", "momentum", "nesterov", "adagrad", "rmsprop",
                                     "adam-simple", "adam", "nadam", "adamw"]
    assert [LECTURE_OPTIMIZERS[n].lecture for n in ("momentum", "adam", "adamw")] == \
        ["L7", "L12", "L14"]


@pytest.mark.parametrize("name", optimizer_names())
def test_builds_and_descends(name):
    w = torch.nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
    opt = get_optimizer(name).build([w], lr=0.01)
    assert isinstance(opt, torch.optim.Optimizer)
    before = float((w.detach() ** 2).sum())
    for _ in range(5):
        opt.zero_grad()
        (w**2).sum().backward()
        opt.step()
    assert float((w.detach() ** 2).sum()) < before


def test_lecture_names_are_the_textbook_formulas():
    assert get_optimizer("momentum").resolve().__module__ == "antigrad.textbook"
    assert get_optimizer("adam-simple").resolve().__name__ == "AdamSimple"


def test_register_and_errors():
    register_optimizer(OptimizerSpec("torch-adam", "torch Adam", "L12", "antigrad:Adam",
                                     family="adaptive"))
    try:
        assert "torch-adam" in optimizer_names()
    finally:
        del LECTURE_OPTIMIZERS["torch-adam"]
    with pytest.raises(UnknownNameError, match="choose from: sgd, momentum"):
        get_optimizer("adamax")
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="lr"):
            get_optimizer("sgd").build([torch.nn.Parameter(torch.zeros(1))], lr=bad)
