"""The per-tensor stand-in for torch's foreach ops: each call is a loop of the per-tensor op."""

import pytest
import torch

from antigrad.engine import pertensor
from antigrad.engine.pertensor import OPS


def bf16(*values):
    return torch.tensor(values, dtype=torch.bfloat16)


def test_each_call_is_the_per_tensor_op_with_list_arguments_taken_one_by_one():
    xs, ys = [bf16(1.0, 2.0), bf16(3.0)], [bf16(0.5, 0.25), bf16(4.0)]
    want = [x.clone() for x in xs]
    for x, y, s in zip(want, ys, (2.0, 3.0), strict=True):
        x.mul_(s).add_(y, alpha=-0.5).addcdiv_(y, y + 1, value=0.3).clamp_min_(0.1)
    OPS._foreach_mul_(xs, (2.0, 3.0))  # one scalar per tensor
    OPS._foreach_add_(xs, ys, alpha=-0.5)
    OPS._foreach_addcdiv_(xs, ys, OPS._foreach_add(ys, 1.0), value=0.3)
    OPS._foreach_clamp_min_(xs, 0.1)
    assert all(torch.equal(x, w) for x, w in zip(xs, want, strict=True))


def test_maximum_in_place_writes_into_its_first_operand():
    xs, ys = [bf16(1.0, 5.0)], [bf16(2.0, 3.0)]
    first = xs[0]
    OPS._foreach_maximum_(xs, ys)
    assert xs[0] is first and torch.equal(first, bf16(2.0, 5.0))


def test_rounds_as_torchs_for_loop_not_as_its_foreach_ops():
    """The reason it exists: in bfloat16 the two differ somewhere in these values."""
    x = torch.randn(4096, generator=torch.Generator().manual_seed(0)).to(torch.bfloat16)
    loop, lists = [x.clone()], [x.clone()]
    OPS._foreach_mul_(loop, 0.9)
    torch._foreach_mul_(lists, 0.9)
    assert torch.equal(loop[0], x.mul(0.9))
    assert not torch.equal(loop[0], lists[0])


def test_only_foreach_names_exist():
    with pytest.raises(AttributeError, match="mul_"):
        _ = OPS.mul_


@pytest.mark.parametrize("device,dtype,foreach,want", [
    ("cpu", torch.bfloat16, None, True), ("cpu", torch.float16, False, True),
    ("cpu", torch.bfloat16, True, False), ("cpu", torch.float32, None, False),
    ("meta", torch.bfloat16, None, False)])
def test_wanted_where_torchs_default_is_its_for_loop(device, dtype, foreach, want):
    assert pertensor.wanted(torch.device(device), dtype, {"foreach": foreach}) is want
