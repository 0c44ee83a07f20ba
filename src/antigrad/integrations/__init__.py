"""antigrad's stopping rules, schedule verdicts, probes and restarts inside other trainers.

- :mod:`antigrad.integrations.lightning`: PyTorch Lightning callbacks
  (``pip install antigrad[lightning]``);
- :mod:`antigrad.integrations.hf`: Hugging Face ``TrainerCallback``\\ s
  (``pip install antigrad[hf]``).

Import the submodule you need; ``import antigrad`` (and this package) never imports
Lightning or transformers. See ``docs/integrations.md``.
"""

import importlib
from typing import Any

__all__ = ["lightning", "hf"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
