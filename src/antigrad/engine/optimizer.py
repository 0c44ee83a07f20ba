"""The one optimizer class: runs a chain of transforms over each param group."""

from __future__ import annotations

import operator
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor

from .. import validation
from ..errors import NonFiniteGradientError  # noqa: F401 - re-exported: its old home
from ..formula.transform import Chain
from . import backends, capturable, differentiable, sparse, tritonkernel
from .buckets import Bucket
from .nonfinite import MODES as NONFINITE_MODES
from .nonfinite import NonFinitePolicy, describe, describe_deferred
from .planner import Planner, Work, create_state, position
from .step_wrapper import wrap_step

# Param-group options the engine itself reads, whatever the chain.
ENGINE_OPTIONS: dict[str, validation.Constraint] = {
    "differentiable": validation.Flag(), "foreach": validation.Flag(optional=True),
    "fused": validation.Flag(optional=True)}


class ChainOptimizer(torch.optim.Optimizer):
    r"""A ``torch.optim.Optimizer`` that runs a :class:`~antigrad.transforms.Chain`.

    .. math::
        u = T_k(\cdots T_1(g)),\quad w \leftarrow w + u

    per parameter, with :math:`T_1, \dots, T_k` the chain's transforms; the last one
    makes :math:`u` the step (``descend``: :math:`u \leftarrow -\varepsilon u`).

    A thin adapter: torch's param groups and state in, the planner
    (:class:`~antigrad.engine.planner.Planner`: buckets, plans, when to plan again) and
    the non-finite policy (:mod:`antigrad.engine.nonfinite`) behind.

    Every hyperparameter lives in the param group, so ``torch.optim.lr_scheduler``
    (``ReduceLROnPlateau`` included) can change any of them between steps. State is
    kept per parameter in torch's format (``step`` as a 0-d tensor, buffers named as
    torch names them), so ``state_dict()`` round-trips and interoperates with the
    matching ``torch.optim`` optimizer.

    Args:
        params: parameters or param-group dicts, as for any torch optimizer.
        chain: the update; or ``None`` when a subclass defines :meth:`build`.
        nonfinite: what a NaN/inf gradient does: ``"raise"`` raises
            :class:`NonFiniteGradientError` naming the parameter and leaves parameters and
            state untouched; ``"skip"`` skips the whole step (counted in
            ``skipped_steps``); ``"ignore"`` applies it, as torch.optim does. ``None``
            (default): the class's ``default_nonfinite``, ``"raise"`` here and in the
            textbook face, ``"ignore"`` in the torch-compatible classes (as torch).
            ``nonfinite_chosen`` records whether it was given (``antigrad.fit`` makes an
            optimizer left at its default raise).
        **defaults: hyperparameter defaults (overriding the chain's own). Each must be a
            hyperparameter the chain reads (declared by one of its transforms, with a
            default or a constraint), one the class declares in :attr:`constraints`, or one
            of the engine's options ``differentiable``, ``foreach``, ``fused``; another
            name raises :class:`~antigrad.UnknownNameError` with the nearest valid one
            (``unknown hyperparameter 'lrr' (did you mean 'lr'?)``). Values are checked
            against the declared constraints (TypeError for a wrong type, ValueError for a
            wrong value) here, in :meth:`add_param_group` and in :meth:`load_state_dict`.

    Example::

        >>> import torch, antigrad
        >>> from antigrad import transforms as T
        >>> w = torch.nn.Parameter(torch.ones(3))
        >>> opt = antigrad.ChainOptimizer([w], T.chain(T.trace(), T.descend()),
        ...                               lr=0.1, momentum=0.9)
        >>> (w ** 2).sum().backward(); _ = opt.step()
        >>> w.detach()
        tensor([0.8000, 0.8000, 0.8000])

    Reference: torch.optim.Optimizer's documentation; optax's chains of gradient
    transformations (Babuschkin et al., "The DeepMind JAX Ecosystem", 2020).
    """

    default_nonfinite = "raise"
    # The face's own constraints, over the chain's (a stricter range, its options).
    constraints: ClassVar[Mapping[str, validation.Constraint]] = {}

    def __init__(self, params: Iterable[Any], chain: Chain | None = None, *,
                 nonfinite: str | None = None, **defaults: Any) -> None:
        self.nonfinite_chosen = nonfinite is not None
        nonfinite = self.default_nonfinite if nonfinite is None else nonfinite
        validation.one_of("nonfinite", nonfinite, NONFINITE_MODES)
        if chain is not None and not isinstance(chain, Chain):
            raise TypeError(f"Invalid chain value: {chain!r} (build one with "
                            f"antigrad.chain(...))")
        if chain is not None:
            validation.refuse_unknown(defaults, {*chain.hyperparameters, *ENGINE_OPTIONS,
                                                 *self.constraints})
        self._chain = chain
        self._nonfinite = NonFinitePolicy(nonfinite)
        self.planner = Planner(type(self).__name__)
        base = dict(chain.defaults) if chain is not None else {}
        # Before the parameters, as torch.optim checks (``Adam(None, lr=-1)``: the lr).
        self.check_group({**base, **defaults})
        # torch.optim.Optimizer's own constructor, even when a subclass also derives from a
        # torch.optim class (antigrad.Adam is a torch.optim.Adam): that class's constructor
        # would build torch's state, not ours.
        torch.optim.Optimizer.__init__(self, params, {**base, **defaults})

    @staticmethod
    def profile_hook_step(func: Callable[..., Any]) -> Callable[..., Any]:
        """torch's wrapper of ``step`` (profiler label, step hooks), entered only when
        something observes the step (:mod:`~antigrad.engine.step_wrapper`)."""
        return wrap_step(func)

    def build(self, group: dict[str, Any]) -> Chain:
        """The chain that updates ``group`` (subclasses pick it from the group's options)."""
        if self._chain is None:
            raise NotImplementedError("pass a chain or override build()")
        return self._chain

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Apply one update; ``closure`` re-evaluates the model and returns the loss."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self._apply()
        return loss

    def _apply(self, build: Callable[[dict[str, Any]], Chain] | None = None) -> None:
        """Run the chains (see :meth:`_apply_chains`) without autograd, and outside any
        graph torch.compile is tracing; with ``differentiable=True``, on autograd's tape."""
        if self.defaults.get("differentiable"):
            differentiable.step(self, build or self.build)
        elif torch.compiler.is_compiling():
            _apply_outside_graph(self, build)
        else:
            _apply_without_grad(self, build)

    def _apply_chains(self, build: Callable[[dict[str, Any]], Chain] | None = None) -> None:
        capturable.check_capture(self.param_groups, self.nonfinite)
        self.synchronize()
        build = build or self.build
        work: list[Work] = []
        sparse_work: list[tuple] = []
        for gi, group in enumerate(self.param_groups):
            params = group["params"]
            grads = list(map(_GRAD, params))  # each read once
            if _NONE in map(type, grads):
                params = [p for p, g in zip(params, grads, strict=True) if g is not None]
                grads = [g for g in grads if g is not None]
            if params:
                if any(map(_IS_SPARSE, grads)):
                    params = self._split_sparse(gi, group, params, build, sparse_work)
                    grads = [p.grad for p in params]
                if params:
                    work.append(Work(gi, group, params, grads, build(group)))
        # Sparse gradients are checked first and applied last: a refused step writes nothing.
        if sparse_work and self._nonfinite.checks and not sparse.all_finite(
                [p.grad for w in sparse_work for p in w[1]]):
            self._refuse()
            return
        if work and not self._apply_dense(work):
            self._refuse()
            return
        if sparse_work:
            sparse.step(self, sparse_work)

    def _apply_dense(self, work: list[Work]) -> bool:
        """Update the parameters in ``work`` with the bucketed backends; False (nothing
        written) if a gradient was not finite and ``nonfinite`` asks to check."""
        check = self._nonfinite.checks
        ready = self.planner.ready(work, self.state)
        if check and ready is not None and self._step_on_device(*ready, work):
            return True
        # The common case, one bucket in all: the backend checks in the same call.
        folded = check and ready is not None and len(ready[0]) == 1
        if check and not folded and not backends.all_finite([g for w in work for g in w.grads]):
            return False
        buckets, exact = ready or (self.planner.build(work, self.state, self.param_groups),
                                   False)
        # New buckets: checked above; on the device once more, so that the first step
        # compiles every kernel a steady step runs.
        if check and ready is None and self._step_on_device(buckets, exact, work):
            return True
        for bucket, grads in zip(buckets, self._grads_of(buckets, exact, work), strict=True):
            # a parameter without gradient sits the step out (None)
            if not bucket.step(self.planner.plan(bucket.chain), bucket.chain,
                               self.param_groups, grads, check=folded):
                return False
        return True

    def sparse_mode(self, group: dict[str, Any]) -> str | None:
        """How a sparse gradient updates ``group``'s parameters: ``"rows"`` (only the rows
        it holds change), ``"dense"`` (as its dense form), or None: refused (the default,
        as torch.optim for every optimizer but SGD, Adagrad and SparseAdam). See
        :mod:`antigrad.engine.sparse`."""
        return None

    def _split_sparse(self, gi: int, group: dict[str, Any], params: list[Tensor],
                      build: Callable[[dict[str, Any]], Chain], sparse_work: list[tuple]
                      ) -> list[Tensor]:
        """Move the parameters with sparse gradients to ``sparse_work``; the rest stay."""
        mode = self.sparse_mode(group)
        if mode is None:
            self._refuse_sparse(gi, group, params)
        sparse_work.append((group, [p for p in params if p.grad.is_sparse], build(group), mode))
        return [p for p in params if not p.grad.is_sparse]

    def _refuse_sparse(self, gi: int, group: dict[str, Any], params: list[Tensor]) -> None:
        p = next((p for p in params if p.grad.is_sparse), None)
        if p is not None:
            raise RuntimeError(
                f"{type(self).__name__} does not support sparse gradients (parameter "
                f"{position(group, p)} of param group {gi}, shape "
                f"{tuple(p.shape)}); use torch.optim.SparseAdam or a dense embedding")

    def _refuse(self) -> None:
        """This step is refused for a non-finite gradient: see :mod:`.nonfinite`."""
        self._nonfinite.refuse(lambda: describe(self.param_groups))

    def _grads_of(self, buckets: list[Bucket], exact: bool, work: list[Work]
                  ) -> list[list[Tensor | None]]:
        """Each bucket's gradients this step (``None``: the parameter sits it out)."""
        if exact and len(buckets) == 1:  # the bucket holds the work's parameters, in order
            return [work[0].grads if len(work) == 1 else [g for w in work for g in w.grads]]
        return [[p.grad for p in b.params] for b in buckets]

    def _step_on_device(self, buckets: list[Bucket], exact: bool, work: list[Work]) -> bool:
        """The checked step of buckets all on the Triton backend, on one device, without
        waiting for the verdict: the gradients are checked into a device flag that the
        updates read, and the verdict is settled when next needed (:meth:`synchronize`).
        False (nothing done) if the buckets cannot run so."""
        if not all(b.triton for b in buckets) or len({b.device for b in buckets}) != 1:
            return False
        steps = [b.stage(self.planner.plan(b.chain), b.chain, self.param_groups, grads)
                 for b, grads in zip(buckets, self._grads_of(buckets, exact, work), strict=True)]
        if not all(isinstance(s.bound, tritonkernel.Bound) for s in steps):
            return False
        verdict = tritonkernel.step_all(steps, buckets[0].device)
        for bucket, step in zip(buckets, steps, strict=True):
            bucket.commit(step, undo=True)
        self._nonfinite.defer(verdict, lambda index, has_nan: self._undo(buckets, index, has_nan))
        return True

    def synchronize(self) -> None:
        """Settle the last step's non-finite verdict now, waiting for the device if it is
        still running it: with ``nonfinite="raise"`` raise :class:`NonFiniteGradientError`
        if it refused the step, with ``"skip"`` count it in ``skipped_steps``.

        Only steps on the Triton (GPU) backend leave a verdict pending: they check their
        gradients on the device, and a refused step writes nothing there. The next
        ``step()``, ``state_dict()`` and reading ``skipped_steps`` settle it too, first.
        """
        self._nonfinite.settle()

    def _undo(self, buckets: list[Bucket], index: int, has_nan: bool) -> str:
        """The device refused the last step of ``buckets`` (gradient ``index`` was not
        finite): roll their scalar state back; the message that says so."""
        for bucket in buckets:
            bucket.revert()
        p = [p for b in buckets for p in b.params][index]
        gi = next(i for i, g in enumerate(self.param_groups) if any(q is p for q in g["params"]))
        return describe_deferred(position(self.param_groups[gi], p), gi, tuple(p.shape),
                                 has_nan)

    @property
    def skipped_steps(self) -> int:
        """Steps refused for a non-finite gradient (with ``nonfinite="skip"``)."""
        self.synchronize()
        return self._nonfinite.skipped

    @skipped_steps.setter
    def skipped_steps(self, value: int) -> None:
        self._nonfinite.skipped = value

    @property
    def nonfinite(self) -> str:
        """What a non-finite gradient does: ``"raise"``, ``"skip"`` or ``"ignore"``."""
        return self._nonfinite.mode

    @nonfinite.setter
    def nonfinite(self, mode: str) -> None:
        self._nonfinite.mode = mode

    def state_dict(self) -> dict[str, Any]:
        self.synchronize()
        return super().state_dict()

    # State buffers that may be missing from a parameter's state: created when needed, as
    # torch's SGD does with its momentum buffer. Any other missing buffer is an error.
    optional_state: tuple[str, ...] = ()

    @staticmethod
    def check_hyperparameters(group: dict[str, Any]) -> None:
        """Rules that constraints of single values cannot say (one option requires another);
        subclasses add theirs. Run after the declared constraints (:meth:`check_group`)."""

    def check_group(self, group: Mapping[str, Any]) -> None:
        """Refuse ``group`` (a param group with the defaults filled in) if one of its values
        breaks a declared constraint -- the engine's options, the chain's transforms', this
        class's own :attr:`constraints` -- or :meth:`check_hyperparameters`. Keys that no
        one declares (a scheduler's ``initial_lr``, a group's name) are left alone, as
        torch.optim does."""
        declared = {**ENGINE_OPTIONS, **self.build(dict(group)).constraints,
                    **self.constraints}
        validation.check_all(declared, group)
        self.check_hyperparameters(dict(group))

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load as torch does, after checking the hyperparameters as the constructor does
        (ValueError: a NaN ``lr``, ...) and that no parameter's state lacks a buffer its
        update reads (KeyError, as torch raises); a refused state dict changes nothing."""
        self._check_loaded(state_dict)
        self.planner.invalidate()
        super().load_state_dict(state_dict)

    def _check_loaded(self, state_dict: dict[str, Any]) -> None:
        groups, states = state_dict.get("param_groups"), state_dict.get("state")
        if not isinstance(groups, list) or not isinstance(states, dict):
            return  # torch's own load reports a malformed state dict
        for gi, saved in enumerate(groups):
            if not isinstance(saved, dict):
                return
            group = {**self.defaults, **saved}
            self.check_group(group)
            chain = self.build(group)
            needs = [n for n in (*chain.state, *chain.scalar_state)
                     if n not in self.optional_state]
            for i in saved.get("params", ()):
                state = states.get(i)
                missing = [n for n in needs if state and n not in state]
                if missing:
                    raise KeyError(f"{type(self).__name__}.load_state_dict: the state of "
                                   f"parameter {i} (param group {gi}) has no {missing[0]!r}; "
                                   f"it holds {sorted(state)} (was it saved by another "
                                   f"optimizer or with other options?)")

    def __getstate__(self) -> dict[str, Any]:
        # torch keeps only defaults, state and param_groups; prepared kernels are rebuilt.
        return {**super().__getstate__(), "_chain": self._chain, "nonfinite": self.nonfinite,
                "nonfinite_chosen": getattr(self, "nonfinite_chosen", True),
                "skipped_steps": self.skipped_steps}

    def __setstate__(self, state: dict[str, Any]) -> None:
        policy = NonFinitePolicy(state.pop("nonfinite", self.default_nonfinite),
                                 state.pop("skipped_steps", 0))
        super().__setstate__(state)
        self._nonfinite, self.planner = policy, Planner(type(self).__name__)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        if isinstance(param_group, dict):  # a group's own lr too, before anything is added
            self.check_group({**self.defaults, **param_group})
        self.planner.invalidate()
        _unwrapped_while_not_compiling("add_param_group")(self, param_group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        _unwrapped_while_not_compiling("zero_grad")(self, set_to_none)

    def _init_state(self, p: Tensor, group: dict[str, Any], chain: Chain) -> bool:
        """Create the state ``chain`` needs for ``p`` (see :func:`.planner.create_state`)."""
        return create_state(self.state, p, group, chain)

    def init_state(self) -> None:
        """Create every parameter's state now (torch.optim.Adagrad does so at construction)."""
        for group in self.param_groups:
            chain = self.build(group)
            for p in group["params"]:
                self._init_state(p, group, chain)


_GRAD = operator.attrgetter("grad")
_IS_SPARSE = operator.attrgetter("is_sparse")
_NONE = type(None)


def _apply_without_grad(opt: ChainOptimizer,
                        build: Callable[[dict[str, Any]], Chain] | None) -> None:
    # As torch.no_grad(), at a fifth of its cost (it matters for small models).
    grad_was_enabled = torch.is_grad_enabled()
    torch._C._set_grad_enabled(False)
    try:
        opt._apply_chains(build)
    finally:
        torch._C._set_grad_enabled(grad_was_enabled)


def _unwrapped_while_not_compiling(name: str) -> Callable[..., Any]:
    """torch.optim.Optimizer's method ``name``, without the compiler's wrapper
    (``torch._disable_dynamo``) while torch._dynamo is not loaded. The wrapper only acts
    inside torch.compile, which loads torch._dynamo first, but calling it loads torch._dynamo:
    ~2 s of CPU in every process that builds an optimizer and never compiles."""
    method = getattr(torch.optim.Optimizer, name)
    if "torch._dynamo" in sys.modules:
        return method
    return getattr(method, "__wrapped__", method)


# Under torch.compile the step runs eagerly: its bookkeeping is Python and its update an
# opaque native call, so there is nothing for the compiler to trace. torch.compiler.disable
# would import torch._dynamo now, ~2 s of CPU in every process that never
# compiles; torch's own lazy form imports it on the first compiled step (torch.optim wraps
# its steps the same way), and the compiler skips the wrapper's module, so the step is
# never traced.
_apply_outside_graph = torch._disable_dynamo(_apply_without_grad)
