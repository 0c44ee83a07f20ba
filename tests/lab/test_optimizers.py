"""The lab's optimizer registry: every name builds and steps; bad input."""

import pytest
import torch

from antigrad.errors import ConfigError
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


# --- optimizers written as text: classes, torch, second order, a user's chain or factory

USER_OPT = '''
import torch
from antigrad import transforms as T

momentum_chain = T.chain(T.trace(), T.descend())

def make(params, lr, decay=0.0):
    return torch.optim.SGD(params, lr=lr, weight_decay=decay)

def chain_factory(params, lr, beta=0.9):
    return T.chain(T.trace(), T.descend())

def not_an_optimizer(params, lr):
    return 42
'''


@pytest.fixture
def user_opt(tmp_path, monkeypatch):
    (tmp_path / "useropt_lab.py").write_text(USER_OPT)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "useropt_lab"


def _param():
    return [torch.nn.Parameter(torch.tensor([1.0, -2.0]))]


def test_torch_and_antigrad_classes_with_arguments():
    import antigrad

    s = get_optimizer("antigrad:AdamW(weight_decay=0.1, betas=(0.9, 0.95))")
    opt = s.build(_param(), lr=0.01)
    assert type(opt) is antigrad.AdamW and opt.defaults["betas"] == (0.9, 0.95)
    assert opt.defaults["weight_decay"] == 0.1 and s.default_lr == 1e-3  # torch's default
    t = get_optimizer("torch:SGD(momentum=0.9, lr=0.05)")
    opt = t.build(_param(), lr=t.default_lr)
    assert type(opt) is torch.optim.SGD and opt.defaults["momentum"] == 0.9
    assert t.default_lr == 0.05 and "lr" not in t.kwargs  # lr= is the grid's centre
    lecture = get_optimizer("momentum(gamma=0.5)")
    assert lecture.resolve().__name__ == "Momentum" and lecture.kwargs == {"gamma": 0.5}
    assert get_optimizer("torch:Adam").name == "torch:Adam"


def test_second_order_steps_with_a_closure():
    from antigrad.lab import train_run
    from antigrad.lab.optimizers import needs_closure
    from antigrad.problems import get_training_problem

    s = get_optimizer("antigrad:LBFGS(history_size=5, max_iter=4)")
    assert needs_closure(s.build(_param(), lr=1.0))
    assert not needs_closure(get_optimizer("adam").build(_param(), lr=1.0))
    r = train_run(get_training_problem("noisy-least-squares"), s, 1.0, steps=5,
                  batch_size=1000)
    assert not r.diverged and r.losses[-1][1] < 0.5 * r.losses[0][1]


def test_users_chain_and_factories(user_opt):
    from antigrad import ChainOptimizer

    chain = get_optimizer(f"{user_opt}:momentum_chain(momentum=0.5)")
    opt = chain.build(_param(), lr=0.1)
    assert isinstance(opt, ChainOptimizer) and opt.defaults["momentum"] == 0.5
    made = get_optimizer(f"{user_opt}:make(decay=0.01)").build(_param(), lr=0.1)
    assert type(made) is torch.optim.SGD and made.defaults["weight_decay"] == 0.01
    assert isinstance(get_optimizer(f"{user_opt}:chain_factory").build(_param(), lr=0.1),
                      ChainOptimizer)


@pytest.mark.parametrize("text, error, why", [
    ("adamm", UnknownNameError, "(did you mean 'adam'?)"),
    ("torch:Adamm", "EntryPointError", "no attribute 'Adamm' (did you mean 'Adam'?)"),
    ("torch:AdamW(wieght_decay=0.1)", ConfigError,
     "unknown argument 'wieght_decay' (did you mean 'weight_decay'?)"),
    ("antigrad:AdamW(betas=(1.2, 0.9))", ConfigError, "beta"),
    ("adam(lr=-1)", ConfigError, "invalid lr -1"),
    ("sgd@cosin", ConfigError, "(did you mean 'cosine'?)"),
    ("sgd@cosine@step", ConfigError, "at most one '@'"),
    ("adam(eps=__import__('os'))", ConfigError, "not a literal"),
    ("{m}:make(decy=0.1)", ConfigError, "(did you mean 'decay'?)"),
    ("{m}:not_an_optimizer", "EntryPointError", "it gave int, not a torch.optim.Optimizer"),
])
def test_bad_optimizer_texts(text, error, why, user_opt):
    import re

    from antigrad.errors import EntryPointError

    error = EntryPointError if error == "EntryPointError" else error
    with pytest.raises(error, match=re.escape(why)):
        get_optimizer(text.format(m=user_opt))


def test_schedule_changes_the_lr_during_a_run():
    from antigrad.lab import train_run
    from antigrad.problems import get_training_problem

    p = get_training_problem("breast-cancer")
    flat = train_run(p, get_optimizer("sgd"), 0.5, steps=6, batch_size=455)
    # the lr drops to ~0 after the first step: full-batch losses stop changing
    frozen = train_run(p, get_optimizer("sgd@StepLR(step_size=1, gamma=1e-12)"), 0.5,
                       steps=6, batch_size=455)
    assert frozen.losses[0] == flat.losses[0] and frozen.losses[1] == flat.losses[1]
    assert frozen.losses[2][1] == pytest.approx(frozen.losses[5][1], rel=1e-6)
    assert flat.losses[5][1] < flat.losses[2][1] - 1e-4
