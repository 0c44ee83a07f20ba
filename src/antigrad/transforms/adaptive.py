"""Per-coordinate step sizes from running sums of squared gradients (L9-L13).

Each denominator is ``sqrt(G + eps_root) + eps``: torch.optim puts its epsilon outside
the root (``eps``), the lecture inside (``eps_root``); both are reachable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..formula.expr import lerp, maximum, sqrt
from ..formula.transform import Key, StateInit, Transform, hyper, interned, zeros
from ..validation import UNIT, Constraint, Pair, non_negative
from .rates import key_default


def _eps_scalars(g, eps: Key, eps_root: Key) -> dict[str, float]:
    return {"eps": hyper(g, eps), "eps_root": hyper(g, eps_root)}


def _denominator(G, c, eps: Key, eps_root: Key):
    # An epsilon given as the number 0 drops out of the traced formula entirely.
    inner = G if eps_root == 0 else G + c["eps_root"]
    root = sqrt(inner)
    return root if eps == 0 else root + c["eps"]


def _corrected_denominator(v, c, eps: Key, eps_root: Key):
    """``sqrt(v / bc2 + eps_root) + eps``; without eps_root, as torch computes it."""
    if eps_root == 0:
        root = sqrt(v) / c["bc2_sqrt"]
        return root if eps == 0 else root + c["eps"]
    return _denominator(v / c["bc2"], c, eps, eps_root)


@dataclass(frozen=True, eq=False)
class ScaleByAdagrad(Transform):
    """AdaGrad (L9): ``G <- G + u^2``; ``u <- u / (sqrt(G + eps_root) + eps)``.

    State ``sum`` starts at ``initial``. Reference: Duchi, Hazan & Singer, JMLR 2011.
    """

    eps: Key = "eps"
    eps_root: Key = 0.0
    initial: Key = "initial_accumulator_value"
    name = "scale_by_adagrad"
    scalar_state = {"step": 0.0}

    def update(self, u, x, c):
        G = x.state["sum"] + u * u
        x.state["sum"] = G
        return u / _denominator(G, c, self.eps, self.eps_root)

    def scalars(self, group, s, fresh):
        return _eps_scalars(group, self.eps, self.eps_root)

    def _init_sum(self, param, group):
        value = hyper(group, self.initial)
        # Every real component starts at `initial`, the imaginary parts included.
        return zeros(param, group).fill_(complex(value, value) if param.is_complex() else value)

    @property
    def state(self) -> Mapping[str, StateInit]:
        return {"sum": self._init_sum}

    @property
    def defaults(self) -> Mapping[str, Any]:
        return {**key_default(self.eps, 1e-10), **key_default(self.initial, 0.0)}

    @property
    def constraints(self) -> Mapping[str, Any]:
        return {**non_negative(self.defaults, getattr(self, "eps_root", 0.0)),
                **_betas_constraints(getattr(self, "betas", None))}


@dataclass(frozen=True, eq=False)
class ScaleByRms(Transform):
    """RMSprop (L10): ``G <- decay G + (1 - decay) u^2``; ``u <- u / (sqrt(G + eps_root) + eps)``.

    ``centered=True`` subtracts the squared running mean ``a <- decay a + (1 - decay) u``
    (``G - a^2``: a variance estimate). Reference: Tieleman & Hinton, 2012.
    """

    decay: Key = "alpha"
    eps: Key = "eps"
    eps_root: Key = 0.0
    centered: bool = False
    name = "scale_by_rms"

    def update(self, u, x, c):
        G = x.state["square_avg"] * c["decay"] + u * u * (1.0 - c["decay"])
        x.state["square_avg"] = G
        if self.centered:
            a = lerp(x.state["grad_avg"], u, 1.0 - c["decay"])
            x.state["grad_avg"] = a
            G = G - a * a
        return u / _denominator(G, c, self.eps, self.eps_root)

    def scalars(self, group, s, fresh):
        return {"decay": hyper(group, self.decay), **_eps_scalars(group, self.eps, self.eps_root)}

    @property
    def state(self) -> Mapping[str, StateInit]:
        return {"square_avg": zeros, **({"grad_avg": zeros} if self.centered else {})}

    @property
    def defaults(self) -> Mapping[str, Any]:
        return {**key_default(self.decay, 0.99), **key_default(self.eps, 1e-8)}

    @property
    def constraints(self) -> Mapping[str, Any]:
        return {**non_negative(self.defaults, getattr(self, "eps_root", 0.0)),
                **_betas_constraints(getattr(self, "betas", None))}


@dataclass(frozen=True, eq=False)
class ScaleByAdam(Transform):
    """Adam (L11, L12).

    ``m <- b1 m + (1 - b1) u``, ``v <- b2 v + (1 - b2) u^2``, then with the bias
    corrections ``m^ = m / (1 - b1^t)``, ``v^ = v / (1 - b2^t)`` (L12; L11 has none):
    ``u <- m^ / (sqrt(v^ + eps_root) + eps)``. ``amsgrad`` uses the running maximum of
    ``v`` (Reddi et al., 2018). Reference: Kingma & Ba, arXiv 1412.6980.
    """

    betas: Key | tuple[Key, Key] = "betas"
    eps: Key = "eps"
    eps_root: Key = 0.0
    amsgrad: bool = False
    bias_correction: bool = True
    name = "scale_by_adam"
    scalar_state = {"step": 0.0}

    def __post_init__(self) -> None:
        super().__post_init__()
        # Malformed betas are refused when the transform is built; the keys kept for steps.
        object.__setattr__(self, "beta_keys", _pair(self.betas))

    def update(self, u, x, c):
        m = lerp(x.state["exp_avg"], u, 1.0 - c["b1"])
        v = x.state["exp_avg_sq"] * c["b2"] + u * u * (1.0 - c["b2"])
        x.state["exp_avg"], x.state["exp_avg_sq"] = m, v
        if self.amsgrad:
            v = maximum(x.state["max_exp_avg_sq"], v)
            x.state["max_exp_avg_sq"] = v
        if self.bias_correction:
            return m / _corrected_denominator(v, c, self.eps, self.eps_root) / c["bc1"]
        return m / _denominator(v, c, self.eps, self.eps_root)

    def scalars(self, group, s, fresh):
        b1, b2 = self.beta_keys
        beta1, beta2, t = hyper(group, b1), hyper(group, b2), s["step"]
        return {"b1": beta1, "b2": beta2, "bc1": 1.0 - beta1**t, **_bc2(beta2, t),
                **_eps_scalars(group, self.eps, self.eps_root)}

    @property
    def state(self) -> Mapping[str, StateInit]:
        return {"exp_avg": zeros, "exp_avg_sq": zeros,
                **({"max_exp_avg_sq": zeros} if self.amsgrad else {})}

    @property
    def defaults(self) -> Mapping[str, Any]:
        return {**_betas_default(self.betas), **key_default(self.eps, 1e-8)}

    @property
    def constraints(self) -> Mapping[str, Any]:
        return {**non_negative(self.defaults, getattr(self, "eps_root", 0.0)),
                **_betas_constraints(getattr(self, "betas", None))}


@dataclass(frozen=True, eq=False)
class ScaleByNadam(Transform):
    """Nadam: Adam with Nesterov momentum (L13).

    ``u <- (c_g u + c_m m) / (sqrt(v^ + eps_root) + eps)``, moments as in Adam. With
    ``momentum_decay=None`` (Dozat's plain Nadam) ``c_g = (1 - b1)/(1 - b1^t)`` and
    ``c_m = b1/(1 - b1^(t+1))``. With a ``momentum_decay`` psi (torch.optim.NAdam), the
    momentum follows ``mu_t = b1 (1 - 0.5 * 0.96^(t psi))``, with ``c_g = (1 - mu_t) /
    (1 - prod_{i<=t} mu_i)`` and ``c_m = mu_{t+1} / (1 - prod_{i<=t+1} mu_i)``.
    Reference: Dozat, "Incorporating Nesterov Momentum into Adam", ICLR workshop 2016.
    """

    betas: Key | tuple[Key, Key] = "betas"
    eps: Key = "eps"
    eps_root: Key = 0.0
    momentum_decay: Key | None = "momentum_decay"
    name = "scale_by_nadam"
    state = {"exp_avg": zeros, "exp_avg_sq": zeros}

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "beta_keys", _pair(self.betas))

    def update(self, u, x, c):
        m = lerp(x.state["exp_avg"], u, 1.0 - c["b1"])
        v = x.state["exp_avg_sq"] * c["b2"] + u * u * (1.0 - c["b2"])
        x.state["exp_avg"], x.state["exp_avg_sq"] = m, v
        return (u * c["cg"] + m * c["cm"]) / _corrected_denominator(v, c, self.eps,
                                                                    self.eps_root)

    def scalars(self, group, s, fresh):
        b1, b2 = self.beta_keys
        beta1, beta2, t = hyper(group, b1), hyper(group, b2), s["step"]
        if self.momentum_decay is None:
            cg, cm = (1.0 - beta1) / (1.0 - beta1**t), beta1 / (1.0 - beta1 ** (t + 1))
        else:
            psi = hyper(group, self.momentum_decay)
            # ** (not math.pow): t may be a tensor
            mu = beta1 * (1.0 - 0.5 * MU_BASE ** (t * psi))
            mu_next = beta1 * (1.0 - 0.5 * MU_BASE ** ((t + 1) * psi))
            product = s.scale("mu_product", mu)
            cg = (1.0 - mu) / (1.0 - product)
            cm = mu_next / (1.0 - product * mu_next)
        return {"b1": beta1, "b2": beta2, **_bc2(beta2, t), "cg": cg, "cm": cm,
                **_eps_scalars(group, self.eps, self.eps_root)}

    @property
    def scalar_state(self) -> Mapping[str, float]:
        return {"step": 0.0, **({"mu_product": 1.0} if self.momentum_decay is not None else {})}

    @property
    def defaults(self) -> Mapping[str, Any]:
        decay = self.momentum_decay
        return {**_betas_default(self.betas), **key_default(self.eps, 1e-8),
                **(key_default(decay, 4e-3) if decay is not None else {})}

    @property
    def constraints(self) -> Mapping[str, Any]:
        return {**non_negative(self.defaults, getattr(self, "eps_root", 0.0)),
                **_betas_constraints(getattr(self, "betas", None))}


# Dozat's momentum schedule mu_t = beta1 (1 - 0.5 * 0.96^(t psi)), as torch.optim.NAdam.
MU_BASE = 0.96


def _bc2(beta2: float, t: float) -> dict[str, float]:
    bc2 = 1.0 - beta2**t
    return {"bc2": bc2, "bc2_sqrt": bc2**0.5}


def _pair(betas: Key | tuple[Key, Key]) -> tuple[Key, Key]:
    """``"betas"`` (one tuple-valued key), ``("beta1", "beta2")`` (two keys) or two numbers."""
    if isinstance(betas, str):
        return (betas, 0), (betas, 1)
    if isinstance(betas, tuple) and len(betas) == 2 and (
            all(isinstance(b, str) for b in betas)
            or all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in betas)):
        return betas[0], betas[1]
    raise ValueError(f"Invalid betas: {betas!r} (a param-group key, two keys or two numbers)")


def _betas_default(betas: Key | tuple[Key, Key]) -> dict:
    if isinstance(betas, str):
        return {betas: (0.9, 0.999)}
    b1, b2 = _pair(betas)
    return {**key_default(b1, 0.9), **key_default(b2, 0.999)}


scale_by_adagrad = interned(ScaleByAdagrad)
scale_by_rms = interned(ScaleByRms)
scale_by_adam = interned(ScaleByAdam)
scale_by_nadam = interned(ScaleByNadam)


def _betas_constraints(betas: Key | tuple[Key, Key] | None) -> dict[str, Constraint]:
    """A tuple-valued key is a pair in [0, 1) (torch's rule for ``betas``), two keys are each
    in [0, 1)."""
    if betas is None:
        return {}
    if isinstance(betas, str):
        return {betas: Pair(UNIT)}
    return {key: UNIT for key in _pair(betas) if isinstance(key, str)}
