"""Second-order methods on logistic regression: antigrad vs scipy.optimize vs torch.optim.

Problem: scikit-learn's breast-cancer data (569 x 30), standardized, labels y in {-1, +1},

    L(w, b) = 1/N sum_n log(1 + exp(-y_n (x_n w + b))) + lam/2 |w|^2,   lam = 1e-3,

solved in float64 from w = 0, b = 0 to |grad L|_inf < 1e-6. Every solver gets the same
loss: torch autograd for antigrad and torch.optim.LBFGS, the same formula in NumPy with its
analytic gradient (and Hessian-vector product for Newton-CG) for scipy.

Prints one table: iterations, loss/gradient evaluations, Hessian-vector products, wall time
(median of --repeats runs, one process, one thread) and final loss minus the best final loss.

    .venv/bin/python benchmarks/second_order.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import scipy.optimize
import torch
from sklearn.datasets import load_breast_cancer

import antigrad

LAM, GTOL = 1e-3, 1e-6


def data() -> tuple[np.ndarray, np.ndarray]:
    x, y = load_breast_cancer(return_X_y=True)
    x = (x - x.mean(0)) / x.std(0)
    return x, np.where(y == 1, 1.0, -1.0)


# -- NumPy objective for scipy ---------------------------------------------------------------
def numpy_problem(x: np.ndarray, y: np.ndarray) -> dict[str, Callable]:
    n = len(y)
    xb = np.hstack([x, np.ones((n, 1))])
    reg = np.r_[np.full(x.shape[1], LAM), 0.0]

    def fun(v: np.ndarray) -> tuple[float, np.ndarray]:
        z = y * (xb @ v)
        loss = np.logaddexp(0.0, -z).mean() + 0.5 * (reg * v * v).sum()
        sig = 0.5 * (1 - np.tanh(0.5 * z))  # sigmoid(-z), stable
        return loss, xb.T @ (-y * sig) / n + reg * v

    def hessp(v: np.ndarray, p: np.ndarray) -> np.ndarray:
        s = 0.5 * (1 + np.tanh(0.5 * (xb @ v)))
        return xb.T @ (s * (1 - s) * (xb @ p)) / n + reg * p

    return {"fun": fun, "hessp": hessp, "x0": np.zeros(xb.shape[1])}


# -- torch objective ---------------------------------------------------------------------------
def torch_problem(x: np.ndarray, y: np.ndarray):
    xt = torch.tensor(x)
    yt = torch.tensor(y)
    w = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros(1, dtype=torch.float64, requires_grad=True)

    def loss() -> torch.Tensor:
        z = yt * (xt @ w + b)
        return torch.nn.functional.softplus(-z).mean() + 0.5 * LAM * (w @ w)

    return [w, b], loss


def run_torch(make: Callable, x: np.ndarray, y: np.ndarray) -> dict:
    params, loss_fn = torch_problem(x, y)
    opt = make(params)
    evals = [0]

    def closure() -> torch.Tensor:
        evals[0] += 1
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        return loss

    start = time.perf_counter()
    opt.step(closure)
    wall = time.perf_counter() - start
    grad = torch.cat([p.grad.reshape(-1) for p in params])
    with torch.no_grad():
        final = float(loss_fn())
    res = getattr(opt, "result", None)
    if res is not None:
        its, hvp = res.iterations, res.hvp_evals
        gnorm = res.grad_norm
    else:  # torch.optim.LBFGS
        its, hvp = opt.state[params[0]]["n_iter"], 0
        closure()
        evals[0] -= 1
        gnorm = float(torch.cat([p.grad.reshape(-1) for p in params]).abs().max())
        del grad
    return dict(iterations=its, evals=evals[0], hvp=hvp, wall=wall, loss=final, gnorm=gnorm)


def run_scipy(method: str, x: np.ndarray, y: np.ndarray) -> dict:
    prob = numpy_problem(x, y)
    opts = {"L-BFGS-B": dict(gtol=GTOL, ftol=0.0, maxiter=10000),
            "BFGS": dict(gtol=GTOL, norm=np.inf, maxiter=10000),
            "Newton-CG": dict(xtol=1e-14, maxiter=1000)}[method]
    kw = {"hessp": prob["hessp"]} if method == "Newton-CG" else {}
    start = time.perf_counter()
    r = scipy.optimize.minimize(prob["fun"], prob["x0"], jac=True, method=method,
                                options=opts, **kw)
    wall = time.perf_counter() - start
    loss, g = prob["fun"](r.x)
    return dict(iterations=r.nit, evals=r.nfev, hvp=getattr(r, "nhev", 0) or 0, wall=wall,
                loss=loss, gnorm=float(np.abs(g).max()))


def solvers() -> dict[str, Callable]:
    stop = dict(max_iter=100000, max_eval=100000, tolerance_grad=GTOL, tolerance_change=0.0)
    ag = antigrad
    return {
        "antigrad.Newton": lambda p: ag.Newton(p, **stop),
        "antigrad.Newton(mode='cg')": lambda p: ag.Newton(p, mode="cg", **stop),
        "antigrad.BFGS": lambda p: ag.BFGS(p, **stop),
        "antigrad.LBFGS": lambda p: ag.LBFGS(p, **stop),
        "antigrad.LBFGS(history_size=10)": lambda p: ag.LBFGS(p, history_size=10, **stop),
        "antigrad.DiagonalNewton": lambda p: ag.DiagonalNewton(
            p, line_search_fn="strong_wolfe", **stop),
        "torch.optim.LBFGS(strong_wolfe)": lambda p: torch.optim.LBFGS(
            p, line_search_fn="strong_wolfe", max_iter=100000, max_eval=100000,
            tolerance_grad=GTOL, tolerance_change=0.0),
        "torch.optim.LBFGS(strong_wolfe, history_size=10)": lambda p: torch.optim.LBFGS(
            p, line_search_fn="strong_wolfe", max_iter=100000, max_eval=100000,
            tolerance_grad=GTOL, tolerance_change=0.0, history_size=10),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(1)
    x, y = data()
    rows = {}
    for name, make in solvers().items():
        runs = [run_torch(make, x, y) for _ in range(args.repeats)]
        rows[name] = dict(runs[0], wall=statistics.median(r["wall"] for r in runs))
    for method in ("Newton-CG", "BFGS", "L-BFGS-B"):
        runs = [run_scipy(method, x, y) for _ in range(args.repeats)]
        rows[f"scipy {method}"] = dict(runs[0], wall=statistics.median(r["wall"] for r in runs))
    best = min(r["loss"] for r in rows.values())
    print(f"logistic regression, breast cancer (569 x 30, standardized), L2 {LAM}, float64, "
          f"to |g|inf < {GTOL}; wall = median of {args.repeats}, 1 thread\n")
    print(f"| {'solver':50s} | iters | evals | HVPs | wall ms | |g|inf   | loss - best |")
    print(f"|{'-' * 52}|------:|------:|-----:|--------:|---------:|------------:|")
    for name, r in rows.items():
        print(f"| {name:50s} | {r['iterations']:5d} | {r['evals']:5d} | {r['hvp']:4d} | "
              f"{1e3 * r['wall']:7.2f} | {r['gnorm']:.1e} | {r['loss'] - best:11.1e} |")
    print(f"\nbest loss {best:.12f}")
    ag, sp, tl = rows["antigrad.LBFGS"], rows["scipy L-BFGS-B"], \
        rows["torch.optim.LBFGS(strong_wolfe)"]
    print(f"antigrad.LBFGS evaluations / scipy L-BFGS-B: {ag['evals']} / {sp['evals']} "
          f"({'met' if ag['evals'] <= sp['evals'] else 'NOT met'})")
    print(f"antigrad.LBFGS wall / torch.optim.LBFGS wall: {ag['wall'] / tl['wall']:.2f} "
          f"({'met' if ag['wall'] < tl['wall'] else 'NOT met'})")
    spread = max(r["loss"] for r in rows.values()) - best
    print(f"largest final-loss difference: {spread:.1e} "
          f"({'all within 1e-8' if spread <= 1e-8 else 'NOT all within 1e-8'})")


if __name__ == "__main__":
    main()
