"""Optimizer step speed on a GPU: antigrad's Triton backend vs torch's fused, foreach and
torch.compile'd steps (and optimi when it imports), in one process.

    python benchmarks/gpu_step.py                    # a CUDA machine: every layout
    python benchmarks/gpu_step.py --layout llama-1b --only Adam AdamW
    python benchmarks/gpu_step.py --capturable       # capturable and CUDA-graph steps
    TRITON_INTERPRET=1 python benchmarks/gpu_step.py --smoke   # CPU: tiny, proves it runs

Layouts: ``uniform-16m`` (16M float32 parameters in 200 tensors), ``llama-1b`` (the
tensors of a 1.24B-parameter Llama-3.2-1B-shaped transformer in bfloat16: 16 layers,
hidden 2048, 8 KV heads of 64, MLP 8192, vocabulary 128256, tied embedding), ``mlp-15k``
(a 15k-parameter MLP: launch overhead). Per optimizer and implementation it prints the
first step (seconds: kernel generation and compilation when cold), the warm milliseconds
per step (CUDA events over ``--steps`` steps), the effective bandwidth (the bytes the
update must move: each input read once, each changed output written once, over the warm
time), and that bandwidth as a fraction of the device's copy bandwidth measured here
(and of its specification when the device is known). antigrad runs with
``nonfinite="ignore"`` (torch's behaviour, no check) unless ``--check``.

``--capturable`` races capturable steps instead (Adam, AdamW, NAdam, RMSprop, with a
tensor ``lr`` on the device): antigrad's and torch's (fused for Adam/AdamW, foreach
otherwise) called eagerly, and each captured in a CUDA graph after three warm-up steps on
a side stream and replayed (``graph`` rows: the whole step is one replay).

``--smoke`` runs Triton's interpreter on CPU tensors (set ``TRITON_INTERPRET=1`` before
starting Python): tiny layouts, two steps, the first optimizer with torch.compile; its
times mean nothing, it shows that every path of the script works.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable

import torch

import antigrad
from antigrad import textbook

TORCH_FACE = ["SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "NAdam"]
TEXTBOOK = {"SGD": {}, "Momentum": {}, "Nesterov": {}, "AdaGrad": {}, "RMSprop": {},
            "AdamSimple": {}, "Adam": {}, "Nadam": {}, "AdamW": {}}
FUSED = {"SGD", "Adagrad", "Adam", "AdamW"}  # torch.optim classes with fused=True
OPTIONS = {"SGD": {"momentum": 0.9}, "RMSprop": {"momentum": 0.9}}
# Memory bandwidth of known devices, bytes/s (vendor specifications).
SPEC_BANDWIDTH = {"H200": 4.8e12, "H100 SXM": 3.35e12, "H100 NVL": 3.9e12, "H100 PCIe": 2.0e12,
                  "H100": 3.35e12, "A100-SXM4-80GB": 2.039e12, "A100 80GB PCIe": 1.935e12,
                  "A100": 1.555e12, "L40S": 8.64e11, "L4": 3.0e11, "A10G": 6.0e11,
                  "RTX 4090": 1.008e12, "RTX 3090": 9.36e11, "MI300X": 5.3e12, "MI250X": 3.2e12}


def uniform_16m(smoke: bool) -> tuple[list[tuple[int, ...]], torch.dtype]:
    count, total = (3, 3000) if smoke else (200, 16_000_000)
    return [(total // count,)] * count, torch.float32


def llama_1b(smoke: bool) -> tuple[list[tuple[int, ...]], torch.dtype]:
    """Llama-3.2-1B's parameter tensors (the embedding is tied to the output layer)."""
    hidden, layers, kv, mlp, vocab = (16, 1, 8, 32, 50) if smoke else (2048, 16, 512, 8192,
                                                                       128256)
    shapes: list[tuple[int, ...]] = [(vocab, hidden)]
    for _ in range(layers):
        shapes += [(hidden,), (hidden, hidden), (kv, hidden), (kv, hidden), (hidden, hidden),
                   (hidden,), (mlp, hidden), (mlp, hidden), (hidden, mlp)]
    return shapes + [(hidden,)], torch.bfloat16


def mlp_15k(smoke: bool) -> tuple[list[tuple[int, ...]], torch.dtype]:
    if smoke:
        return [(8, 4), (8,), (3, 8), (3,)], torch.float32
    return [(128, 64), (128,), (48, 128), (48,), (10, 48), (10,)], torch.float32  # 15,002


LAYOUTS = {"uniform-16m": uniform_16m, "llama-1b": llama_1b, "mlp-15k": mlp_15k}


def make(shapes, dtype, device) -> list[torch.nn.Parameter]:
    g = torch.Generator(device=device).manual_seed(0)
    ps = [torch.nn.Parameter(torch.randn(s, generator=g, device=device).to(dtype))
          for s in shapes]
    for p in ps:
        p.grad = (torch.randn(p.shape, generator=g, device=device) * 1e-3).to(dtype)
    return ps


def traffic(opt, check: bool) -> int:
    """Bytes one step must move: each input tensor read once, each changed output written
    once (the state in the parameters' dtype), plus one more read of the gradients when
    they are checked first."""
    group = opt.param_groups[0]
    g = opt.build(group).graph
    used = {n.name for n in g.nodes if n.op == "tensor"}
    reads = sum(1 for name in g.tensor_inputs if name in used) + int(check)
    writes = sum(1 for name, out in g.outputs.items()
                 if not (out.op == "tensor" and out.name == name))
    n = sum(p.numel() * p.element_size() for grp in opt.param_groups for p in grp["params"])
    return (reads + writes) * n


class Clock:
    """Wall time of ``steps`` calls: CUDA events on a GPU, perf_counter on the CPU."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()

    def first(self, step: Callable[[], object]) -> float:
        self.sync()
        t = time.perf_counter()
        step()
        self.sync()
        return time.perf_counter() - t

    def per_step(self, step: Callable[[], object], steps: int) -> float:
        step()  # one more warm-up
        self.sync()
        if self.cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(steps):
                step()
            end.record()
            end.synchronize()
            return start.elapsed_time(end) / 1e3 / steps
        t = time.perf_counter()
        for _ in range(steps):
            step()
        return (time.perf_counter() - t) / steps


def contestants(name: str, face: str, compile_too: bool) -> dict[str, Callable]:
    """Implementation -> ``factory(params) -> step function``."""
    kw = OPTIONS.get(name, {})
    lr = 1e-3
    if face == "textbook":
        return {"antigrad": lambda ps: getattr(textbook, name)(ps, lr=lr,
                                                               nonfinite=NONFINITE).step}
    out = {"antigrad": lambda ps: getattr(antigrad, name)(ps, lr=lr, nonfinite=NONFINITE,
                                                          **kw).step}
    if name in FUSED:
        out["torch fused"] = lambda ps: getattr(torch.optim, name)(ps, lr=lr, fused=True,
                                                                   **kw).step
    out["torch foreach"] = lambda ps: getattr(torch.optim, name)(ps, lr=lr, foreach=True,
                                                                 **kw).step
    if compile_too:
        def compiled(ps):
            # A tensor lr (no recompilation when it changes) with foreach needs
            # capturable=True (torch refuses it otherwise), and lives on the device.
            opt = getattr(torch.optim, name)(
                ps, lr=torch.tensor(lr, device=ps[0].device), foreach=True, capturable=True,
                **kw) if name in ("Adam", "AdamW") else getattr(torch.optim, name)(ps, lr=lr, **kw)
            return torch.compile(opt.step)
        out["torch.compile"] = compiled
    optimi = _optimi()
    if optimi is not None and hasattr(optimi, name):
        out["optimi"] = lambda ps: getattr(optimi, name)(ps, lr=lr, **kw).step
    return out


CAPTURABLE = ("Adam", "AdamW", "NAdam", "RMSprop")


def capturable_contestants(name: str, device: torch.device) -> dict[str, Callable]:
    """Capturable steps with a device tensor ``lr``: eager, and replayed CUDA graphs."""
    kw = OPTIONS.get(name, {})
    torch_kw = {"fused": True} if name in FUSED else {"foreach": True}
    flavour = "fused" if name in FUSED else "foreach"

    def ours(ps):
        return getattr(antigrad, name)(ps, lr=torch.tensor(1e-3, device=device),
                                       capturable=True, nonfinite="ignore", **kw)

    def theirs(ps):
        return getattr(torch.optim, name)(ps, lr=torch.tensor(1e-3, device=device),
                                          capturable=True, **torch_kw, **kw)

    return {"antigrad capturable": lambda ps: ours(ps).step,
            f"torch {flavour} capturable": lambda ps: theirs(ps).step,
            "antigrad graph": lambda ps: graphed(ours(ps)),
            f"torch {flavour} graph": lambda ps: graphed(theirs(ps))}


def graphed(opt) -> Callable[[], object]:
    """``opt.step`` captured in a CUDA graph (after warm-up steps on a side stream, as
    torch's documentation asks); its ``replay``. The gradients stay where they are."""
    if not torch.cuda.is_available() or opt.param_groups[0]["params"][0].device.type != "cuda":
        raise RuntimeError("CUDA graphs need a CUDA device (this row runs only on a GPU)")
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            opt.step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        opt.step()
    return graph.replay


def _optimi():
    try:
        import optimi
    except ImportError:
        return None
    return optimi


def copy_bandwidth(device: torch.device, smoke: bool) -> float:
    """Bytes/s of a large device-to-device copy (read + write), measured here."""
    n = 1 << (16 if smoke else 28)  # 1 GiB of float32 on a GPU
    x = torch.empty(n, device=device)
    y = torch.empty_like(x)
    clock = Clock(device)
    seconds = clock.per_step(lambda: y.copy_(x), 3 if smoke else 20)
    return 2 * x.numel() * x.element_size() / seconds


def spec_bandwidth(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key, value in SPEC_BANDWIDTH.items():
        if key in name:
            return value
    return None


def run_case(layout: str, name: str, face: str, impl: str, factory, args, device,
             bandwidth: float, spec: float | None) -> dict:
    shapes, dtype = LAYOUTS[layout](args.smoke)
    params = make(shapes, dtype, device)
    row = {"layout": layout, "optimizer": f"{face}.{name}", "impl": impl,
           "params": sum(p.numel() for p in params), "dtype": str(dtype).split(".")[-1]}
    try:
        step = factory(params)
        clock = Clock(device)
        row["first_s"] = clock.first(step)
        row["ms"] = clock.per_step(step, args.steps) * 1e3
        probe = getattr(textbook if face == "textbook" else antigrad, name)(
            [torch.nn.Parameter(p.detach()) for p in params], lr=1e-3, **(
                {} if face == "textbook" else OPTIONS.get(name, {})))
        nbytes = traffic(probe, check=args.check and impl == "antigrad")
        row["GB/s"] = nbytes / (row["ms"] / 1e3) / 1e9
        row["of copy bw"] = row["GB/s"] * 1e9 / bandwidth
        if spec:
            row["of spec bw"] = row["GB/s"] * 1e9 / spec
    except Exception as err:  # a peer that cannot run here is reported, not fatal
        row["error"] = f"{type(err).__name__}: {str(err).splitlines()[0][:120]}"
    del params
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return row


def print_table(rows: list[dict]) -> None:
    cols = ["layout", "optimizer", "impl", "dtype", "params", "first_s", "ms", "GB/s",
            "of copy bw", "of spec bw", "error"]
    cols = [c for c in cols if any(c in r for r in rows)]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        cells = []
        for c in cols:
            v = r.get(c, "")
            if isinstance(v, float):
                v = f"{v:.1%}" if c.startswith("of ") else f"{v:.4g}"
            cells.append(str(v))
        print("| " + " | ".join(cells) + " |")


NONFINITE = "ignore"


def main(argv: list[str] | None = None) -> int:
    global NONFINITE
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--smoke", action="store_true",
                    help="tiny layouts on the CPU in Triton's interpreter (TRITON_INTERPRET=1)")
    ap.add_argument("--layout", nargs="*", choices=list(LAYOUTS), default=list(LAYOUTS))
    ap.add_argument("--only", nargs="*", help="optimizer names to run (default: all)")
    ap.add_argument("--steps", type=int, default=None, help="warm steps timed (default 50)")
    ap.add_argument("--check", action="store_true",
                    help="antigrad checks gradients (nonfinite='raise') instead of 'ignore'")
    ap.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    ap.add_argument("--capturable", action="store_true",
                    help="capturable steps, eager and captured in CUDA graphs, instead")
    ap.add_argument("--json", help="also write the rows to this file")
    args = ap.parse_args(argv)
    if args.steps is not None and args.steps < 1:
        ap.error(f"--steps must be at least 1, got {args.steps}")
    NONFINITE = "raise" if args.check else "ignore"
    if args.smoke:
        if os.environ.get("TRITON_INTERPRET") != "1":
            ap.error("--smoke runs Triton's interpreter: start it with TRITON_INTERPRET=1")
        os.environ["ANTIGRAD_BACKEND"] = "triton"
        device = torch.device("cpu")
        args.steps = args.steps or 1
    else:
        if not torch.cuda.is_available():
            ap.error("no CUDA device: run on a GPU machine, or --smoke on the CPU")
        device = torch.device("cuda")
        args.steps = args.steps or 50
    bandwidth, spec = copy_bandwidth(device, args.smoke), spec_bandwidth(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU (interpreter)"
    print(f"device: {name}; copy bandwidth {bandwidth / 1e9:.3g} GB/s"
          + (f"; specification {spec / 1e9:.0f} GB/s" if spec else ""))
    rows = []
    for layout, opt_name, face, impl, factory in plan(args, device):
        rows.append(run_case(layout, opt_name, face, impl, factory, args, device, bandwidth,
                             spec))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print_table(rows)
    from antigrad.engine import tritonkernel
    print(f"\nTriton kernels compiled by antigrad: {len(tritonkernel.signatures)}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": name, "copy_bandwidth": bandwidth, "spec_bandwidth": spec,
                       "rows": rows}, f, indent=1)
    # A row of antigrad's that failed fails the run (on the CPU its graph rows cannot run).
    return 1 if any("error" in r and r["impl"].startswith("antigrad") and not (
        args.smoke and r["impl"].endswith("graph")) for r in rows) else 0


def plan(args, device: torch.device) -> list[tuple]:
    """(layout, optimizer, face, implementation, factory) of every row to run."""
    out = []
    cases = [(n, "torch") for n in (CAPTURABLE if args.capturable else TORCH_FACE)]
    if not args.capturable:
        cases += [(n, "textbook") for n in TEXTBOOK]
    compiled_once = False
    for layout in args.layout:
        for opt_name, face in cases:
            if args.only and opt_name not in args.only:
                continue
            if args.capturable:
                impls = capturable_contestants(opt_name, device)
            else:
                # torch.compile: everywhere on a GPU; in the smoke run once (slow on a CPU)
                compile_too = not args.no_compile and face == "torch" and not (
                    args.smoke and compiled_once)
                compiled_once |= compile_too
                impls = contestants(opt_name, face, compile_too)
            out += [(layout, opt_name, face, impl, f) for impl, f in impls.items()]
    return out


if __name__ == "__main__":
    sys.exit(main())
