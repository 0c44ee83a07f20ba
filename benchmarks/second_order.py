"""Second-order methods on logistic regression: antigrad vs scipy.optimize vs torch.optim.

Problem: scikit-learn's breast-cancer data (569 x 30), standardized, labels y in {-1, +1},

    L(w, b) = 1/N sum_n log(1 + exp(-y_n (x_n w + b))) + lam/2 |w|^2,   lam = 1e-3,

solved in float64 from w = 0, b = 0 to |grad L|_inf < 1e-6. Every solver gets the same
loss: torch autograd for antigrad and torch.optim.LBFGS, the same formula in NumPy with its
analytic gradient (and Hessian-vector product for Newton-CG) for scipy.

Prints one table: iterations, loss/gradient evaluations, Hessian-vector products, wall time
(median of --repeats runs, taken round robin, one thread) and final loss minus the best final loss.

    .venv/bin/python benchmarks/second_order.py [--repeats 11]

With --digits it instead trains an MLP (64-32-10, tanh) on scikit-learn's digits full batch
with antigrad.LBFGS, torch.optim.LBFGS and antigrad.Adam for the same wall-time budget,
prints loss/accuracy/time and saves the curves to docs/second_order_digits.png.

    .venv/bin/python benchmarks/second_order.py --digits [--seconds 4]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one thread for every library, before imports
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import scipy.optimize  # noqa: E402
import torch  # noqa: E402
from sklearn.datasets import load_breast_cancer  # noqa: E402

import antigrad  # noqa: E402

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
        "antigrad.LBFGS": lambda p: ag.LBFGS(p, line_search_fn="strong_wolfe", **stop),
        "antigrad.LBFGS(history_size=10)": lambda p: ag.LBFGS(
            p, line_search_fn="strong_wolfe", history_size=10, **stop),
        "antigrad.DiagonalNewton": lambda p: ag.DiagonalNewton(
            p, line_search_fn="strong_wolfe", **stop),
        "torch.optim.LBFGS(strong_wolfe)": lambda p: torch.optim.LBFGS(
            p, line_search_fn="strong_wolfe", max_iter=100000, max_eval=100000,
            tolerance_grad=GTOL, tolerance_change=0.0),
        "torch.optim.LBFGS(strong_wolfe, history_size=10)": lambda p: torch.optim.LBFGS(
            p, line_search_fn="strong_wolfe", max_iter=100000, max_eval=100000,
            tolerance_grad=GTOL, tolerance_change=0.0, history_size=10),
    }


def digits(seconds: float, out: str) -> None:
    """Full-batch MLP on digits: L-BFGS vs Adam, same time budget, curves to ``out``."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    xtr, xte, ytr, yte = train_test_split(x / 16.0, y, test_size=0.25, random_state=0)
    xtr, xte = (torch.tensor(a, dtype=torch.float32) for a in (xtr, xte))
    ytr, yte = torch.tensor(ytr), torch.tensor(yte)

    def objective(model: torch.nn.Module) -> torch.Tensor:
        """Mean cross-entropy + 1e-4/2 |params|^2 (so the minimum is a point, not 0)."""
        l2 = sum((p * p).sum() for p in model.parameters())
        return torch.nn.functional.cross_entropy(model(xtr), ytr) + 0.5e-4 * l2
    runs = {
        "antigrad.LBFGS": lambda p: antigrad.LBFGS(p, max_iter=10, tolerance_grad=0,
                                                   tolerance_change=0,
                                                   line_search_fn="strong_wolfe"),
        "torch.optim.LBFGS(strong_wolfe)": lambda p: torch.optim.LBFGS(
            p, max_iter=10, line_search_fn="strong_wolfe", tolerance_grad=0,
            tolerance_change=0),
        "antigrad.Adam(lr=1e-2)": lambda p: antigrad.Adam(p, lr=1e-2),
    }
    curves = {}
    for make in runs.values():  # warm up (first calls allocate, import, dispatch)
        warm = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.Tanh(),
                                   torch.nn.Linear(32, 10))
        opt = make(warm.parameters())
        for _ in range(3):
            opt.step(lambda opt=opt, warm=warm: (opt.zero_grad(), objective(warm).backward(),
                                                 objective(warm).detach())[2])
    print(f"MLP 64-32-10 (tanh), digits {len(ytr)} train / {len(yte)} test, full batch, "
          f"cross-entropy + 1e-4/2 |w|^2, float32, 1 thread, {seconds:g} s each\n")
    print(f"| {'optimizer':32s} | steps | evals | objective  | test acc | time s |")
    print(f"|{'-' * 34}|------:|------:|-----------:|---------:|-------:|")
    for name, make in runs.items():
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.Tanh(),
                                    torch.nn.Linear(32, 10))
        opt = make(model.parameters())
        evals = [0]

        def closure(opt=opt, model=model, evals=evals) -> torch.Tensor:
            evals[0] += 1
            opt.zero_grad()
            loss = objective(model)
            loss.backward()
            return loss

        curve, steps, start = [], 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds:
            opt.step(closure)
            steps += 1
            with torch.no_grad():
                loss = float(objective(model))
            curve.append((time.perf_counter() - start, evals[0], loss))
        with torch.no_grad():
            acc = float((model(xte).argmax(1) == yte).float().mean())
        curves[name] = curve
        print(f"| {name:32s} | {steps:5d} | {evals[0]:5d} | {curve[-1][2]:10.2e} | "
              f"{acc:8.3f} | {elapsed:6.2f} |")
    best = min(c[-1][2] for c in curves.values())
    _print_times_to_gap(curves, best)
    _plot_digits(curves, best, out)


def _print_times_to_gap(curves: dict[str, list[tuple[float, int, float]]],
                        best: float) -> None:
    """For each run, the time and evaluations until its objective came within 1e-1 ..
    1e-4 of ``best``."""
    print(f"\nbest objective {best:.6f}; time / evaluations to reach objective - best < ...")
    for name, curve in curves.items():
        hits = []
        for gap in (1e-1, 1e-2, 1e-3, 1e-4):
            hit = next((c for c in curve if c[2] - best < gap), None)
            hits.append(f"{gap:g}: {hit[0]:.2f} s / {hit[1]}" if hit else f"{gap:g}: never")
        print(f"    {name:32s} " + ", ".join(hits))


def _plot_digits(curves: dict[str, list[tuple[float, int, float]]], best: float,
                 out: str) -> None:
    """The gap to ``best`` against wall time and against evaluations, saved to ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for name, curve in curves.items():
        t, e, loss = zip(*curve, strict=True)
        gap = [v - best + 1e-6 for v in loss]
        axes[0].semilogy(t, gap, label=name)
        axes[1].semilogy(e, gap, label=name)
    axes[0].set_xlabel("wall time, s")
    axes[1].set_xlabel("loss/gradient evaluations")
    axes[1].set_xscale("log")
    for ax in axes:
        ax.set_ylabel("objective - best + 1e-6")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend()
    fig.suptitle("MLP on digits, full batch: L-BFGS vs Adam")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"\ncurves saved to {out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=11)
    ap.add_argument("--digits", action="store_true", help="the MLP-on-digits comparison")
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--out", default="docs/second_order_digits.png")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.digits:
        digits(args.seconds, args.out)
        return
    x, y = data()
    jobs = {name: (lambda make=make: run_torch(make, x, y)) for name, make in solvers().items()}
    jobs.update({f"scipy {m}": (lambda m=m: run_scipy(m, x, y))
                 for m in ("Newton-CG", "BFGS", "L-BFGS-B")})
    runs: dict[str, list[dict]] = {name: [] for name in jobs}
    for _ in range(args.repeats):  # round robin: machine noise hits every solver alike
        for name, job in jobs.items():
            runs[name].append(job())
    rows = {name: dict(r[0], wall=statistics.median(x["wall"] for x in r))
            for name, r in runs.items()}
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
