"""antigrad: the gradient methods that train neural networks, on PyTorch.

Two faces of every first-order method: ``antigrad.SGD, Adagrad, RMSprop, Adam, AdamW,
NAdam`` are drop-in replacements for their ``torch.optim`` twins; ``antigrad.textbook``
holds the lecture's exact formulas. Both are chains of small transforms
(``antigrad.transforms``) run by one engine (``antigrad.ChainOptimizer``).
"""

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

# Public names and the module that defines each; imported on first use so that
# `import antigrad` stays fast and optional parts (the lab) load only when asked for.
_EXPORTS = {
    "chain": "antigrad.transforms",
    "transforms": "antigrad.transforms",
    "ChainOptimizer": "antigrad.engine",
    "explain": "antigrad.engine.explanation",
    "formula": "antigrad.formula",
    "errors": "antigrad.errors",
    "NonFiniteGradientError": "antigrad.errors",
    "NonFiniteLossError": "antigrad.errors",
    "HessianMemoryError": "antigrad.errors",
    "CheckpointError": "antigrad.errors",
    "StoreError": "antigrad.errors",
    "UnknownNameError": "antigrad.errors",
    "ConfigError": "antigrad.errors",
    "ReportDirError": "antigrad.errors",
    "EntryPointError": "antigrad.errors",
    "StopTraining": "antigrad.errors",
    "SGD": "antigrad.optim",
    "Adagrad": "antigrad.optim",
    "RMSprop": "antigrad.optim",
    "Adam": "antigrad.optim",
    "AdamW": "antigrad.optim",
    "NAdam": "antigrad.optim",
    "LAMB": "antigrad.large_batch",
    "LARS": "antigrad.large_batch",
    "textbook": "antigrad.textbook",
    "schedules": "antigrad.schedules",
    "stop": "antigrad.stop",
    "train": "antigrad.train",
    "fit": "antigrad.train",
    "find_lr": "antigrad.train",
    "find_batch_size": "antigrad.train",
    "second_order": "antigrad.second_order",
    "Newton": "antigrad.second_order",
    "DiagonalNewton": "antigrad.second_order",
    "BFGS": "antigrad.second_order",
    "LBFGS": "antigrad.second_order",
    "SecondOrderOptimizer": "antigrad.second_order",
    "problems": "antigrad.problems",
    "lab": "antigrad.lab",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'antigrad' has no attribute {name!r}")
    mod = import_module(module)
    value = mod if module.endswith("." + name) else getattr(mod, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
