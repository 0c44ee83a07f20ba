"""Per-coordinate step sizes from running sums of squared gradients (L9-L13).

Each denominator is ``sqrt(G + eps_root) + eps``: torch.optim puts its epsilon outside
the root (``eps``), the lecture inside (``eps_root``); both are reachable.
"""

from __future__ import annotations

from functools import cache

from ..formula.expr import lerp, maximum, sqrt
from ..formula.transform import Key, Transform, hyper, zeros


def _key_default(key: Key, value: float) -> dict:
    return {key: value} if isinstance(key, str) else {}


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


@cache
def scale_by_adagrad(eps: Key = "eps", eps_root: Key = 0.0,
                     initial: Key = "initial_accumulator_value") -> Transform:
    """AdaGrad (L9): ``G <- G + u^2``; ``u <- u / (sqrt(G + eps_root) + eps)``.

    State ``sum`` starts at ``initial``. Reference: Duchi, Hazan & Singer, JMLR 2011.
    """

    def update(u, x, c):
        G = x.state["sum"] + u * u
        x.state["sum"] = G
        return u / _denominator(G, c, eps, eps_root)

    def init(param, group):
        value = hyper(group, initial)
        # Every real component starts at `initial`, the imaginary parts included.
        return zeros(param, group).fill_(complex(value, value) if param.is_complex() else value)

    return Transform(
        "scale_by_adagrad", update=update, state={"sum": init}, scalar_state={"step": 0.0},
        scalars=lambda g, s, fresh: _eps_scalars(g, eps, eps_root),
        defaults={**_key_default(eps, 1e-10), **_key_default(initial, 0.0)},
    )


@cache
def scale_by_rms(decay: Key = "alpha", eps: Key = "eps", eps_root: Key = 0.0,
                 centered: bool = False) -> Transform:
    """RMSprop (L10): ``G <- decay G + (1 - decay) u^2``; ``u <- u / (sqrt(G + eps_root) + eps)``.

    ``centered=True`` subtracts the squared running mean ``a <- decay a + (1 - decay) u``
    (``G - a^2``: a variance estimate). Reference: Tieleman & Hinton, 2012.
    """

    def update(u, x, c):
        G = x.state["square_avg"] * c["decay"] + u * u * (1.0 - c["decay"])
        x.state["square_avg"] = G
        if centered:
            a = lerp(x.state["grad_avg"], u, 1.0 - c["decay"])
            x.state["grad_avg"] = a
            G = G - a * a
        return u / _denominator(G, c, eps, eps_root)

    state = {"square_avg": zeros, **({"grad_avg": zeros} if centered else {})}
    return Transform(
        "scale_by_rms", update=update, state=state,
        scalars=lambda g, s, fresh: {"decay": hyper(g, decay), **_eps_scalars(g, eps, eps_root)},
        defaults={**_key_default(decay, 0.99), **_key_default(eps, 1e-8)},
    )


@cache
def scale_by_adam(betas: Key | tuple[Key, Key] = "betas", eps: Key = "eps", eps_root: Key = 0.0,
                  amsgrad: bool = False, bias_correction: bool = True) -> Transform:
    """Adam (L11, L12).

    ``m <- b1 m + (1 - b1) u``, ``v <- b2 v + (1 - b2) u^2``, then with the bias
    corrections ``m^ = m / (1 - b1^t)``, ``v^ = v / (1 - b2^t)`` (L12; L11 has none):
    ``u <- m^ / (sqrt(v^ + eps_root) + eps)``. ``amsgrad`` uses the running maximum of
    ``v`` (Reddi et al., 2018). Reference: Kingma & Ba, arXiv 1412.6980.
    """
    b1, b2 = _pair(betas)

    def update(u, x, c):
        m = lerp(x.state["exp_avg"], u, 1.0 - c["b1"])
        v = x.state["exp_avg_sq"] * c["b2"] + u * u * (1.0 - c["b2"])
        x.state["exp_avg"], x.state["exp_avg_sq"] = m, v
        if amsgrad:
            v = maximum(x.state["max_exp_avg_sq"], v)
            x.state["max_exp_avg_sq"] = v
        if bias_correction:
            return m / _corrected_denominator(v, c, eps, eps_root) / c["bc1"]
        return m / _denominator(v, c, eps, eps_root)

    def scalars(g, s, fresh):
        beta1, beta2, t = hyper(g, b1), hyper(g, b2), s["step"]
        return {"b1": beta1, "b2": beta2, "bc1": 1.0 - beta1**t, **_bc2(beta2, t),
                **_eps_scalars(g, eps, eps_root)}

    state = {"exp_avg": zeros, "exp_avg_sq": zeros,
             **({"max_exp_avg_sq": zeros} if amsgrad else {})}
    return Transform("scale_by_adam", update=update, scalars=scalars, state=state,
                     scalar_state={"step": 0.0},
                     defaults={**_betas_default(betas), **_key_default(eps, 1e-8)})


@cache
def scale_by_nadam(betas: Key | tuple[Key, Key] = "betas", eps: Key = "eps", eps_root: Key = 0.0,
                   momentum_decay: Key | None = "momentum_decay") -> Transform:
    """Nadam: Adam with Nesterov momentum (L13).

    ``u <- (c_g u + c_m m) / (sqrt(v^ + eps_root) + eps)``, moments as in Adam. With
    ``momentum_decay=None`` (Dozat's plain Nadam) ``c_g = (1 - b1)/(1 - b1^t)`` and
    ``c_m = b1/(1 - b1^(t+1))``. With a ``momentum_decay`` psi (torch.optim.NAdam), the
    momentum follows ``mu_t = b1 (1 - 0.5 * 0.96^(t psi))``, with ``c_g = (1 - mu_t) /
    (1 - prod_{i<=t} mu_i)`` and ``c_m = mu_{t+1} / (1 - prod_{i<=t+1} mu_i)``.
    Reference: Dozat, "Incorporating Nesterov Momentum into Adam", ICLR workshop 2016.
    """
    b1, b2 = _pair(betas)

    def update(u, x, c):
        m = lerp(x.state["exp_avg"], u, 1.0 - c["b1"])
        v = x.state["exp_avg_sq"] * c["b2"] + u * u * (1.0 - c["b2"])
        x.state["exp_avg"], x.state["exp_avg_sq"] = m, v
        return (u * c["cg"] + m * c["cm"]) / _corrected_denominator(v, c, eps, eps_root)

    def scalars(g, s, fresh):
        beta1, beta2, t = hyper(g, b1), hyper(g, b2), s["step"]
        if momentum_decay is None:
            cg, cm = (1.0 - beta1) / (1.0 - beta1**t), beta1 / (1.0 - beta1 ** (t + 1))
        else:
            psi = hyper(g, momentum_decay)
            mu = beta1 * (1.0 - 0.5 * 0.96 ** (t * psi))  # ** (not math.pow): t may be a tensor
            mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * psi))
            product = s.scale("mu_product", mu)
            cg = (1.0 - mu) / (1.0 - product)
            cm = mu_next / (1.0 - product * mu_next)
        return {"b1": beta1, "b2": beta2, **_bc2(beta2, t), "cg": cg, "cm": cm,
                **_eps_scalars(g, eps, eps_root)}

    scalar_state = {"step": 0.0, **({"mu_product": 1.0} if momentum_decay is not None else {})}
    return Transform(
        "scale_by_nadam", update=update, scalars=scalars, scalar_state=scalar_state,
        state={"exp_avg": zeros, "exp_avg_sq": zeros},
        defaults={**_betas_default(betas), **_key_default(eps, 1e-8),
                  **(_key_default(momentum_decay, 4e-3) if momentum_decay is not None else {})},
    )


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
    return {**_key_default(b1, 0.9), **_key_default(b2, 0.999)}
