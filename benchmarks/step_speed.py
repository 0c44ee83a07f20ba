"""Optimizer step speed: antigrad vs torch.optim on the same parameters, in one process.

Every contestant of a case runs on its own copy of the same parameters and gradients;
the cases' steps are interleaved (one step of each, round after round) and the median
time per step is reported with the ratio to the peer and the effective bandwidth
(bytes the update must read and write per step / time).

    .venv/bin/python benchmarks/step_speed.py                 # everything, default sizes
    .venv/bin/python benchmarks/step_speed.py --only optim --size 4000000 --repeats 9

Sections: ``optim`` (each torch-compatible optimizer vs its torch twin: default, foreach,
fused), ``textbook`` (textbook optimizers and a custom chain vs fused Adam, in GB/s),
``check`` (cost of the non-finite check), ``loop`` (the step right after a real
backward pass, gradients fresh in cache, with and without the check), ``compile`` (first
step, cold and cached, in a fresh process), ``memory`` (peak resident memory of a step,
fresh process), ``mnist1d`` (an epoch of MLP training).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch
from contest import make_params, median_step, mixed_shapes

import antigrad
from antigrad import textbook
from antigrad import transforms as T

MLP = [(100, 40), (100,), (100, 100), (100,), (10, 100), (10,)]


def traffic(opt) -> int:
    """Bytes one step must move: each input tensor read once, each changed output written once."""
    group = opt.param_groups[0]
    chain = opt.build(group)
    g = chain.graph
    used = {n.name for n in g.nodes if n.op == "tensor"
            and any(n in m.args for m in g.nodes) or n in g.outputs.values()}
    reads = sum(1 for name in g.tensor_inputs if name in used)
    writes = sum(1 for name, out in g.outputs.items()
                 if not (out.op == "tensor" and out.name == name))
    n = sum(p.numel() * p.element_size() for p in group["params"])
    return (reads + writes) * n


def table(title: str, rows: list[tuple], header: tuple) -> None:
    print(f"\n### {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    sys.stdout.flush()


TWINS = {  # antigrad name, kwargs, label
    "Adam": ({}, "Adam"), "AdamW": ({}, "AdamW"), "SGD": ({"lr": 1e-3, "momentum": 0.9},
                                                         "SGD(momentum=0.9)"),
    "Adagrad": ({}, "Adagrad"), "RMSprop": ({}, "RMSprop"), "NAdam": ({}, "NAdam"),
}
FUSED = {"Adam", "AdamW", "SGD", "Adagrad"}  # torch.optim has fused=True for these (CPU)


def section_optim(cases, repeats: int) -> None:
    for case, shapes in cases:
        rows = []
        for name, (kw, label) in TWINS.items():
            twin = getattr(torch.optim, name)
            contestants = {"antigrad": getattr(antigrad, name)(make_params(shapes), **kw)}
            contestants["torch default"] = twin(make_params(shapes), **kw)
            contestants["torch foreach"] = twin(make_params(shapes), foreach=True, **kw)
            if name in FUSED:
                contestants["torch fused"] = twin(make_params(shapes), fused=True, **kw)
            t = median_step(contestants, repeats, warmup=2)
            nbytes = traffic(contestants["antigrad"])
            peer = "torch fused" if name in FUSED else "torch foreach"
            ours = t["antigrad"]
            rows.append((label, f"{ours * 1e3:.3f}", f"{t['torch default'] * 1e3:.3f}",
                         f"{t['torch foreach'] * 1e3:.3f}",
                         f"{t['torch fused'] * 1e3:.3f}" if "torch fused" in t else "-",
                         f"{ours / t[peer]:.2f} ({peer.split()[1]})",
                         f"{nbytes / ours / 1e9:.1f}",
                         f"{nbytes / min(t.values()) / 1e9:.1f}"))
            del contestants
        table(f"torch-compatible optimizers, {case} (ms/step, median of {repeats})", rows,
              ("optimizer", "antigrad", "torch default", "torch foreach", "torch fused",
               "ratio vs peer", "antigrad GB/s", "best GB/s"))


def textbook_contestants(ps_factory):
    custom = T.chain(T.decoupled_weight_decay(), T.scale_by_nadam(momentum_decay=None),
                     T.descend())
    return {
        "textbook.SGD": textbook.SGD(ps_factory(), lr=1e-3),
        "textbook.Momentum": textbook.Momentum(ps_factory(), lr=1e-3),
        "textbook.Nesterov": textbook.Nesterov(ps_factory(), lr=1e-3),
        "textbook.AdaGrad": textbook.AdaGrad(ps_factory(), lr=1e-3),
        "textbook.RMSprop": textbook.RMSprop(ps_factory(), lr=1e-3),
        "textbook.AdamSimple": textbook.AdamSimple(ps_factory(), lr=1e-3),
        "textbook.Adam": textbook.Adam(ps_factory(), lr=1e-3),
        "textbook.Nadam": textbook.Nadam(ps_factory(), lr=1e-3),
        "textbook.AdamW": textbook.AdamW(ps_factory(), lr=1e-3),
        "chain(decay, nadam, descend)": antigrad.ChainOptimizer(ps_factory(), custom, lr=1e-3,
                                                                weight_decay=1e-2),
        "antigrad.RMSprop": antigrad.RMSprop(ps_factory()),
        "antigrad.NAdam": antigrad.NAdam(ps_factory()),
    }


def section_textbook(cases, repeats: int) -> None:
    for case, shapes in cases:
        peer = torch.optim.Adam(make_params(shapes), fused=True)
        peer_bytes = 28 * sum(torch.Size(s).numel() for s in shapes)
        rows = []
        for name, opt in textbook_contestants(lambda shapes=shapes: make_params(shapes)).items():
            t = median_step({"ours": opt, "peer": peer}, repeats, warmup=2)
            ours_bw = traffic(opt) / t["ours"] / 1e9
            peer_bw = peer_bytes / t["peer"] / 1e9
            rows.append((name, f"{t['ours'] * 1e3:.3f}", f"{ours_bw:.1f}", f"{peer_bw:.1f}",
                         f"{ours_bw / peer_bw:.2f}"))
        table(f"textbook and custom chains vs torch fused Adam, {case}", rows,
              ("optimizer", "ms/step", "GB/s", "fused Adam GB/s", "bandwidth ratio"))


def section_check(cases, repeats: int) -> None:
    rows = []
    for case, shapes in cases:
        for name, kw in (("Adam", {}), ("SGD", {"lr": 1e-3, "momentum": 0.9})):
            c = {mode: getattr(antigrad, name)(make_params(shapes), nonfinite=mode, **kw)
                 for mode in ("raise", "ignore")}
            c["fused"] = getattr(torch.optim, name)(make_params(shapes), fused=True, **kw)
            t = median_step(c, repeats, warmup=2)
            cost = t["raise"] - t["ignore"]
            rows.append((case, name, f"{t['ignore'] * 1e3:.3f}", f"{t['raise'] * 1e3:.3f}",
                         f"{t['fused'] * 1e3:.3f}", f"{cost / t['ignore'] * 100:+.0f}%",
                         f"{cost / t['fused'] * 100:+.0f}%"))
    table("cost of the non-finite check (nonfinite='raise' vs 'ignore', and vs a torch fused "
          "step)", rows, ("case", "optimizer", "ignore ms", "raise ms", "torch fused ms",
                         "cost / ignore", "cost / fused step"))


COMPILE = """
import time, torch, antigrad
from antigrad import transforms as T
t0 = time.perf_counter()
p = torch.nn.Parameter(torch.ones(1000))
p.grad = torch.ones(1000)
opt = antigrad.ChainOptimizer([p], T.chain(T.scale_by_rms(eps_root=1e-7, centered=True),
                              T.trace(), T.descend()), lr=1e-3, momentum=0.5)
t = time.perf_counter(); opt.step(); first = time.perf_counter() - t
t = time.perf_counter(); opt.step(); second = time.perf_counter() - t
print(first, second)
"""


def section_compile() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "ANTIGRAD_CACHE_DIR": cache}
        for label in ("cold (empty cache)", "cached (new process)"):
            out = subprocess.run([sys.executable, "-c", COMPILE], env=env, capture_output=True,
                                 text=True, check=True).stdout.split()
            rows.append((label, f"{float(out[0]) * 1e3:.1f}", f"{float(out[1]) * 1e3:.3f}"))
    table("first step of a new chain (fresh process)", rows,
          ("cache", "first step ms", "second step ms"))


MEMORY = """
import sys, resource, torch, antigrad
which, n = sys.argv[1], int(sys.argv[2])
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM"):
            return int(line.split()[1]) * 1024
p = torch.nn.Parameter(torch.randn(n)); p.grad = torch.randn(n)
opt = antigrad.Adam([p]) if which == "antigrad" else torch.optim.Adam([p], fused=True)
opt.step()                     # state exists now; the kernel is compiled/loaded
import gc; gc.collect()
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")               # reset VmHWM to the current resident size
before = hwm()
opt.step()
print(before, hwm())
"""


def section_memory(n: int) -> None:
    rows = []
    for which in ("antigrad", "torch fused"):
        out = subprocess.run([sys.executable, "-c", MEMORY, which.split()[0], str(n)],
                             capture_output=True, text=True, check=True).stdout.split()
        before, peak = int(out[0]), int(out[1])
        rows.append((which, f"{before / 2**20:.0f}", f"{peak / 2**20:.0f}",
                     f"{(peak - before) / 2**20:.1f}"))
    table(f"peak resident memory of one Adam step, {n / 1e6:.1f}M fp32 params", rows,
          ("optimizer", "RSS before step MiB", "peak during step MiB", "step adds MiB"))


def section_loop(repeats: int) -> None:
    """The step as a training loop sees it: right after backward, gradients still in cache."""
    def model():
        torch.manual_seed(0)
        return torch.nn.Sequential(torch.nn.Linear(512, 1024), torch.nn.ReLU(),
                                   torch.nn.Linear(1024, 1024), torch.nn.ReLU(),
                                   torch.nn.Linear(1024, 1024), torch.nn.ReLU(),
                                   torch.nn.Linear(1024, 10))

    x, y = torch.randn(64, 512), torch.randint(0, 10, (64,))
    makers = {"antigrad.Adam (check)": lambda p: antigrad.Adam(p),
              "antigrad.Adam (nonfinite='ignore')": lambda p: antigrad.Adam(p, nonfinite="ignore"),
              "torch Adam fused": lambda p: torch.optim.Adam(p, fused=True)}
    models = {k: model() for k in makers}
    opts = {k: f(models[k].parameters()) for k, f in makers.items()}
    times: dict[str, list[float]] = {k: [] for k in makers}
    for r in range(repeats + 5):
        for k, opt in opts.items():
            opt.zero_grad()
            torch.nn.functional.cross_entropy(models[k](x), y).backward()
            t = time.perf_counter()
            opt.step()
            if r >= 5:
                times[k].append(time.perf_counter() - t)
    n = sum(p.numel() for p in models["torch Adam fused"].parameters())
    peer = statistics.median(times["torch Adam fused"])
    rows = [(k, f"{statistics.median(v) * 1e3:.3f}", f"{statistics.median(v) / peer:.2f}")
            for k, v in times.items()]
    table(f"step after backward, MLP 512-1024-1024-1024-10 ({n / 1e6:.1f}M params), "
          f"median of {repeats}", rows, ("optimizer", "ms/step", "ratio to fused"))


def section_mnist1d(epochs: int) -> None:
    import mnist1d.data

    args = mnist1d.data.get_dataset_args()
    data = mnist1d.data.make_dataset(args)
    x = torch.tensor(data["x"], dtype=torch.float32)
    y = torch.tensor(data["y"], dtype=torch.long)

    def model(seed):
        torch.manual_seed(seed)
        return torch.nn.Sequential(torch.nn.Linear(40, 100), torch.nn.ReLU(),
                                   torch.nn.Linear(100, 100), torch.nn.ReLU(),
                                   torch.nn.Linear(100, 10))

    runs = {"antigrad.Adam": lambda m: antigrad.Adam(m.parameters(), lr=1e-3),
            "torch Adam fused": lambda m: torch.optim.Adam(m.parameters(), lr=1e-3, fused=True)}
    models = {k: model(0) for k in runs}
    opts = {k: f(models[k]) for k, f in runs.items()}
    times: dict[str, list[float]] = {k: [] for k in runs}
    losses = {}
    for epoch in range(epochs):
        perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(epoch))
        spent = dict.fromkeys(runs, 0.0)
        for i in range(0, len(x), 100):  # the contestants alternate batch by batch
            idx = perm[i:i + 100]
            for k in runs:
                m, opt = models[k], opts[k]
                t = time.perf_counter()
                loss = torch.nn.functional.cross_entropy(m(x[idx]), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                spent[k] += time.perf_counter() - t
                losses[k] = loss.detach().item()
        for k in runs:
            times[k].append(spent[k])
    med = {k: statistics.median(v) for k, v in times.items()}
    rows = [(k, f"{med[k] * 1e3:.1f}", f"{med[k] / med['torch Adam fused']:.2f}",
             f"{losses[k]:.4f}") for k in runs]
    table(f"MNIST-1D MLP 40-100-100-10, batch 100, {len(x)} samples/epoch, "
          f"median of {epochs} epochs", rows, ("optimizer", "ms/epoch", "ratio", "last loss"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=16 * 2**20, help="parameters of the large cases")
    ap.add_argument("--tensors", type=int, default=200, help="tensors of the mixed case")
    ap.add_argument("--repeats", type=int, default=11, help="timed steps per contestant")
    ap.add_argument("--small-repeats", type=int, default=500, help="timed steps, MLP case")
    ap.add_argument("--epochs", type=int, default=5, help="MNIST-1D epochs per optimizer")
    ap.add_argument("--only", nargs="*", default=None,
                    choices=["optim", "textbook", "check", "loop", "compile", "memory",
                             "mnist1d"])
    a = ap.parse_args()
    big = [(f"{a.size / 2**20:.0f}M fp32 in {a.tensors} tensors", mixed_shapes(a.size, a.tensors)),
           (f"{a.size / 2**20:.0f}M fp32 in 1 tensor", [(a.size,)])]
    small = [("MLP 40-100-100-10 (15k params, 6 tensors)", MLP)]
    only = set(a.only or ["optim", "textbook", "check", "loop", "compile", "memory",
                          "mnist1d"])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"backend {os.environ.get('ANTIGRAD_BACKEND', 'native')}")
    if "optim" in only:
        section_optim(big, a.repeats)
        section_optim(small, a.small_repeats)
    if "textbook" in only:
        section_textbook(big, a.repeats)
    if "check" in only:
        section_check(big[:1], a.repeats)
        section_check(small, a.small_repeats)
    if "loop" in only:
        section_loop(max(a.small_repeats // 3, 30))
    if "compile" in only:
        section_compile()
    if "memory" in only:
        section_memory(a.size)
    if "mnist1d" in only:
        section_mnist1d(a.epochs)


if __name__ == "__main__":
    main()
