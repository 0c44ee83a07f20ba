"""Restarts (L17): fresh initial weights for each run, and the ensemble of the runs."""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["Ensemble", "reset_parameters"]


class Ensemble(torch.nn.Module):
    """The mean of its members' outputs: ``f(x) = 1/K Σ_k f_k(x)``.

    For a loss convex in the output (MSE, cross-entropy on averaged probabilities) the
    ensemble's loss is at most the members' mean loss (Jensen). Averaging logits, as here
    for classifiers, is the common practice; wrap the members with a softmax to average
    probabilities instead.

    Example::

        >>> import torch
        >>> from antigrad.train import Ensemble
        >>> e = Ensemble([torch.nn.Linear(2, 1), torch.nn.Linear(2, 1)])
        >>> e(torch.ones(3, 2)).shape
        torch.Size([3, 1])
    """

    def __init__(self, members: Sequence[torch.nn.Module]) -> None:
        super().__init__()
        if not members:
            raise ValueError("Invalid members: [] (an ensemble needs at least one model)")
        self.members = torch.nn.ModuleList(members)

    def forward(self, *args: torch.Tensor, **kwargs: torch.Tensor) -> torch.Tensor:
        outputs = [m(*args, **kwargs) for m in self.members]
        return torch.stack(outputs).mean(0)


def reset_parameters(model: torch.nn.Module) -> None:
    """Re-draw every parameter with its module's own ``reset_parameters()`` (torch's
    default initialisation), from the global torch RNG. Raises a ``ValueError`` naming the
    parameters no module can re-initialise (pass ``init=`` to :func:`antigrad.fit`)."""
    covered: set[int] = set()
    for module in model.modules():
        reset = getattr(module, "reset_parameters", None)
        if callable(reset):
            reset()
            covered.update(id(p) for p in module.parameters())
    missing = [name for name, p in model.named_parameters() if id(p) not in covered]
    if missing:
        raise ValueError(f"Invalid init: None (no reset_parameters() covers {missing}; "
                         "pass init=callable(model) to re-initialise them for restarts)")
