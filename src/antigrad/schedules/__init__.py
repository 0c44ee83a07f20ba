r"""Learning-rate schedules with closed forms and a Robbins–Monro verdict (SPEC L5, L6).

Every schedule here is a :class:`torch.optim.lr_scheduler.LRScheduler` whose learning
rate is a pure function of the step index: ``lr_t = base_lr · factor(t)`` with
``t = last_epoch = 0, 1, 2, ...`` (the number of ``scheduler.step()`` calls so far). So
``scheduler.step(epoch)`` jumps anywhere (``_get_closed_form_lr``), schedules chain
(:class:`Sequential` switches between them at milestones, :class:`Product` multiplies
their factors) and a checkpoint needs only ``last_epoch``.

Stochastic gradient descent converges to an optimum when the Robbins–Monro conditions

.. math:: \sum_t \varepsilon_t = +\infty, \qquad \sum_t \varepsilon_t^2 < +\infty

hold. ``schedule.robbins_monro`` answers analytically for the built-in schedules (from the
shape of the tail of ``factor``: zero, geometric or a power ``t^{-p}``);
:func:`robbins_monro` answers numerically for any callable ``t -> lr`` and says
``satisfied=None`` when a finite horizon cannot tell.

Example::

    >>> import torch
    >>> from antigrad import schedules
    >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    >>> sched = schedules.InverseTime(opt, tau=10, p=1.0)
    >>> sched.robbins_monro.satisfied
    True
    >>> [round(sched.lr_at(t)[0], 4) for t in (0, 10, 90)]
    [0.1, 0.05, 0.01]
"""

from torch.optim.lr_scheduler import ReduceLROnPlateau

from antigrad.schedules.chaining import Product, Sequential, WarmupCosine
from antigrad.schedules.closed_form import (
    Constant,
    Cosine,
    Exponential,
    InverseTime,
    LinearWarmup,
    Schedule,
    Step,
)
from antigrad.schedules.verdict import Tail, Verdict, robbins_monro

__all__ = [
    "Verdict", "Tail", "Schedule", "Constant", "Step", "Exponential", "InverseTime", "Cosine",
    "LinearWarmup", "Sequential", "Product", "WarmupCosine", "ReduceLROnPlateau", "robbins_monro",
]
