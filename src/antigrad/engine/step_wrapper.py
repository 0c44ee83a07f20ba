"""``step()`` as torch wraps it, without the wrapper's cost when nothing observes the step.

``torch.optim.Optimizer`` wraps the ``step`` of every optimizer class
(``Optimizer.profile_hook_step``): a ``record_function`` label for the profiler, the global
and per-optimizer step hooks, and ``_optimizer_step_code`` (where the profiler's Python
tracer looks). The label alone costs about as much as the update of a small model: a
3-group Adam step over the 18 tensors of 3 MLP replicas took ~270 µs of CPU inside and
~120-150 µs more in the wrapper (benchmarks/RESULTS.md, "torch's step wrapper"), and the
lab's comparisons call nine such optimizers every step.

:func:`wrap_step` gives antigrad's optimizers a ``step`` that goes through torch's own
wrapper whenever it has anything to do: a profiler is running (any kind: the label is
there), a step hook is registered (on the optimizer or globally), or ``torch.compile`` is
tracing the step. Otherwise the step runs directly, followed by ``_optimizer_step_code``
as in torch's wrapper. Where a torch version keeps its global hooks elsewhere, every step
goes through torch's wrapper.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch
from torch.optim import optimizer as torch_optimizer

__all__ = ["wrap_step"]

_GLOBAL_PRE = getattr(torch_optimizer, "_global_optimizer_pre_hooks", None)
_GLOBAL_POST = getattr(torch_optimizer, "_global_optimizer_post_hooks", None)
_profiler_enabled = torch._C._autograd._profiler_enabled


def wrap_step(step: Callable[..., Any]) -> Callable[..., Any]:
    """``step`` wrapped as torch wraps it (``Optimizer.profile_hook_step``), entering
    torch's wrapper only when a profiler, a step hook or the compiler observes the step."""
    observed = torch.optim.Optimizer.profile_hook_step(step)
    if _GLOBAL_PRE is None or _GLOBAL_POST is None:
        return observed

    @functools.wraps(step)
    def wrapper(self: torch.optim.Optimizer, *args: Any, **kwargs: Any) -> Any:
        if (torch.compiler.is_compiling() or _profiler_enabled() or _GLOBAL_PRE
                or _GLOBAL_POST or self._optimizer_step_pre_hooks
                or self._optimizer_step_post_hooks):
            return observed(self, *args, **kwargs)
        out = step(self, *args, **kwargs)
        self._optimizer_step_code()
        return out

    return wrapper
