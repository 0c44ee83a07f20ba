"""One parameter at a time: its scalars for this step and writing its scalar state back.

The bucketed engine keeps a Python mirror of the scalar state (``step``) per bucket; the
paths that update one parameter on its own (``differentiable=True``, sparse gradients)
read it from the parameter's state, advance it and store it back with these helpers.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ..formula.transform import Chain, ScalarState


def scalars(state: dict[str, Any], group: dict[str, Any], chain: Chain,
            fresh: bool) -> tuple[dict[str, float], ScalarState]:
    """This step's scalar arguments for one parameter, and its advanced scalar state."""
    names = list(chain.scalar_state)
    kept_as = state[names[0]].dtype if names else torch.float32
    scalar_state = ScalarState({n: float(state[n]) for n in names}, kept_as)
    return chain.scalars(group, scalar_state, fresh), scalar_state


def store(state: dict[str, Any], scalar_state: ScalarState) -> None:
    """Write the advanced scalar state into the parameter's 0-d state tensors."""
    with torch.no_grad():
        for name, value in scalar_state.items():
            state[name].fill_(value)


def real(t: Tensor) -> Tensor:
    """Complex tensors are updated through their real view, as torch does."""
    return torch.view_as_real(t) if t.is_complex() else t
