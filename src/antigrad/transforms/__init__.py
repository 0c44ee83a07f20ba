"""The formulas of antigrad, one small transform each, and :func:`chain` to compose them.

Each transform is a value: a frozen dataclass whose fields are its arguments
(``T.scale_by_adam(eps=0.0)`` is ``ScaleByAdam(betas="betas", eps=0.0, ...)``), so equal
arguments give equal transforms and equal chains.

Example: Adam with Nesterov momentum and decoupled weight decay, as an optimizer::

    import antigrad
    from antigrad import transforms as T

    opt = antigrad.ChainOptimizer(
        model.parameters(),
        T.chain(T.decoupled_weight_decay(), T.scale_by_nadam(momentum_decay=None), T.descend()),
        lr=1e-3, weight_decay=1e-2)
"""

import sys

from ..formula import transform as base
from ..formula.transform import Chain, Key, Slots, Transform, chain, hyper, zeros
from .adaptive import (
    ScaleByAdagrad,
    ScaleByAdam,
    ScaleByNadam,
    ScaleByRms,
    scale_by_adagrad,
    scale_by_adam,
    scale_by_nadam,
    scale_by_rms,
)
from .clipping import ClipByGlobalNorm, ClipByNorm, clip_by_global_norm, clip_by_norm
from .decay import AddWeightDecay, DecoupledWeightDecay, add_weight_decay, decoupled_weight_decay
from .momentum import Momentum, Trace, momentum, trace
from .step import (
    ApplyUpdate,
    CountSteps,
    Descend,
    Flip,
    ScaleByInverseTime,
    ScaleByLr,
    apply_update,
    count_steps,
    descend,
    flip,
    scale_by_inverse_time,
    scale_by_lr,
)
from .trust import ScaleByLars, ScaleByTrustRatio, scale_by_lars, scale_by_trust_ratio

__all__ = [
    "AddWeightDecay", "ApplyUpdate", "ClipByGlobalNorm", "ClipByNorm", "CountSteps",
    "DecoupledWeightDecay", "Descend", "Flip",
    "Momentum", "ScaleByAdagrad", "ScaleByAdam", "ScaleByInverseTime", "ScaleByLr",
    "ScaleByLars", "ScaleByNadam", "ScaleByRms", "ScaleByTrustRatio", "Trace",
    "Chain", "Key", "Slots", "Transform", "add_weight_decay", "apply_update", "chain",
    "clip_by_global_norm", "clip_by_norm", "count_steps", "decoupled_weight_decay",
    "descend", "flip", "hyper", "momentum", "scale_by_adagrad", "scale_by_adam",
    "scale_by_inverse_time", "scale_by_lars", "scale_by_lr", "scale_by_nadam",
    "scale_by_rms", "scale_by_trust_ratio", "trace", "zeros",
]

# `antigrad.transforms.base` was the home of Transform, Chain and ScalarState before the
# formula language got its own package; the old name keeps working for code that uses it.
sys.modules[__name__ + ".base"] = base
