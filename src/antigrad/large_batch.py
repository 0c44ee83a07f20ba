"""Large-batch optimizers with layer-wise trust ratios: LAMB and LARS.

Both scale each tensor's step by a ratio of norms (``||w||`` against the update's or the
gradient's), so that every layer moves by a similar fraction of its weights however large
the batch and the learning rate. They are chains of the library's transforms; the norms
are reductions, run by every backend as a reduce phase before the element-wise step.
"""

from __future__ import annotations

from typing import Any, ClassVar

from .engine import ChainOptimizer
from .formula.transform import Chain
from .transforms import (
    add_weight_decay,
    apply_update,
    chain,
    clip_by_global_norm,
    descend,
    scale_by_adam,
    scale_by_lars,
    scale_by_lr,
    scale_by_trust_ratio,
    trace,
)
from .validation import NON_NEGATIVE, Constraint, OrNone, Pair


class LAMB(ChainOptimizer):
    r"""LAMB: Adam's direction with a layer-wise trust ratio.

    You et al. 2019, Algorithm 2, with :math:`\phi` the identity:

    .. math::
        m \leftarrow \beta_1 m + (1 - \beta_1) g,\quad
        G \leftarrow \beta_2 G + (1 - \beta_2) g^2,\quad
        r = \frac{m / (1 - \beta_1^t)}{\sqrt{G / (1 - \beta_2^t)} + s} + \lambda w,\quad
        w \leftarrow w - \varepsilon\, \frac{\|w\|}{\|r\|}\, r

    per tensor (layer); the ratio is 1 when :math:`\|w\|` or :math:`\|r\|` is 0. With
    ``max_grad_norm`` the gradients of each param group are first clipped to that total
    norm, as ``torch.nn.utils.clip_grad_norm_`` does.

    Args:
        params: parameters or param-group dicts.
        lr: learning rate :math:`\varepsilon`.
        betas: :math:`(\beta_1, \beta_2)`.
        eps: :math:`s`, outside the root.
        weight_decay: :math:`\lambda`, added to the update before the trust ratio.
        max_grad_norm: clip each group's gradients to this total norm first (None: no).
        differentiable: run the step on autograd's tape (as torch.optim's option).
        nonfinite: see :class:`~antigrad.ChainOptimizer`.

    Example::

        >>> import torch, antigrad
        >>> model = torch.nn.Linear(4, 1)
        >>> opt = antigrad.LAMB(model.parameters(), lr=1e-2, weight_decay=0.01)
        >>> model(torch.ones(2, 4)).sum().backward(); _ = opt.step()

    Reference: You et al., "Large Batch Optimization for Deep Learning: Training BERT in
    76 minutes", ICLR 2020 (arXiv 1904.00962).
    """

    # max_grad_norm=None: no clipping (the chain then leaves the transform out).
    constraints: ClassVar[dict[str, Constraint]] = {
        "lr": NON_NEGATIVE, "betas": Pair(), "eps": NON_NEGATIVE, "weight_decay": NON_NEGATIVE,
        "max_grad_norm": OrNone(NON_NEGATIVE)}

    def __init__(self, params: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-6, weight_decay: float = 0.0,
                 max_grad_norm: float | None = None, *, differentiable: bool = False,
                 nonfinite: str | None = None) -> None:
        super().__init__(params, nonfinite=nonfinite, lr=lr, betas=betas, eps=eps,
                         weight_decay=weight_decay, max_grad_norm=max_grad_norm,
                         differentiable=differentiable)

    def build(self, group: dict[str, Any]) -> Chain:
        return chain(
            clip_by_global_norm("max_grad_norm") if group["max_grad_norm"] is not None else None,
            scale_by_adam(),
            add_weight_decay(),
            scale_by_trust_ratio(),
            descend(),
        )


class LARS(ChainOptimizer):
    r"""LARS: SGD with momentum and a layer-wise local learning rate.

    You, Gitman & Ginsburg 2017, Algorithm 1:

    .. math::
        \lambda_l = c\, \frac{\|w\|}{\|g\| + \beta \|w\|},\quad
        v \leftarrow m v + \varepsilon\, \lambda_l\, (g + \beta w),\quad
        w \leftarrow w - v

    per tensor (layer), with :math:`\varepsilon` the learning rate, :math:`c` the trust
    coefficient and :math:`\beta` the weight decay; the local rate is 1 when
    :math:`\|w\|` or :math:`\|g\|` is 0 (as in the common implementations).

    Args:
        params: parameters or param-group dicts.
        lr: global learning rate :math:`\varepsilon` (it enters the velocity, as in the paper).
        momentum: :math:`m`.
        weight_decay: :math:`\beta`.
        trust_coefficient: :math:`c` (the paper's :math:`\eta`).
        differentiable: run the step on autograd's tape (as torch.optim's option).
        nonfinite: see :class:`~antigrad.ChainOptimizer`.

    Example::

        >>> import torch, antigrad
        >>> model = torch.nn.Linear(4, 1)
        >>> opt = antigrad.LARS(model.parameters(), lr=0.1, weight_decay=5e-4)
        >>> model(torch.ones(2, 4)).sum().backward(); _ = opt.step()

    Reference: You, Gitman & Ginsburg, "Large Batch Training of Convolutional Networks",
    arXiv 1708.03888.
    """

    constraints: ClassVar[dict[str, Constraint]] = {
        name: NON_NEGATIVE for name in ("lr", "momentum", "weight_decay", "trust_coefficient")}

    def __init__(self, params: Any, lr: float = 1e-1, momentum: float = 0.9,
                 weight_decay: float = 0.0, trust_coefficient: float = 1e-3, *,
                 differentiable: bool = False, nonfinite: str | None = None) -> None:
        super().__init__(params, nonfinite=nonfinite, lr=lr, momentum=momentum,
                         weight_decay=weight_decay, trust_coefficient=trust_coefficient,
                         differentiable=differentiable)

    def build(self, group: dict[str, Any]) -> Chain:
        return chain(scale_by_lars(), scale_by_lr(), trace(), apply_update())
