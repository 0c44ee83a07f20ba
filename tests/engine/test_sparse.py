"""Sparse gradients (nn.Embedding(sparse=True)) for SGD and Adagrad, against torch.optim;
the other optimizers refuse them as torch does."""

import pytest
import torch

import antigrad


def _model(seed=0):
    torch.manual_seed(seed)
    return torch.nn.ModuleDict({"emb": torch.nn.Embedding(20, 4, sparse=True),
                                "head": torch.nn.Linear(4, 1)})


def _run(cls, kwargs, steps=4):
    model = _model()
    opt = cls(model.parameters(), **kwargs)
    gen = torch.Generator().manual_seed(1)
    for _ in range(steps):
        opt.zero_grad()
        # Repeated indices: the embedding's gradient is uncoalesced.
        idx = torch.randint(0, 20, (3, 5), generator=gen)
        model["head"](model["emb"](idx)).pow(2).mean().backward()
        assert model["emb"].weight.grad.is_sparse
        opt.step()
    return model, opt


def _dense(t):
    return t.to_dense() if isinstance(t, torch.Tensor) and t.is_sparse else t


CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, maximize=True)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.1, initial_accumulator_value=0.1, maximize=True)),
]


@pytest.mark.parametrize(("name", "kwargs"), CASES)
def test_sparse_gradients_match_torch(name, kwargs):
    ours, opt = _run(getattr(antigrad, name), kwargs)
    theirs, ref = _run(getattr(torch.optim, name), kwargs)
    for (_, a), (_, b) in zip(ours.named_parameters(), theirs.named_parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
        state, expected = opt.state[a], ref.state[b]
        assert set(state) == set(expected)
        for key in expected:
            torch.testing.assert_close(_dense(state[key]), _dense(expected[key]),
                                       rtol=1e-6, atol=1e-7)


def test_rows_without_gradient_and_their_state_stay_untouched():
    model, opt = _run(antigrad.Adagrad, dict(lr=0.1), steps=1)
    weight = model["emb"].weight
    before, acc = weight.detach().clone(), opt.state[weight]["sum"].clone()
    opt.zero_grad()
    model["emb"](torch.tensor([3, 3, 7])).sum().backward()
    opt.step()
    moved = (weight.detach() != before).any(dim=1).nonzero().flatten().tolist()
    assert moved == [3, 7]
    assert (opt.state[weight]["sum"] != acc).any(dim=1).nonzero().flatten().tolist() == [3, 7]


def test_adagrad_weight_decay_is_refused_as_torch():
    for cls in (antigrad.Adagrad, torch.optim.Adagrad):
        with pytest.raises(RuntimeError, match="weight_decay option is not compatible"):
            _run(cls, dict(weight_decay=0.1), steps=1)


def test_sgd_weight_decay_is_refused_as_torch():
    with pytest.raises(RuntimeError, match="add.sparse, dense. is not supported"):
        _run(torch.optim.SGD, dict(lr=0.1, weight_decay=0.1), steps=1)
    model = _model()
    opt = antigrad.SGD(model.parameters(), lr=0.1, weight_decay=0.1)
    model["head"](model["emb"](torch.tensor([1, 2]))).sum().backward()
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(RuntimeError, match="weight_decay is not supported with sparse"):
        opt.step()
    for p, b in zip(model.parameters(), before, strict=True):
        assert torch.equal(p.detach(), b)


@pytest.mark.parametrize("name", ["Adam", "AdamW", "RMSprop", "NAdam"])
def test_other_optimizers_refuse_sparse_gradients(name):
    for cls in (getattr(antigrad, name), getattr(torch.optim, name)):
        with pytest.raises(RuntimeError, match="does not support sparse gradients"):
            _run(cls, {}, steps=1)


def test_nonfinite_sparse_gradient_is_refused_before_any_write():
    model = _model()
    opt = antigrad.SGD(model.parameters(), lr=0.1, nonfinite="raise")
    model["head"](model["emb"](torch.tensor([1, 2]))).sum().backward()
    weight = model["emb"].weight
    weight.grad = torch.sparse_coo_tensor(torch.tensor([[1]]),
                                          torch.full((1, 4), float("nan")), weight.shape)
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(antigrad.NonFiniteGradientError):
        opt.step()
    for p, b in zip(model.parameters(), before, strict=True):
        assert torch.equal(p.detach(), b)
