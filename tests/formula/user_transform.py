"""A transform written by a user the way the library writes its own: a frozen dataclass
whose fields are its arguments, here the key of its hyperparameter. Shared by the tests
of chains as values and by benchmarks/chain_factory.py, which times a chain of it built
anew every step."""

import dataclasses

from antigrad import formula


@dataclasses.dataclass(frozen=True)
class ScaleBy(formula.Transform):
    """``u <- factor * u``."""

    factor: formula.Key = "factor"
    name = "scale_by"

    def update(self, u, x, c):
        return u * c["factor"]

    def scalars(self, group, s, fresh):
        return {"factor": formula.hyper(group, self.factor)}
