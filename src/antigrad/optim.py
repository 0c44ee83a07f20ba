"""torch.optim's first-order optimizers, as chains: same signatures, defaults and numbers.

Swap ``torch.optim.Adam`` for ``antigrad.Adam`` and nothing else changes: param groups,
``state_dict`` (loadable by the torch twin and back), schedulers, closures. The
differences are additions: ``nonfinite=`` (see :class:`~antigrad.ChainOptimizer`) and
one engine for every formula. ``foreach`` and ``fused`` are accepted and recorded;
``differentiable=True`` runs the step on autograd's tape (see docs/engine.md);
``capturable=True`` (Adam, AdamW, NAdam, RMSprop, as in torch) keeps ``step`` on the
parameter's device and, on the Triton backend, computes every per-step scalar there (see
:mod:`antigrad.engine.capturable` and docs/engine.md).
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar

import torch

from . import validation as check
from ._argdocs import complete_args
from .engine import ChainOptimizer
from .formula import Chain
from .transforms import (
    add_weight_decay,
    chain,
    count_steps,
    decoupled_weight_decay,
    descend,
    flip,
    momentum,
    scale_by_adagrad,
    scale_by_adam,
    scale_by_inverse_time,
    scale_by_nadam,
    scale_by_rms,
    trace,
)
from .validation import NON_NEGATIVE, Constraint, Interval, Pair


class _TorchFace(ChainOptimizer):
    """The torch-compatible classes: NaN/inf gradients are applied, as torch.optim does,
    unless ``nonfinite="raise"`` or ``"skip"`` is given.

    A class's docstring documents only the arguments that are its own (or that mean
    something else there); the ones several classes share are written once in
    :attr:`shared_args`, and the ``Args:`` section is completed from both.

    Each class also derives from its torch.optim twin (``isinstance(antigrad.Adam(...),
    torch.optim.Adam)`` holds, as code that branches on the optimizer's class expects),
    after ChainOptimizer, so that antigrad's ``step`` and constructor run; from the twin it
    takes ``__setstate__``, which fills in the options an old checkpoint lacks
    (``maximize``, ``foreach``, ...) and turns a plain-number ``step`` into a tensor when a
    state dict is loaded, exactly as torch does.
    """

    default_nonfinite = "ignore"

    shared_args: ClassVar[dict[str, str]] = {
        "params": "parameters or param-group dicts.",
        "lr": r"learning rate :math:`\varepsilon`.",
        "betas": r":math:`(\beta_1, \beta_2)`.",
        "eps": ":math:`s`, outside the root.",
        "weight_decay": "added to the gradient as ``weight_decay * w``.",
        "momentum": r":math:`\mu` (0: no buffer).",
        "amsgrad": "divide by the largest :math:`G` so far (AMSGrad).",
        "decoupled_weight_decay": "decay ``w`` itself, as AdamW.",
        "maximize": "ascend instead (the gradient's sign flipped first).",
        "foreach": "accepted and recorded, as torch's (one engine runs every step).",
        "capturable": "keep ``step`` on the parameter's device (CUDA graphs).",
        "differentiable": "run the step on autograd's tape (docs/engine.md).",
        "fused": "accepted and recorded, as torch's (``True`` checks torch's rules for it).",
        "nonfinite": '``"ignore"`` (default, as torch), ``"raise"`` or ``"skip"`` (see '
                     ':class:`~antigrad.ChainOptimizer`).'}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        names = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
        cls.__doc__ = complete_args(cls.__doc__, names, cls.shared_args)


# torch.optim's ranges, declared once per class (the chain a class builds depends on its
# options, so these are checked whatever the options leave out of it).
_ADAM: dict[str, Constraint] = {"lr": NON_NEGATIVE, "eps": NON_NEGATIVE, "betas": Pair(),
                                "weight_decay": NON_NEGATIVE}


def _options(local: dict[str, Any]) -> dict[str, Any]:
    """A constructor's arguments, minus those that are not param-group entries."""
    return {k: v for k, v in local.items()
            if k not in ("self", "params", "nonfinite", "__class__")}


class SGD(_TorchFace, torch.optim.SGD):
    r"""Stochastic gradient descent with optional momentum, as ``torch.optim.SGD``.

    .. math::
        g \leftarrow \pm g + \text{wd}\, w,\quad
        b \leftarrow \mu b + (1 - \tau) g \ (b_1 = g),\quad
        w \leftarrow w - \varepsilon\,(g + \mu b \text{ if nesterov else } b)

    Args:
        dampening: :math:`\tau`.
        weight_decay: :math:`\text{wd}`, added to the gradient as :math:`\text{wd}\, w`.
        nesterov: step along ``g + mu b`` (Sutskever et al.'s Nesterov form).

    Example::

        >>> import torch, antigrad
        >>> model = torch.nn.Linear(4, 1)
        >>> opt = antigrad.SGD(model.parameters(), lr=0.1, momentum=0.9)
        >>> model(torch.ones(2, 4)).sum().backward(); _ = opt.step()

    Reference: Sutskever et al., ICML 2013 (the form torch uses).
    """

    optional_state = ("momentum_buffer",)  # torch starts a missing one afresh
    constraints: ClassVar[dict[str, Constraint]] = {
        "lr": NON_NEGATIVE, "momentum": NON_NEGATIVE, "dampening": Interval(None),
        "weight_decay": NON_NEGATIVE}

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, differentiable: bool = False,
                 fused: bool | None = None, nonfinite: str | None = None) -> None:
        super().__init__(params, nonfinite=nonfinite, **_options(locals()))

    @staticmethod
    def check_hyperparameters(group: dict[str, Any]) -> None:
        """torch's rules between options (after the declared constraints)."""
        mu, damp = group["momentum"], group["dampening"]
        if group["nesterov"] and (mu <= 0 or damp != 0):
            raise ValueError(f"Invalid nesterov value: True (Nesterov momentum requires a "
                             f"momentum > 0 and zero dampening, got momentum={mu}, "
                             f"dampening={damp})")
        check.fused_options(group)

    def build(self, group: dict[str, Any]) -> Chain:
        return chain(
            flip() if group["maximize"] else None,
            add_weight_decay() if group["weight_decay"] != 0 else None,
            momentum(nesterov=bool(group["nesterov"])) if group["momentum"] != 0 else None,
            descend(),
        )

    def sparse_mode(self, group: dict[str, Any]) -> str:
        if group["weight_decay"] != 0:  # torch.optim.SGD fails on it too (sparse + dense)
            raise RuntimeError("SGD: weight_decay is not supported with sparse gradients "
                               f"(weight_decay={group['weight_decay']}), as in torch.optim")
        # Momentum moves every entry the buffer holds, not only the gradient's rows.
        return "dense" if group["momentum"] != 0 else "rows"


class Adagrad(_TorchFace, torch.optim.Adagrad):
    r"""AdaGrad, as ``torch.optim.Adagrad`` (epsilon outside the root, 1e-10).

    .. math::
        G \leftarrow G + g^2,\quad
        w \leftarrow w - \frac{\varepsilon}{1 + (t - 1)\,\text{lr\_decay}}\,\frac{g}{\sqrt{G} + s}

    Args:
        lr_decay: the inverse-time decay of the learning rate.
        initial_accumulator_value: :math:`G` at the start.

    Example::

        >>> import torch, antigrad
        >>> w = torch.nn.Parameter(torch.ones(2))
        >>> opt = antigrad.Adagrad([w], lr=0.1)
        >>> (w ** 2).sum().backward(); _ = opt.step()

    Reference: Duchi, Hazan & Singer, JMLR 12 (2011). State is created at construction,
    as torch does.
    """

    constraints: ClassVar[dict[str, Constraint]] = {
        name: NON_NEGATIVE
        for name in ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps")}

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10,
                 foreach: bool | None = None, *, maximize: bool = False,
                 differentiable: bool = False, fused: bool | None = None,
                 nonfinite: str | None = None) -> None:
        super().__init__(params, nonfinite=nonfinite, **_options(locals()))
        self.init_state()

    @staticmethod
    def check_hyperparameters(group: dict[str, Any]) -> None:
        """torch's rules between options (after the declared constraints)."""
        check.fused_options(group)

    def build(self, group: dict[str, Any]) -> Chain:
        return chain(
            flip() if group["maximize"] else None,
            add_weight_decay() if group["weight_decay"] != 0 else None,
            scale_by_adagrad(),
            scale_by_inverse_time(),
            descend(),
        )

    def sparse_mode(self, group: dict[str, Any]) -> str:
        if group["weight_decay"] != 0:
            raise RuntimeError("Adagrad: weight_decay option is not compatible with sparse "
                               f"gradients (weight_decay={group['weight_decay']}), as in "
                               "torch.optim")
        return "rows"


class RMSprop(_TorchFace, torch.optim.RMSprop):
    r"""RMSprop, as ``torch.optim.RMSprop`` (epsilon outside the root).

    .. math::
        G \leftarrow \alpha G + (1 - \alpha) g^2,\quad
        \bar g \leftarrow \alpha \bar g + (1 - \alpha) g \text{ (centered)},\quad
        d = \frac{g}{\sqrt{G - \bar g^2} + s},\quad
        b \leftarrow \mu b + d,\quad
        w \leftarrow w - \varepsilon\, (b \text{ if } \mu > 0 \text{ else } d)

    (:math:`\bar g = 0` unless ``centered``.)

    Args:
        alpha: :math:`\alpha`, the decay of the mean square.
        centered: divide by the root of the variance :math:`G - \bar g^2`.

    Example::

        >>> import torch, antigrad
        >>> w = torch.nn.Parameter(torch.ones(2))
        >>> opt = antigrad.RMSprop([w], lr=0.01, momentum=0.9, centered=True)
        >>> (w ** 2).sum().backward(); _ = opt.step()

    Reference: Tieleman & Hinton, Coursera lecture 6.5 (2012); Graves, arXiv 1308.0850.
    """

    constraints: ClassVar[dict[str, Constraint]] = {
        name: NON_NEGATIVE for name in ("lr", "eps", "momentum", "weight_decay", "alpha")}

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False,
                 capturable: bool = False, foreach: bool | None = None, maximize: bool = False,
                 differentiable: bool = False, nonfinite: str | None = None) -> None:
        super().__init__(params, nonfinite=nonfinite, **_options(locals()))

    def build(self, group: dict[str, Any]) -> Chain:
        return chain(
            flip() if group["maximize"] else None,
            add_weight_decay() if group["weight_decay"] != 0 else None,
            count_steps(),
            scale_by_rms(centered=bool(group["centered"])),
            trace() if group["momentum"] > 0 else None,
            descend(),
        )


class Adam(_TorchFace, torch.optim.Adam):
    r"""Adam, as ``torch.optim.Adam`` (epsilon outside the root).

    .. math::
        m \leftarrow \beta_1 m + (1 - \beta_1) g,\quad
        G \leftarrow \beta_2 G + (1 - \beta_2) g^2,\quad
        w \leftarrow w - \varepsilon\, \frac{m / (1 - \beta_1^t)}{\sqrt{G / (1 - \beta_2^t)} + s}

    ``weight_decay`` adds ``wd * w`` to the gradient, or with ``decoupled_weight_decay``
    multiplies ``w`` by ``1 - lr * wd`` (AdamW); ``amsgrad`` uses ``max_t G_t``.

    Args:
        weight_decay: ``wd`` (coupled unless ``decoupled_weight_decay``).

    Example::

        >>> import torch, antigrad
        >>> model = torch.nn.Linear(4, 1)
        >>> opt = antigrad.Adam(model.parameters(), lr=1e-3)
        >>> model(torch.ones(2, 4)).sum().backward(); _ = opt.step()

    Reference: Kingma & Ba, arXiv 1412.6980; Reddi, Kale & Kumar, ICLR 2018 (AMSGrad).
    """

    constraints: ClassVar[dict[str, Constraint]] = _ADAM

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, amsgrad: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None,
                 decoupled_weight_decay: bool = False, nonfinite: str | None = None) -> None:
        super().__init__(params, nonfinite=nonfinite, **_options(locals()))

    @classmethod
    def check_hyperparameters(cls, group: dict[str, Any]) -> None:
        """torch's rules between options (after the declared constraints)."""
        check.no_tensor_with_foreach(group["foreach"], group["capturable"], lr=group["lr"],
                                     betas=group["betas"])
        check.fused_options(group)

    def build(self, group: dict[str, Any]) -> Chain:
        return chain(
            flip() if group["maximize"] else None,
            _weight_decay(group),
            scale_by_adam(amsgrad=bool(group["amsgrad"])),
            descend(),
        )


class AdamW(Adam, torch.optim.AdamW):
    r"""AdamW, as ``torch.optim.AdamW``: Adam with decoupled weight decay (default 1e-2).

    .. math:: w \leftarrow w (1 - \varepsilon\,\text{wd}), \text{ then the Adam step}

    This is the lecture's L14 with ``wd = 2 lambda``.

    Args:
        weight_decay: ``wd``, the decoupled decay.

    Example::

        >>> import torch, antigrad
        >>> model = torch.nn.Linear(4, 1)
        >>> opt = antigrad.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)

    Reference: Loshchilov & Hutter, arXiv 1711.05101.
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False, foreach: bool | None = None, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None,
                 nonfinite: str | None = None) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach,
                         maximize=maximize, capturable=capturable,
                         differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True, nonfinite=nonfinite)


class NAdam(_TorchFace, torch.optim.NAdam):
    r"""NAdam, as ``torch.optim.NAdam`` (with its momentum-decay schedule).

    .. math::
        \mu_t = \beta_1 (1 - \tfrac12 0.96^{t\psi}),\quad
        w \leftarrow w - \varepsilon\,\frac{\frac{1 - \mu_t}{1 - \prod_{i\le t}\mu_i} g
        + \frac{\mu_{t+1}}{1 - \prod_{i \le t+1}\mu_i} m}{\sqrt{G/(1 - \beta_2^t)} + s}

    with :math:`m` and :math:`G` Adam's moments.

    Args:
        weight_decay: ``wd`` (coupled unless ``decoupled_weight_decay``).
        momentum_decay: :math:`\psi`.

    Example::

        >>> import torch, antigrad
        >>> w = torch.nn.Parameter(torch.ones(2))
        >>> opt = antigrad.NAdam([w], lr=2e-3)
        >>> (w ** 2).sum().backward(); _ = opt.step()

    Reference: Dozat, ICLR workshop 2016. For Dozat's plain Nadam use
    ``antigrad.textbook.Nadam``.
    """

    constraints: ClassVar[dict[str, Constraint]] = {**_ADAM, "momentum_decay": NON_NEGATIVE}

    def __init__(self, params, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False, *, foreach: bool | None = None,
                 maximize: bool = False, capturable: bool = False, differentiable: bool = False,
                 nonfinite: str | None = None) -> None:
        super().__init__(params, nonfinite=nonfinite, **_options(locals()))

    def build(self, group: dict[str, Any]) -> Chain:
        return chain(
            flip() if group["maximize"] else None,
            _weight_decay(group),
            scale_by_nadam(),
            descend(),
        )


def _weight_decay(group: dict[str, Any]):
    if group.get("decoupled_weight_decay"):
        # Kept at weight_decay=0 (w * 1.0 is exactly w), so that AdamW's decay and no-decay
        # groups share one chain, hence one kernel call.
        return decoupled_weight_decay()
    return add_weight_decay() if group["weight_decay"] != 0 else None
