"""Forward + backward of R replicas' 1-D convolutions, formulation by formulation, on
the layers of ``mnist1d-cnn`` (batch 128, length 40, 16 channels, kernel 5, stride 2,
padding 2, a ReLU after each): milliseconds per pass of the three convolutions, best of a
few repeats, for each replica count, thread count and dtype; the last column is the
largest relative difference of any formulation's weight gradients from ``grouped``'s.

    PYTHONPATH=src .venv/bin/python benchmarks/conv_formulations.py --replicas 8,64 \\
        --threads 1,2 --dtypes float32,float64 --clock cpu

Formulations (each computes every replica's convolution with its own weights):

- ``grouped``: one ``conv1d`` with a group per replica, activations ``(B, R*C, L)``
  (the batched module's way before the columns);
- ``grouped_nhwc``: the same as a ``conv2d`` in channels-last memory;
- ``unfold2d``: activations ``(R, C, B, L)`` read as an image, ``F.unfold`` with a
  ``(1, K)`` kernel gives the columns ``(R, C*K, B*L_out)`` (``im2col``, backward
  ``col2im``), one ``baddbmm`` with the ``(R, C_out, C*K)`` weights;
- ``windows``: the same product, the columns made by ``Tensor.unfold`` over a padded
  copy of the input and one copy into the columns' layout;
- ``stacked``: activations ``(R, C, L, B)``, the columns a ``torch.stack`` of ``K``
  strided slices of the padded input (autograd's backward of each slice is a zeroed
  input-sized tensor);
- ``taps``: activations ``(R, C, L, B)``, :func:`antigrad.lab.conv_columns.columns`
  (``K`` strided copies, backward ``K`` strided additions): the batched module's way.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor

from antigrad.lab.conv_columns import columns

#: The clock: CPU time of this process (``--clock cpu``: what a pass costs when other
#: processes share the cores) or wall time (``--clock wall``).
CLOCK = time.process_time

BATCH, LENGTH, CHANNELS, KERNEL, STRIDE, PAD = 128, 40, 16, 5, 2, 2


def _out_len(length: int) -> int:
    return (length + 2 * PAD - KERNEL) // STRIDE + 1


def _grouped(x: Tensor, w: Tensor, b: Tensor, r: int) -> Tensor:
    # x: (B, R*C, L); w: (R, C_out, C, K)
    return F.conv1d(x, w.reshape(-1, *w.shape[2:]), b.reshape(-1), STRIDE, PAD, 1, groups=r)


def _grouped_nhwc(x: Tensor, w: Tensor, b: Tensor, r: int) -> Tensor:
    # x: (B, R*C, 1, L) in channels-last memory; w: (R, C_out, C, K)
    weight = w.reshape(-1, w.shape[2], 1, w.shape[3]).contiguous(
        memory_format=torch.channels_last)
    return F.conv2d(x, weight, b.reshape(-1), (1, STRIDE), (0, PAD), 1, groups=r)


def _unfold2d(x: Tensor, w: Tensor, b: Tensor, r: int) -> Tensor:
    # x: (R, C, B, L) -> (R, C_out, B, L_out)
    _, c, batch, _ = x.shape
    cols = F.unfold(x, (1, KERNEL), padding=(0, PAD), stride=(1, STRIDE))
    out = torch.baddbmm(b.unsqueeze(2), w.reshape(r, w.shape[1], -1), cols)
    return out.view(r, w.shape[1], batch, -1)


def _windows(x: Tensor, w: Tensor, b: Tensor, r: int) -> Tensor:
    _, c, batch, _ = x.shape
    padded = F.pad(x, (PAD, PAD))
    win = padded.unfold(3, KERNEL, STRIDE)  # (R, C, B, L_out, K)
    cols = win.permute(0, 1, 4, 2, 3).reshape(r, c * KERNEL, -1)
    out = torch.baddbmm(b.unsqueeze(2), w.reshape(r, w.shape[1], -1), cols)
    return out.view(r, w.shape[1], batch, -1)


def _stacked(x: Tensor, w: Tensor, b: Tensor, r: int) -> Tensor:
    # the columns as a stack of K strided slices of the padded input (autograd's backward)
    _, c, length, batch = x.shape
    padded = F.pad(x, (0, 0, PAD, PAD))
    out_len = _out_len(length)
    cols = torch.stack([padded[:, :, k:k + STRIDE * (out_len - 1) + 1:STRIDE]
                        for k in range(KERNEL)], 2).view(r, c * KERNEL, -1)
    out = torch.baddbmm(b.unsqueeze(2), w.reshape(r, w.shape[1], -1), cols)
    return out.view(r, w.shape[1], -1, batch)


def _taps(x: Tensor, w: Tensor, b: Tensor, r: int) -> Tensor:
    # x: (R, C, L, B) -> (R, C_out, L_out, B)
    batch = x.shape[3]
    cols = columns(x, KERNEL, STRIDE, PAD, 1)
    out = torch.baddbmm(b.unsqueeze(2), w.reshape(r, w.shape[1], -1), cols)
    return out.view(r, w.shape[1], -1, batch)


FORMULATIONS = {"grouped": _grouped, "grouped_nhwc": _grouped_nhwc, "unfold2d": _unfold2d,
                "windows": _windows, "stacked": _stacked, "taps": _taps}


def _layers(r: int, dtype: torch.dtype) -> list[tuple[Tensor, Tensor]]:
    g = torch.Generator().manual_seed(0)
    shapes = [(CHANNELS, 1), (CHANNELS, CHANNELS), (CHANNELS, CHANNELS)]
    return [(torch.randn(r, co, ci, KERNEL, generator=g, dtype=dtype).requires_grad_(),
             torch.randn(r, co, generator=g, dtype=dtype).requires_grad_())
            for co, ci in shapes]


def _pass(name: str, x: Tensor, layers: list[tuple[Tensor, Tensor]], r: int) -> None:
    """The three conv layers (ReLU between) forward, a sum, backward."""
    fn = FORMULATIONS[name]
    if name == "grouped":
        act = x.transpose(0, 1).reshape(BATCH, r, LENGTH)  # (B, R*1, L)
    elif name == "grouped_nhwc":
        act = x.transpose(0, 1).reshape(BATCH, r, 1, LENGTH).contiguous(
            memory_format=torch.channels_last)
    elif name in ("taps", "stacked"):
        act = x.transpose(1, 2).unsqueeze(1)  # (R, 1, L, B)
    else:
        act = x.unsqueeze(1)  # (R, 1, B, L)
    for w, b in layers:
        act = torch.relu(fn(act, w, b, r))
    act.float().sum().backward()


def _time(name: str, r: int, dtype: torch.dtype, repeats: int) -> float:
    layers = _layers(r, dtype)
    x = torch.randn(r, BATCH, LENGTH, dtype=dtype)
    _pass(name, x, layers, r)
    best = float("inf")
    for _ in range(repeats):
        t0 = CLOCK()
        _pass(name, x, layers, r)
        best = min(best, CLOCK() - t0)
    return best * 1e3


def _agree(r: int, dtype: torch.dtype) -> float:
    """The largest relative difference of the formulations' outputs and weight gradients
    from the grouped convolution's."""
    x = torch.randn(r, BATCH, LENGTH, dtype=dtype)
    results = {}
    for name in FORMULATIONS:
        layers = _layers(r, dtype)
        _pass(name, x, layers, r)
        results[name] = torch.cat([t.grad.flatten() for pair in layers for t in pair])
    ref = results["grouped"]
    return max(float((v - ref).abs().max() / ref.abs().max()) for v in results.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", default="8,64")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--dtypes", default="float32,float64")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--clock", choices=["cpu", "wall"], default="cpu")
    parser.add_argument("--only", default=",".join(FORMULATIONS))
    args = parser.parse_args()
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    for name in set(FORMULATIONS) - set(args.only.split(",")) - {"grouped"}:
        del FORMULATIONS[name]
    print(f"layers: {CHANNELS} ch, kernel {KERNEL}, stride {STRIDE}, pad {PAD}, "
          f"length {LENGTH} -> {_out_len(LENGTH)} -> ..., batch {BATCH}; "
          f"{args.clock} ms per forward+backward of the three convolutions, best of "
          f"{args.repeats}")
    print("| R | threads | dtype | " + " | ".join(FORMULATIONS) + " | max rel. diff |")
    print("|---" * (4 + len(FORMULATIONS)) + "|")
    for dtype_name in args.dtypes.split(","):
        dtype = getattr(torch, dtype_name)
        for threads in (int(t) for t in args.threads.split(",")):
            torch.set_num_threads(threads)
            for r in (int(v) for v in args.replicas.split(",")):
                times = [_time(name, r, dtype, args.repeats) for name in FORMULATIONS]
                cells = " | ".join(f"{t:.2f}" for t in times)
                print(f"| {r} | {threads} | {dtype_name} | {cells} | "
                      f"{_agree(r, dtype):.1e} |")


if __name__ == "__main__":
    main()
