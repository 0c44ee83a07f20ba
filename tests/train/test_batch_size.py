"""find_batch_size (L5): the largest batch whose time per example still falls enough."""

import re

import pytest
import torch

import antigrad

MODEL = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.ReLU(), torch.nn.Linear(32, 1))
SAMPLE = (torch.randn(5, 8), torch.randn(5, 1))
LOSS = torch.nn.functional.mse_loss


def parallel_up_to(width, overhead=1e-3, per_example=1e-5):
    """A machine that runs `width` examples at once: time = overhead + extra beyond width."""
    return lambda b: overhead + per_example * max(b - width, 0)


@pytest.mark.parametrize("width,overhead,expected", [
    (64, 1e-3, 256),    # τ(64)=15.6µs, τ(128)=12.8 (-18%), τ(256)=11.4 (-11%), τ(512)=10.7 (-6%)
    (512, 1e-3, 512),   # τ halves up to 512, then rises
    (1, 1e-6, 1),       # no parallelism, no overhead: τ(2) > τ(1)
])
def test_answer_from_an_injected_timer(width, overhead, expected):
    r = antigrad.find_batch_size(MODEL, LOSS, SAMPLE, timer=parallel_up_to(width, overhead))
    assert r.batch_size == expected
    per = [t / b for t, b in zip(r.times, r.sizes, strict=True)]
    assert r.time_per_example == pytest.approx(per)
    k = r.sizes.index(expected)
    assert all(b < (1 - 0.1) * a for a, b in zip(per[:k], per[1:k + 1], strict=True))
    assert not per[k + 1] < 0.9 * per[k]          # the next one fell by 10% or less


def test_threshold_and_candidates():
    timer = parallel_up_to(64)
    assert antigrad.find_batch_size(MODEL, LOSS, SAMPLE, timer=timer,
                                    threshold=0.2).batch_size == 64
    r = antigrad.find_batch_size(MODEL, LOSS, SAMPLE, timer=timer, candidates=[3, 30, 300])
    assert r.sizes == [3, 30, 300] and r.batch_size == 300
    assert r.reason == "reached the largest candidate, 300"


def test_memory_limit_stops_the_walk():
    r = antigrad.find_batch_size(MODEL, LOSS, SAMPLE, timer=lambda b: 1e-3,
                                 memory=lambda b: 1000 * b, memory_limit=20_000)
    assert r.batch_size == 16 and "batch 32 needs 32000 bytes > memory_limit 20000" in r.reason
    with pytest.raises(ValueError, match=re.escape("Invalid memory_limit: 10")):
        antigrad.find_batch_size(MODEL, LOSS, SAMPLE, memory=lambda b: 1000 * b,
                                 memory_limit=10)


def test_cpu_memory_estimate_grows_with_the_batch_and_weights_are_untouched():
    before = [p.detach().clone() for p in MODEL.parameters()]
    r = antigrad.find_batch_size(MODEL, LOSS, SAMPLE, candidates=[4, 8, 16], threshold=0.0,
                                 memory_limit=10**9, repeats=1)
    assert r.sizes and all(m is not None for m in r.memory)
    params = sum(p.numel() * 4 for p in MODEL.parameters())
    assert r.memory[0] > params
    if len(r.memory) > 1:
        assert r.memory[1] > r.memory[0]
    assert all(torch.equal(p, q) for p, q in zip(MODEL.parameters(), before, strict=True))
    assert all(p.grad is None for p in MODEL.parameters())


@pytest.mark.parametrize("kwargs,error,text", [
    (dict(threshold=1.0), ValueError, "Invalid threshold: 1.0"),
    (dict(candidates=[4, 2]), ValueError, "Invalid candidates: [4, 2]"),
    (dict(max_batch_size=0), ValueError, "Invalid max_batch_size: 0"),
    (dict(repeats=0), ValueError, "Invalid repeats: 0"),
    (dict(memory_limit=-5), ValueError, "Invalid memory_limit: -5"),
])
def test_bad_arguments(kwargs, error, text):
    with pytest.raises(error, match=re.escape(text)):
        antigrad.find_batch_size(MODEL, LOSS, SAMPLE, **kwargs)
    with pytest.raises(TypeError, match="Invalid sample"):
        antigrad.find_batch_size(MODEL, LOSS, [])


def test_out_of_memory_is_caught_by_type():
    def timer(b):
        if b >= 64:
            raise torch.OutOfMemoryError("allocator: cannot allocate 1 GiB")
        return 1e-3
    r = antigrad.find_batch_size(MODEL, LOSS, SAMPLE, timer=timer)
    assert r.batch_size == 32 and r.reason == "batch 64 ran out of memory"

    def broken(b):  # a bug whose message mentions memory is not an out-of-memory
        raise RuntimeError("index 9 is out of memory range")
    with pytest.raises(RuntimeError, match="out of memory range"):
        antigrad.find_batch_size(MODEL, LOSS, SAMPLE, timer=broken)
