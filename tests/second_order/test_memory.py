"""Memory: what the second-order methods allocate is what their guards and docs count."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch

import antigrad
from antigrad.second_order import HessianMemoryError, curvature
from second_order.so_problems import closure_for


def peak_growth_mib(code: str) -> float:
    """Run ``code`` (which defines ``setup()`` and ``work()``) in a fresh interpreter and
    return how much its peak resident memory grew during ``work()``, in MiB."""
    script = textwrap.dedent(code) + textwrap.dedent("""
        import resource
        setup()
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        work()
        print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=300, check=True)
    return float(out.stdout.split()[-1])


NEWTON = """
import torch, antigrad
from antigrad.second_order import curvature
curvature.CHUNK_BYTES = 8 * 2**20
torch.manual_seed(0)
x = torch.randn(1000, 128, dtype=torch.float64)
y = torch.randint(0, 2, (1000,)).double() * 2 - 1
w = torch.zeros(128, dtype=torch.float64, requires_grad=True)
opt = antigrad.Newton([w], max_iter=1)

def closure():
    opt.zero_grad()
    loss = torch.nn.functional.softplus(-y * (x * w).sum(1)).mean()
    loss.backward()
    return loss

def setup():
    closure()

def work():
    opt.step(closure)
"""


def test_newton_hessian_batches_are_sized_by_the_graph():
    """A 128 KiB Hessian of a loss whose graph holds 1000x128 activations: batching all
    128 Hessian-vector products at once peaked at +134 MiB with an 8 MiB batch budget; a
    batch sized by the measured graph stays near the budget."""
    assert peak_growth_mib(NEWTON) < 48


def test_graph_bytes_are_measured_and_shrink_the_batch():
    x = torch.randn(1000, 128, dtype=torch.float64)
    w = torch.zeros(128, dtype=torch.float64, requires_grad=True)
    opt = antigrad.Newton([w])
    flat = opt._flat()
    flat.evaluate(closure_for(opt, lambda: torch.nn.functional.softplus((x * w).sum(1)).mean()),
                  graph=True)
    assert flat.graph_bytes >= x.numel() * 8  # x * w is saved for the backward
    assert curvature.chunk_rows(flat) * flat.graph_bytes <= curvature.CHUNK_BYTES


def test_newton_guard_counts_the_hessian_vector_batch():
    """3n² alone fits the limit, the batch of Hessian-vector products on top does not."""
    w = torch.zeros(100, dtype=torch.float64, requires_grad=True)
    dense = 3 * 100 * 100 * 8
    with pytest.raises(HessianMemoryError, match="MiB of working memory"):
        antigrad.Newton([w], max_hessian_bytes=dense + 1000)
    antigrad.Newton([w], max_hessian_bytes=dense + curvature.CHUNK_BYTES)


LBFGS = """
import torch, antigrad
n, m = 100_000, 50
w = torch.zeros(n, requires_grad=True)
c = torch.linspace(-1, 1, n)
opt = antigrad.LBFGS([w], history_size=m, max_iter=10)

def closure():
    opt.zero_grad()
    loss = ((w - c) ** 4).sum()
    loss.backward()
    return loss

def setup():
    closure()

def work():
    opt.step(closure)
"""


def test_lbfgs_allocates_m_pairs_and_touches_only_those_used():
    """history_size=50, n=100k, float32: the history is 2mn numbers (38 MiB), of which 10
    iterations use 20 rows; a 4mn zero-filled buffer made the step grow by ~76 MiB."""
    assert peak_growth_mib(LBFGS) < 24


def test_lbfgs_history_buffer_is_two_m_n():
    w = torch.zeros(7, dtype=torch.float64, requires_grad=True)
    opt = antigrad.LBFGS([w], history_size=3, max_iter=30, tolerance_change=0)
    a = torch.linspace(1, 3, 7, dtype=torch.float64)
    opt.step(closure_for(opt, lambda: (a * (w - 1) ** 4).sum()))
    assert opt.state[w]["pairs"].shape == (2 * 3, 7)


def test_lbfgs_loads_a_history_saved_in_the_larger_window_layout():
    """Checkpoints written when the history was a window of a 4m-row buffer load into the
    ring and give the same directions."""
    from antigrad.second_order.flat import Point
    m, n = 3, 5
    gen = torch.Generator().manual_seed(0)
    w = torch.zeros(n, dtype=torch.float64, requires_grad=True)
    opt = antigrad.LBFGS([w], history_size=m)
    state = {}
    for s in torch.randn(2, n, generator=gen, dtype=torch.float64):
        opt.remember(state, s, 2 * s + 0.1 * s.flip(0), opt.defaults)
    old = torch.zeros(4 * m, n, dtype=torch.float64)
    old[6:10] = state["pairs"][:4]
    gram = torch.zeros(4 * m, 4 * m, dtype=torch.float64)
    gram[6:10, 6:10] = state["gram"][:4, :4]
    legacy = {"func_evals": 3, "n_iter": 2, "pairs": old, "gram": gram, "start": 3,
              "count": 2, "gamma": state["gamma"]}
    opt.load_state_dict({"state": {0: legacy}, "param_groups": opt.state_dict()["param_groups"]})
    g = torch.randn(n, generator=gen, dtype=torch.float64)
    got, _ = opt.direction(Point(w.detach(), 0.0, g), opt.state[w], opt.defaults, None)
    want, _ = opt.direction(Point(w.detach(), 0.0, g), state, opt.defaults, None)
    torch.testing.assert_close(got, want, rtol=1e-14, atol=0)
    assert opt.state[w]["pairs"].shape == (2 * m, n)
