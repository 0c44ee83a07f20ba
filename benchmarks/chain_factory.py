"""A chain built every step vs one built once: what it costs to write a factory without cache.

A user's optimizer may build its chain in ``build(group)`` from the group's options, as
antigrad's own classes do, without keeping it: each step then makes new transform objects.
Transforms are values, so the new chain equals the one of the step before and the engine
finds its plan, buckets and bound kernel again. Three contestants on the same parameters
and gradients, steps interleaved, median and fastest time per step:

- ``prebuilt``: ``ChainOptimizer(params, chain)``, the chain built once;
- ``factory``: ``build(group)`` returns ``T.chain(...)`` of new transforms every step
  (the library's, and a user's transform written as a frozen dataclass);
- ``factory of functions``: the same, but the user's transform is written from a new
  function each step (``Transform(name, update=lambda ...)``): never equal to the one
  before, so every step is planned again (shown for comparison; see docs/adding_an_optimizer.md).

    .venv/bin/python benchmarks/chain_factory.py
    .venv/bin/python benchmarks/chain_factory.py --repeats 2000 --shapes mlp
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch
from contest import make_params, step_times

import antigrad
from antigrad import formula
from antigrad import transforms as T

# The user's transform written as a frozen dataclass, as the tests of chains-as-values use it
sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))
from formula.user_transform import ScaleBy  # noqa: E402

SHAPES = {
    "mlp": [(100, 40), (100,), (100, 100), (100,), (10, 100), (10,)],  # overhead-bound
    "1m": [(1000, 1000)],  # memory-bound
}
HYPER = {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 1e-2, "factor": 0.5}


def chain_of_values() -> formula.Chain:
    return T.chain(ScaleBy(), T.decoupled_weight_decay(), T.scale_by_adam(), T.descend())


def chain_of_functions() -> formula.Chain:
    scale = formula.Transform(
        "scale_by", update=lambda u, x, c: u * c["factor"],
        scalars=lambda g, s, fresh: {"factor": formula.hyper(g, "factor")})
    return T.chain(scale, T.decoupled_weight_decay(), T.scale_by_adam(), T.descend())


class Factory(antigrad.ChainOptimizer):
    """Builds its chain anew in every step, keeping nothing."""

    def __init__(self, params, make, **hyper) -> None:
        self.make = make
        super().__init__(params, None, **hyper)

    def build(self, group):
        return self.make()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=1000, help="timed steps per contestant")
    ap.add_argument("--shapes", choices=sorted(SHAPES), nargs="*", default=sorted(SHAPES))
    a = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for case in a.shapes:
        shapes = SHAPES[case]
        repeats = a.repeats if case == "mlp" else max(a.repeats // 10, 20)
        contestants = {
            "prebuilt": antigrad.ChainOptimizer(make_params(shapes), chain_of_values(), **HYPER),
            "factory": Factory(make_params(shapes), chain_of_values, **HYPER),
            "factory of functions": Factory(make_params(shapes), chain_of_functions, **HYPER),
        }
        times = step_times(contestants, repeats, warmup=20)
        # The median, and the fastest step: on a busy machine the minimum is the steadier.
        med = {k: statistics.median(v) for k, v in times.items()}
        low = {k: min(v) for k, v in times.items()}
        n = sum(p.numel() for p in contestants["prebuilt"].param_groups[0]["params"])
        print(f"\n### {case}: {n} parameters in {len(shapes)} tensors, {repeats} steps\n")
        print("| contestant | median us/step | ratio | fastest us/step | ratio |\n"
              "|---|---|---|---|---|")
        for name, t in med.items():
            print(f"| {name} | {t * 1e6:.1f} | {t / med['prebuilt']:.2f} | "
                  f"{low[name] * 1e6:.1f} | {low[name] / low['prebuilt']:.2f} |")
        same = all(torch.equal(p, q) for p, q in zip(
            contestants["prebuilt"].param_groups[0]["params"],
            contestants["factory"].param_groups[0]["params"], strict=True))
        print(f"\nfactory's parameters bit-identical to prebuilt's: {same}")


if __name__ == "__main__":
    main()
