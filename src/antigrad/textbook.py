r"""The lecture's formulas exactly as written (SPEC L3-L14), with its names and defaults.

Each class is a chain of the same transforms the torch-compatible optimizers use; only
the hyperparameters and where they enter differ:

- epsilon ``s`` inside the root (``/ sqrt(G + s)``) for AdaGrad, RMSprop, Adam and Nadam;
  outside (``sqrt(G) + s``) for AdamSimple and AdamW, as the lecture writes them;
- momentum velocity carries the learning rate (``v = gamma v + lr g``, ``w -= v``), so
  changing ``lr`` does not rescale the velocity already accumulated;
- weight decay ``lambda`` is the coefficient of ``lambda ||w||^2``, i.e. ``2 lambda w``
  in the gradient (Adam) or in the decoupled step (AdamW).

The param groups also answer to torch's names for the moments, as views of the same values:
``group["betas"]`` is ``(beta1, beta2)`` (Adam, AdamSimple, Nadam, AdamW) and
``group["momentum"]`` is ``gamma`` (Momentum, Nesterov, RMSprop), so torch's
``OneCycleLR`` and ``CyclicLR`` cycle them with their default ``cycle_momentum=True``
(see :mod:`antigrad._aliases`).

Example::

    >>> import torch
    >>> from antigrad import textbook
    >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
    >>> opt = textbook.Momentum([w], lr=0.1, gamma=0.9)
    >>> (w ** 2).sum().backward(); _ = opt.step()
    >>> w.detach()
    tensor([ 0.8000, -1.6000], dtype=torch.float64)
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, ClassVar

import torch

from . import _aliases
from ._argdocs import complete_args
from .engine import ChainOptimizer
from .formula import Chain
from .transforms import (
    add_weight_decay,
    apply_update,
    chain,
    decoupled_weight_decay,
    descend,
    scale_by_adagrad,
    scale_by_adam,
    scale_by_lr,
    scale_by_nadam,
    scale_by_rms,
    trace,
)
from .validation import NON_NEGATIVE, UNIT, Constraint

BETAS = ("beta1", "beta2")

__all__ = ["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "AdamSimple", "Adam",
           "Nadam", "AdamW"]


class _Textbook(ChainOptimizer):
    """A fixed chain with the lecture's hyperparameter names, validated on construction
    (the lecture's ranges: a momentum or decay rate in [0, 1)).

    A subclass's docstring documents only the arguments that are its own (or that mean
    something else there); the shared ones are written once in :attr:`shared_args`, and
    the class's ``Args:`` section is completed from both, with each declared constraint."""

    formula: Chain
    # The dict type of defaults and param groups: torch's name for the moments, or None.
    groups: type[_aliases.Aliased] | None = None
    constraints: ClassVar[dict[str, Constraint]] = {
        "lr": NON_NEGATIVE, "gamma": UNIT, "beta1": UNIT, "beta2": UNIT, "s": NON_NEGATIVE,
        "weight_decay": NON_NEGATIVE}
    shared_args: ClassVar[dict[str, str]] = {
        "params": "parameters or param-group dicts.",
        "lr": r"learning rate :math:`\varepsilon` (no default, as in the lecture).",
        "gamma": r":math:`\gamma`, the momentum.",
        "beta1": r":math:`\beta_1`, the decay of the first moment :math:`m`.",
        "beta2": r":math:`\beta_2`, the decay of the second moment :math:`G`.",
        "s": r":math:`s`, inside the root.",
        "nonfinite": '``"raise"`` (default), ``"skip"`` or ``"ignore"`` (see '
                     ':class:`~antigrad.ChainOptimizer`).'}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        names = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
        cls.__doc__ = complete_args(cls.__doc__, names, cls.shared_args, cls.constraints)

    def __init__(self, params, nonfinite: str = "raise", **hyper: Any) -> None:
        super().__init__(params, self.formula, nonfinite=nonfinite, **hyper)
        self._wrap_groups()

    def _wrap_groups(self) -> None:
        if self.groups is not None:
            self.defaults = self.groups.wrap(self.defaults)
            self.param_groups = [self.groups.wrap(g) for g in self.param_groups]

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        if self.groups is not None and isinstance(param_group, dict):
            param_group = self.groups.wrap(param_group)
        super().add_param_group(param_group)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)   # load_state_dict builds plain dicts: wrap them again
        self._wrap_groups()


class SGD(_Textbook):
    r"""Gradient descent, full batch (L3) or minibatch (L5).

    .. math:: w \leftarrow w - \varepsilon g

    Args:

    Example::

        >>> import torch
        >>> from antigrad import textbook
        >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
        >>> opt = textbook.SGD([w], lr=0.1)
        >>> (w ** 2).sum().backward(); _ = opt.step()
        >>> w.detach()  # w - 0.1 * 2w
        tensor([ 0.8000, -1.6000])

    Reference: lecture L3, L5; Robbins & Monro, Ann. Math. Statist. 22 (1951).
    """

    formula = chain(descend())

    def __init__(self, params, lr: float, *, nonfinite: str = "raise") -> None:
        super().__init__(params, nonfinite, lr=lr)


class Momentum(_Textbook):
    r"""Heavy ball (L7): the velocity carries the learning rate.

    .. math:: v \leftarrow \gamma v + \varepsilon g,\quad w \leftarrow w - v

    A new ``lr`` affects only new gradients.

    Args:

    Example::

        >>> import torch
        >>> from antigrad import textbook
        >>> w = torch.nn.Parameter(torch.ones(2))
        >>> opt = textbook.Momentum([w], lr=0.1, gamma=0.9)
        >>> for lr in (0.1, 0.0):  # lr 0 stops new gradients, not the velocity
        ...     opt.param_groups[0]["lr"] = lr
        ...     opt.zero_grad(); (w ** 2).sum().backward(); _ = opt.step()
        >>> opt.state[w]["velocity"]  # 0.9 * (0.1 * 2)
        tensor([0.1800, 0.1800])

    Reference: lecture L7; Polyak, USSR Comput. Math. Math. Phys. 4 (1964).
    """

    groups = _aliases.Momentum

    formula = chain(scale_by_lr(), trace("gamma", state="velocity"), apply_update())

    def __init__(self, params, lr: float, gamma: float = 0.9, *,
                 nonfinite: str = "raise") -> None:
        super().__init__(params, nonfinite, lr=lr, gamma=gamma)


class Nesterov(_Textbook):
    r"""Nesterov's accelerated gradient (L8): the gradient at the look-ahead point.

    .. math:: v \leftarrow \gamma v + \varepsilon \nabla L(w - \gamma v),\quad w \leftarrow w - v

    With a closure, ``step(closure)`` moves the parameters to the look-ahead point
    ``w - gamma v``, evaluates the closure there, moves back and steps: the parameters
    hold ``w_{t+1}`` afterwards, exactly the lecture's sequence. Without a closure the
    gradient is the one already in ``.grad``, which is taken where the parameters are;
    the parameters then hold the look-ahead point :math:`\phi = w - \gamma v` and follow
    the equivalent recursion :math:`\phi \leftarrow \phi - \gamma v_t - \varepsilon g(\phi)`
    (Sutskever et al., 2013). Do not mix the two forms in one run.

    Args:

    Example::

        >>> import torch
        >>> from antigrad import textbook
        >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
        >>> opt = textbook.Nesterov([w], lr=0.1, gamma=0.9)
        >>> def closure():
        ...     opt.zero_grad()
        ...     loss = (w ** 2).sum()
        ...     loss.backward()
        ...     return loss
        >>> for _ in range(2):
        ...     _ = opt.step(closure)
        >>> opt.state[w]["velocity"][0]  # 0.9 * 0.2 + 0.1 * 2 * (0.8 - 0.9 * 0.2), look-ahead
        tensor(0.3040)

    Reference: lecture L8; Nesterov, Soviet Math. Dokl. 27 (1983); Sutskever et al.,
    ICML 2013.
    """

    groups = _aliases.Momentum

    formula = chain(scale_by_lr(), trace("gamma", nesterov=True, state="velocity"),
                    apply_update())
    at_lookahead = chain(scale_by_lr(), trace("gamma", state="velocity"), apply_update())

    def __init__(self, params, lr: float, gamma: float = 0.9, *,
                 nonfinite: str = "raise") -> None:
        super().__init__(params, nonfinite, lr=lr, gamma=gamma)

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        if closure is None:
            self._apply()
            return None
        # w - gamma v, then back to w: restored from a copy, since adding gamma v back
        # does not round-trip in floating point (a refused step must change nothing)
        moved, saved = self._shift_to_lookahead()
        try:
            with torch.enable_grad():
                loss = closure()
        finally:
            if moved:
                torch._foreach_copy_(moved, saved)
        self._apply(lambda group: self.at_lookahead)
        return loss

    def _shift_to_lookahead(self) -> tuple[list, list]:
        """Move every parameter with a velocity to ``w - gamma v``; return them and copies
        of their values before the move."""
        moved, saved = [], []
        for group in self.param_groups:
            ps = [p for p in group["params"] if "velocity" in self.state[p]]
            if ps:
                saved.extend(p.detach().clone() for p in ps)
                vs = [self.state[p]["velocity"] for p in ps]
                torch._foreach_add_(ps, vs, alpha=-float(group["gamma"]))
                moved.extend(ps)
        return moved, saved


class AdaGrad(_Textbook):
    r"""AdaGrad (L9): per-axis steps from the sum of squared gradients.

    .. math:: G \leftarrow G + g^2,\quad w \leftarrow w - \varepsilon\, g / \sqrt{G + s}

    Args:

    Example::

        >>> import torch
        >>> from antigrad import textbook
        >>> w = torch.nn.Parameter(torch.tensor([1.0, 100.0], dtype=torch.float64))
        >>> opt = textbook.AdaGrad([w], lr=0.1)
        >>> (w ** 2).sum().backward(); _ = opt.step()
        >>> w.detach()  # each axis moves by lr on the first step, whatever its gradient
        tensor([ 0.9000, 99.9000], dtype=torch.float64)

    Reference: lecture L9; Duchi, Hazan & Singer, JMLR 12 (2011).
    """

    formula = chain(scale_by_adagrad(eps=0.0, eps_root="s", initial=0.0), descend())

    def __init__(self, params, lr: float, s: float = 1e-6, *, nonfinite: str = "raise") -> None:
        super().__init__(params, nonfinite, lr=lr, s=s)


class RMSprop(_Textbook):
    r"""RMSprop (L10): AdaGrad with a decaying mean of squared gradients.

    .. math:: G \leftarrow \gamma G + (1-\gamma) g^2,\quad
              w \leftarrow w - \varepsilon\, g / \sqrt{G + s}

    Args:
        gamma: :math:`\gamma`, the decay of :math:`G`.

    Example::

        >>> import torch
        >>> from antigrad import textbook
        >>> w = torch.nn.Parameter(torch.tensor([1.0, 100.0], dtype=torch.float64))
        >>> opt = textbook.RMSprop([w], lr=0.01, gamma=0.9)
        >>> opt.param_groups[0]["momentum"]  # torch's name for gamma, for OneCycleLR
        0.9
        >>> (w ** 2).sum().backward(); _ = opt.step()
        >>> opt.state[w]["square_avg"]  # G = (1 - gamma) g^2
        tensor([4.0000e-01, 4.0000e+03], dtype=torch.float64)

    Reference: lecture L10; Tieleman & Hinton, Coursera lecture 6.5 (2012).
    """

    groups = _aliases.Momentum

    formula = chain(scale_by_rms(decay="gamma", eps=0.0, eps_root="s"), descend())

    def __init__(self, params, lr: float, gamma: float = 0.9, s: float = 1e-6, *,
                 nonfinite: str = "raise") -> None:
        super().__init__(params, nonfinite, lr=lr, gamma=gamma, s=s)


class AdamSimple(_Textbook):
    r"""Adam without bias correction (L11): RMSprop plus momentum.

    .. math:: m \leftarrow \beta_1 m + (1-\beta_1) g,\quad
              G \leftarrow \beta_2 G + (1-\beta_2) g^2,\quad
              w \leftarrow w - \varepsilon\, m / (\sqrt{G} + s)

    Args:
        s: :math:`s`, outside the root (as L11 writes it).

    Example::

        >>> import torch
        >>> from antigrad import textbook
        >>> w = torch.nn.Parameter(torch.tensor([1.0, 100.0], dtype=torch.float64))
        >>> opt = textbook.AdamSimple([w], lr=0.01, beta1=0.9, beta2=0.999)
        >>> (w ** 2).sum().backward(); _ = opt.step()
        >>> w.detach()  # no bias correction: the first step is 0.1 / sqrt(0.001) = 3.16 lr
        tensor([ 0.9684, 99.9684], dtype=torch.float64)

    Reference: lecture L11; Kingma & Ba, arXiv 1412.6980.
    """

    groups = _aliases.Betas

    formula = chain(scale_by_adam(BETAS, eps="s", bias_correction=False), descend())

    def __init__(self, params, lr: float, beta1: float = 0.9, beta2: float = 0.999,
                 s: float = 1e-8, *, nonfinite: str = "raise") -> None:
        super().__init__(params, nonfinite, lr=lr, beta1=beta1, beta2=beta2, s=s)


class Adam(_Textbook):
    r"""Adam with bias correction (L12), epsilon inside the root.

    .. math:: m \leftarrow \beta_1 m + (1-\beta_1) g,\quad
              G \leftarrow \beta_2 G + (1-\beta_2) g^2,\quad
              \hat m = \frac{m}{1-\beta_1^t},\quad \hat G = \frac{G}{1-\beta_2^t},\quad
              w \leftarrow w - \varepsilon\, \hat m / \sqrt{\hat G + s}

    ``weight_decay`` (lambda) adds the L2 gradient ``2 lambda w`` before the moments: the
    coupled regularization that L14 warns about (see :class:`AdamW`).

    Args:
        weight_decay: :math:`\lambda`, the coefficient of :math:`\lambda \|w\|^2` in the loss.

    Example::

        >>> import torch
        >>> from antigrad import textbook
        >>> w = torch.nn.Parameter(torch.tensor([1.0, 100.0], dtype=torch.float64))
        >>> opt = textbook.Adam([w], lr=0.01)
        >>> opt.param_groups[0]["betas"]  # torch's name for (beta1, beta2)
        (0.9, 0.999)
        >>> (w ** 2).sum().backward(); _ = opt.step()
        >>> w.detach()  # bias-corrected: the first step is lr on every axis
        tensor([ 0.9900, 99.9900], dtype=torch.float64)

    Reference: lecture L12; Kingma & Ba, arXiv 1412.6980.
    """

    groups = _aliases.Betas

    formula = chain(scale_by_adam(BETAS, eps=0.0, eps_root="s"), descend())
    decayed = chain(add_weight_decay(factor=2.0), formula)

    def __init__(self, params, lr: float, beta1: float = 0.9, beta2: float = 0.999,
                 s: float = 1e-8, weight_decay: float = 0.0, *,
                 nonfinite: str = "raise") -> None:
        super().__init__(params, nonfinite, lr=lr, beta1=beta1, beta2=beta2, s=s,
                         weight_decay=weight_decay)

    def build(self, group: dict[str, Any]) -> Chain:
        return self.decayed if group["weight_decay"] != 0 else self.formula


class Nadam(_Textbook):
    r"""Nadam (L13): Adam with Nesterov momentum, Dozat's plain form.

    .. math:: \bar m = \frac{\beta_1 m_t}{1-\beta_1^{t+1}}
              + \frac{(1-\beta_1) g_t}{1-\beta_1^t},\quad
              w \leftarrow w - \varepsilon\, \bar m / \sqrt{\hat G + s}

    with :math:`m_t` and :math:`\hat G` as in :class:`Adam` (no momentum-decay schedule).

    Args:

    Example::

        >>> import torch
        >>> from antigrad import textbook
        >>> model = torch.nn.Linear(3, 1)
        >>> opt = textbook.Nadam(model.parameters(), lr=0.01)
        >>> model(torch.ones(4, 3)).pow(2).mean().backward(); _ = opt.step()
        >>> sorted(opt.state[model.weight])  # m, G and t, under torch's names
        ['exp_avg', 'exp_avg_sq', 'step']

    Reference: lecture L13; Dozat, "Incorporating Nesterov Momentum into Adam", ICLR workshop 2016.
    """

    groups = _aliases.Betas

    formula = chain(scale_by_nadam(BETAS, eps=0.0, eps_root="s", momentum_decay=None),
                    descend())

    def __init__(self, params, lr: float, beta1: float = 0.9, beta2: float = 0.999,
                 s: float = 1e-8, *, nonfinite: str = "raise") -> None:
        super().__init__(params, nonfinite, lr=lr, beta1=beta1, beta2=beta2, s=s)


class AdamW(_Textbook):
    r"""AdamW (L14): Adam with decoupled weight decay, as the lecture writes it.

    .. math:: w \leftarrow w - \varepsilon\, \frac{\hat m}{\sqrt{\hat G} + s}
              - \varepsilon \cdot 2\lambda\, w

    with :math:`\hat m, \hat G` as in :class:`Adam`, from the gradient of the loss alone.
    ``weight_decay`` is lambda; torch.optim.AdamW's ``weight_decay`` is ``2 lambda``, so the
    default 0.005 matches torch's default 0.01.

    Args:
        s: :math:`s`, outside the root (as L14 writes it).
        weight_decay: :math:`\lambda`, the coefficient of :math:`\lambda \|w\|^2`.

    Example::

        >>> import torch
        >>> from antigrad import textbook
        >>> w = torch.nn.Parameter(torch.tensor([1.0, 100.0], dtype=torch.float64))
        >>> opt = textbook.AdamW([w], lr=0.01, weight_decay=0.5)
        >>> (w ** 2).sum().backward(); _ = opt.step()
        >>> w.detach()  # Adam's step lr, then the decay lr * 2 * 0.5 * w
        tensor([ 0.9800, 98.9900], dtype=torch.float64)

    Reference: lecture L14; Loshchilov & Hutter, arXiv 1711.05101.
    """

    groups = _aliases.Betas

    formula = chain(decoupled_weight_decay(factor=2.0), scale_by_adam(BETAS, eps="s"),
                    descend())

    def __init__(self, params, lr: float, beta1: float = 0.9, beta2: float = 0.999,
                 s: float = 1e-8, weight_decay: float = 0.005, *,
                 nonfinite: str = "raise") -> None:
        super().__init__(params, nonfinite, lr=lr, beta1=beta1, beta2=beta2, s=s,
                         weight_decay=weight_decay)
