"""Second-order methods on the 36 Moré–Garbow–Hillstrom problems: antigrad vs scipy.optimize.

Every solver starts from the paper's starting point (float64) and succeeds when it ends
at a point with ``‖∇f‖∞ ≤ 1e-6`` (checked by this script on the returned point, the same
test for every solver). Cost is counted in function+gradient evaluations (one closure call
for antigrad, one ``fun`` call returning ``(f, g)`` for scipy); Hessian-vector products
(a dense Hessian counts ``n``) are reported beside. The problem definitions are in
``second_order_mgh_problems.py``.

Two runs:

* ``solve``: one ``step()`` with ``tolerance_grad=1e-6``, ``tolerance_change=0`` and a
  budget of 3000 evaluations and iterations, against scipy's BFGS, L-BFGS-B, Newton-CG,
  trust-ncg and trust-exact with ``gtol=1e-6`` (Newton-CG: ``xtol=1e-12``) and
  ``maxiter=3000``; prints per-problem costs, success
  counts and the Dolan–Moré performance profile ``ρ(τ)`` (the fraction of problems a
  solver solves within ``τ`` times the fewest evaluations any solver needed), and saves
  the profile to ``docs/second_order_mgh_profile.png`` with ``--figure``.
* ``loop``: a loop of ``step()`` calls with the default tolerances (at most 100 calls)
  until ``‖∇f‖∞ ≤ 1e-6``: how often a user who keeps calling ``step()`` gets there.

    .venv/bin/python benchmarks/second_order_mgh.py [--figure]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import scipy.optimize  # noqa: E402
import torch  # noqa: E402

import antigrad  # noqa: E402
from antigrad.second_order import ScaleAwareTolerances  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from second_order_mgh_problems import Problem, problems  # noqa: E402

GTOL = 1e-6
TAUS = (1, 1.5, 2, 4, 8, 16, 64)
BUDGET = 3000  # evaluations (and iterations) per solver and problem
SOLVE = dict(max_iter=BUDGET, max_eval=BUDGET, tolerance_grad=GTOL, tolerance_change=0.0)


def grad_inf(p: Problem, x: torch.Tensor) -> float:
    x = x.detach().clone().requires_grad_()
    (g,) = torch.autograd.grad(p.f(x), x)
    return float(g.abs().max())


# -- antigrad --------------------------------------------------------------------------------
ANTIGRAD: dict[str, Callable[[list[torch.Tensor], dict], torch.optim.Optimizer]] = {
    "antigrad Newton": lambda w, kw: antigrad.Newton(w, **kw),
    "antigrad Newton trust region": lambda w, kw: antigrad.Newton(w, mode="trust_region",
                                                                  **kw),
    "antigrad BFGS": lambda w, kw: antigrad.BFGS(w, **kw),
    "antigrad LBFGS": lambda w, kw: antigrad.LBFGS(w, line_search_fn="strong_wolfe", **kw),
}


def run_antigrad(make: Callable, p: Problem, kw: dict, calls: int,
                 scale_aware: bool = False) -> dict:
    """``calls`` step() calls (stopping early at ‖g‖∞ ≤ GTOL); evaluations summed."""
    w = p.x0().requires_grad_()
    opt = make([w], kw)
    if scale_aware:
        opt.tolerances = ScaleAwareTolerances()
    opt.nonfinite = "raise"

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = p.f(w)
        loss.backward()
        return loss

    evals = hvps = 0
    error = None
    for _ in range(calls):
        try:
            opt.step(closure)
        except (antigrad.NonFiniteLossError, FloatingPointError, RuntimeError) as exc:
            error = type(exc).__name__
            break
        evals += opt.result.func_evals
        hvps += opt.result.hvp_evals
        if opt.result.grad_norm <= GTOL:
            break
    ok = error is None and all(math.isfinite(v) for v in w.detach().tolist()) and \
        grad_inf(p, w) <= GTOL
    return dict(ok=ok, evals=evals, hvps=hvps, f=float(p.f(w.detach())))


# -- scipy -----------------------------------------------------------------------------------
def numpy_functions(p: Problem) -> dict[str, Callable]:
    def fun(v: np.ndarray) -> tuple[float, np.ndarray]:
        x = torch.tensor(v, dtype=torch.float64, requires_grad=True)
        f = p.f(x)
        (g,) = torch.autograd.grad(f, x)
        return float(f), g.numpy()

    def hessp(v: np.ndarray, d: np.ndarray) -> np.ndarray:
        x = torch.tensor(v, dtype=torch.float64)
        return torch.autograd.functional.hvp(p.f, x, torch.tensor(d))[1].numpy()

    def hess(v: np.ndarray) -> np.ndarray:
        return torch.autograd.functional.hessian(p.f, torch.tensor(v, dtype=torch.float64)
                                                 ).numpy()

    return dict(fun=fun, hessp=hessp, hess=hess)


SCIPY = {
    "scipy BFGS": dict(method="BFGS", options=dict(gtol=GTOL, maxiter=BUDGET)),
    "scipy L-BFGS-B": dict(method="L-BFGS-B", options=dict(gtol=GTOL, ftol=0, maxiter=BUDGET,
                                                           maxfun=BUDGET)),
    "scipy Newton-CG": dict(method="Newton-CG", hess="hessp",
                            options=dict(xtol=1e-12, maxiter=BUDGET)),
    "scipy trust-ncg": dict(method="trust-ncg", hess="hessp",
                            options=dict(gtol=GTOL, maxiter=BUDGET)),
    "scipy trust-exact": dict(method="trust-exact", hess="hess",
                              options=dict(gtol=GTOL, maxiter=BUDGET)),
}


def run_scipy(spec: dict, p: Problem) -> dict:
    fns = numpy_functions(p)
    kw = dict(method=spec["method"], jac=True, options=spec["options"])
    if "hess" in spec:
        kw[spec["hess"]] = fns[spec["hess"]]
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            r = scipy.optimize.minimize(fns["fun"], np.array(p.start), **kw)
        except (ValueError, np.linalg.LinAlgError, OverflowError):
            return dict(ok=False, evals=0, hvps=0, f=math.nan)
    x = torch.tensor(r.x, dtype=torch.float64)
    finite = bool(torch.isfinite(x).all())
    ok = finite and grad_inf(p, x) <= GTOL
    n = p.n
    hvps = getattr(r, "nhev", 0) * (n if spec.get("hess") == "hess" else 1)
    return dict(ok=ok, evals=int(r.nfev), hvps=int(hvps), f=float(p.f(x)) if finite
                else math.nan)


# -- the profile -----------------------------------------------------------------------------
def profile(costs: dict[str, list[float]], taus: tuple[float, ...]) -> dict[str, list[float]]:
    """Dolan–Moré: ρ_s(τ) = fraction of problems with cost_s ≤ τ · min over solvers."""
    best = [min(c[i] for c in costs.values()) for i in range(len(next(iter(costs.values()))))]
    out = {}
    for name, c in costs.items():
        ratios = [c[i] / best[i] if math.isfinite(c[i]) else math.inf
                  for i in range(len(best)) if math.isfinite(best[i])]
        out[name] = [sum(r <= tau for r in ratios) / len(best) for tau in taus]
    return out


def figure(costs: dict[str, list[float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    taus = np.logspace(0, np.log10(256), 200)
    rho = profile(costs, tuple(taus))
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for name, values in rho.items():
        ax.step(taus, values, where="post", label=name,
                linestyle="-" if name.startswith("antigrad") else "--")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("τ (evaluations within τ × the best solver's)")
    ax.set_ylabel("ρ(τ): fraction of the 36 problems solved")
    ax.set_title("Moré–Garbow–Hillstrom, ‖∇f‖∞ ≤ 1e-6: performance profile")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"profile saved to {path}")


def solve_table(probs: list[Problem]) -> dict[str, list[float]]:
    results: dict[str, list[dict]] = {}
    for name, make in ANTIGRAD.items():
        results[name] = [run_antigrad(make, p, SOLVE, calls=1) for p in probs]
    for name, spec in SCIPY.items():
        results[name] = [run_scipy(spec, p) for p in probs]
    names = list(results)
    short = [n.replace("antigrad ", "ag ").replace("scipy ", "sp ") for n in names]
    print("## Evaluations to ‖∇f‖∞ ≤ 1e-6 (— : not reached)\n")
    print("| # | problem | n | " + " | ".join(short) + " |")
    print("|--:|---|--:|" + "--:|" * len(names))
    for i, p in enumerate(probs):
        cells = [str(results[n][i]["evals"]) if results[n][i]["ok"] else "—" for n in names]
        print(f"| {p.number} | {p.name} | {p.n} | " + " | ".join(cells) + " |")
    print("\n| solver | solved | evaluations (sum, solved by all) | HVPs (sum, solved by all) |")
    print("|---|--:|--:|--:|")
    common = [i for i in range(len(probs)) if all(results[n][i]["ok"] for n in names)]
    for n in names:
        solved = sum(r["ok"] for r in results[n])
        ev = sum(results[n][i]["evals"] for i in common)
        hv = sum(results[n][i]["hvps"] for i in common)
        print(f"| {n} | {solved}/{len(probs)} | {ev} | {hv} |")
    print(f"\n({len(common)} problems solved by every solver)")
    costs = {n: [r["evals"] if r["ok"] else math.inf for r in results[n]] for n in names}
    rho = profile(costs, TAUS)
    print("\n## Performance profile ρ(τ) on evaluations\n")
    print("| solver | " + " | ".join(f"τ={t:g}" for t in TAUS) + " |")
    print("|---|" + "--:|" * len(TAUS))
    for n, values in rho.items():
        print(f"| {n} | " + " | ".join(f"{v:.2f}" for v in values) + " |")
    return costs


LOOP = {
    "antigrad Newton": ANTIGRAD["antigrad Newton"],
    "antigrad Newton trust region": ANTIGRAD["antigrad Newton trust region"],
    "antigrad BFGS": ANTIGRAD["antigrad BFGS"],
    "antigrad LBFGS (torch's tolerances)": ANTIGRAD["antigrad LBFGS"],
    "antigrad LBFGS + ScaleAwareTolerances": ANTIGRAD["antigrad LBFGS"],
}


def loop_table(probs: list[Problem]) -> None:
    print("\n## A loop of step() calls with default tolerances (≤ 100 calls)\n")
    print("| solver | reached ‖∇f‖∞ ≤ 1e-6 |")
    print("|---|--:|")
    for name, make in LOOP.items():
        ok = sum(run_antigrad(make, p, {}, calls=100, scale_aware="ScaleAware" in name)["ok"]
                 for p in probs)
        print(f"| {name} | {ok}/{len(probs)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--figure", action="store_true",
                        help="save the profile to docs/second_order_mgh_profile.png")
    parser.add_argument("--only", type=int, nargs="*", help="problem numbers to run")
    args = parser.parse_args()
    torch.set_num_threads(1)
    probs = [p for p in problems() if not args.only or p.number in args.only]
    costs = solve_table(probs)
    loop_table(probs)
    if args.figure:
        figure(costs, Path(__file__).resolve().parents[1] / "docs" /
               "second_order_mgh_profile.png")


if __name__ == "__main__":
    main()
