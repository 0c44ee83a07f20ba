"""L-BFGS checkpoints in ``torch.optim.LBFGS``'s layout, to and from the compact ring.

``torch.optim.LBFGS`` keeps its history as two lists, ``old_stps`` (``s_i``) and
``old_dirs`` (``y_i``), oldest first, with ``ro = 1/yᵀs`` and ``H_diag = γ``; the last
step's pair is still pending (``d``, ``t`` and the gradient before it, ``prev_flat_grad``)
and is added at the start of the next ``step()``. :class:`~antigrad.LBFGS` keeps the pairs
in a ring buffer with their Gram matrix and has no pending pair.

Exported, the ring becomes those lists (views of one ``2k × n`` tensor, oldest first) with
a null pending step (``t = 0``: torch then adds nothing), plus the Gram matrix, tagged with
the iteration count it belongs to. Imported, the lists fill a new ring; the Gram matrix is
reused if the tag still matches (nothing stepped the history since) and recomputed
otherwise, and a pending pair is kept until the next ``step()`` can complete it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

TORCH_KEYS = frozenset({"d", "t", "old_dirs", "old_stps", "ro", "H_diag", "prev_flat_grad",
                        "prev_loss", "al"})


def chronological(st: dict[str, Any]) -> tuple[Tensor, Tensor]:
    """The kept pairs oldest first (``2k × n``) and their Gram matrix."""
    k, start = st["count"], st["start"]
    z, gram = st["pairs"][: 2 * k], st["gram"][: 2 * k, : 2 * k]
    if start:
        order = torch.cat((torch.arange(2 * start, 2 * k), torch.arange(2 * start)))
        order = order.to(z.device)
        z, gram = z[order], gram[order][:, order]
    return z, gram


def export_state(st: dict[str, Any], like: Tensor) -> dict[str, Any]:
    """``st`` in torch.optim.LBFGS's layout (a new dict; ``st`` is not changed); ``like``
    is a flat vector of the parameters' dtype, device and size."""
    out = {k: st[k] for k in ("func_evals", "n_iter")}
    k = st.get("count", 0) if "pairs" in st else 0
    gamma = st.get("gamma", 1.0)
    out.update(old_stps=[], old_dirs=[], ro=[], H_diag=like.new_tensor(gamma))
    if k:
        z, gram = chronological(st)
        out.update(old_stps=list(z[0::2]), old_dirs=list(z[1::2]),
                   ro=[1.0 / v for v in gram[0::2, 1::2].diagonal()],
                   gram=st["gram"][: 2 * k, : 2 * k].clone(), start=st["start"],
                   history_at=st["n_iter"])
    if "d" in st:  # a pending pair from a loaded torch checkpoint
        out.update(d=st["d"], t=st["t"], prev_flat_grad=st["prev_flat_grad"])
    else:  # nothing pending: torch adds no pair for a zero step
        out.update(d=torch.zeros_like(like), t=0.0, prev_flat_grad=torch.zeros_like(like))
    out["prev_loss"] = None
    return out


def import_state(st: dict[str, Any], m: int, n: int, torch_rule: bool) -> None:
    """Turn a loaded state (torch's layout, or an older antigrad one) into the ring."""
    if "old_dirs" in st:
        _from_lists(st, m)
    elif "pairs" in st and st["pairs"].shape[0] != 2 * m:
        _window_to_ring(st, m)
    t, d = st.get("t"), st.get("d")
    if d is None or t is None or float(t) == 0.0 or st.get("prev_flat_grad") is None:
        for key in ("d", "t", "prev_flat_grad"):  # nothing pending
            st.pop(key, None)


def _from_lists(st: dict[str, Any], m: int) -> None:
    stps, dirs = st.pop("old_stps") or [], st.pop("old_dirs") or []
    h_diag, gram, at = st.pop("H_diag", None), st.pop("gram", None), st.pop("history_at", None)
    start = st.pop("start", 0)
    for key in ("ro", "al", "prev_loss", "gamma", "pairs", "count"):
        st.pop(key, None)
    k = min(len(stps), m)
    if k == 0:
        if isinstance(h_diag, (Tensor, float, int)) and float(h_diag) != 1.0:
            st["gamma"] = float(h_diag)
        return
    stps, dirs = stps[-k:], dirs[-k:]
    # our own export, untouched since: the same ring layout and Gram matrix (bit for bit)
    fresh = (gram is not None and at == st.get("n_iter") and gram.shape == (2 * k, 2 * k)
             and (start == 0 or k == m))
    start = start if fresh else 0
    first = stps[0]
    ring = first.new_empty(2 * m, first.numel())
    slots = (torch.arange(k) + start) % k
    ring[2 * slots] = torch.stack([v.reshape(-1) for v in stps])
    ring[2 * slots + 1] = torch.stack([v.reshape(-1) for v in dirs])
    z = ring[: 2 * k]
    full = first.new_zeros(2 * m, 2 * m)
    full[: 2 * k, : 2 * k] = gram if fresh else z @ z.T
    st.update(pairs=ring, gram=full, start=start, count=k, gamma=float(h_diag))


def _window_to_ring(st: dict[str, Any], m: int) -> None:
    """A history kept as a window ``[start, start + count)`` of a larger buffer (the
    layout before the ring) into a ring of ``m`` pairs, oldest first."""
    k = min(st["count"], m)
    hi = 2 * (st["start"] + st["count"])
    lo = hi - 2 * k
    pairs, gram = st["pairs"][lo:hi], st["gram"][lo:hi, lo:hi]
    st["pairs"] = pairs.new_empty(2 * m, pairs.shape[1])
    st["pairs"][: 2 * k] = pairs
    st["gram"] = gram.new_zeros(2 * m, 2 * m)
    st["gram"][: 2 * k, : 2 * k] = gram
    st["start"], st["count"] = 0, k
