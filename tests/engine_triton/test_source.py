"""The generated source: correctly rounded arithmetic, and bfloat16 rounded to nearest even
(the same bits in the interpreter as on the GPU)."""

import struct

import torch

import antigrad
from antigrad.engine import tritonkernel, tritonsource


def _adam_source(dtype):
    opt = antigrad.Adam([torch.nn.Parameter(torch.zeros(2, dtype=dtype))])
    graph = opt.build(opt.param_groups[0]).graph
    return tritonsource.step_source(graph, dict.fromkeys(graph.tensor_inputs, dtype), 1)


def test_float32_division_and_square_root_are_correctly_rounded():
    # Triton's plain float32 `/` and `sqrt` are approximate on the GPU.
    src = _adam_source(torch.float32)
    assert "tl.math.div_rn(" in src and "tl.sqrt_rn(" in src
    body = src[src.index("offs = start"):]
    assert " / " not in body and "tl.sqrt(" not in body
    wide = _adam_source(torch.float64)
    assert "tl.float64" in wide and "div_rn" not in wide  # float64 math for float64


def test_half_outputs_are_rounded_once_when_stored():
    src = _adam_source(torch.bfloat16)
    stores = [line for line in src.splitlines() if line.strip().startswith("tl.store(x")]
    assert len(stores) == 3 and all("_round_bf16(" in line for line in stores)
    assert all(".to(tl.bfloat16" not in line for line in stores)  # (the interpreter truncates)


def _bits(values):
    return torch.tensor([struct.unpack("<f", struct.pack("<I", v))[0] for v in values],
                        dtype=torch.float32)


def test_bfloat16_rounding_is_to_nearest_even():
    src = tritonsource.step_source.__globals__["_HEADER"] + '''

@triton.jit
def convert(x, y, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    m = offs < n
    tl.store(y + offs, _round_bf16(tl.load(x + offs, mask=m)), mask=m)
'''
    module = tritonkernel._load(src)
    edge = _bits([0x3F808000, 0x3F818000, 0x3F808001, 0x3F80FFFF, 0x7F7FFFFF, 0x00008000,
                  0x80018000, 0x7F800000, 0xFF800000, 0x7FC00000, 0x7F800001, 0x00000000])
    g = torch.Generator().manual_seed(0)
    x = torch.cat([edge, torch.randn(500, generator=g) * 10.0 ** torch.randint(
        -30, 30, (500,), generator=g)])
    y = torch.empty(len(x), dtype=torch.bfloat16)
    module.convert[(1,)](x, y, len(x), BLOCK=1024)
    want = x.to(torch.bfloat16)
    assert torch.equal(y.isnan(), want.isnan())
    assert torch.equal(y.view(torch.int16)[~want.isnan()], want.view(torch.int16)[~want.isnan()])
