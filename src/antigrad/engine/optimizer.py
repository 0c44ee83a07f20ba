"""The one optimizer class: runs a chain of transforms over each param group."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import torch
from torch import Tensor

from .. import validation
from ..errors import NonFiniteGradientError  # re-exported: its old home
from ..formula.transform import Chain
from . import backends, capturable, differentiable, reduction, sharded, sparse, tritonkernel
from .buckets import Bucket

NONFINITE_MODES = ("raise", "skip", "ignore")


class _Prepared(NamedTuple):
    """The buckets of the last step and what they were built for."""

    keys: dict[int, tuple]  # param-group index -> key of its chain
    ids: dict[int, list[int]]  # param-group index -> ids of its parameters in the buckets
    idsets: dict[int, frozenset[int]]  # the same, as sets
    buckets: list[Bucket]


class ChainOptimizer(torch.optim.Optimizer):
    r"""A ``torch.optim.Optimizer`` that runs a :class:`~antigrad.transforms.Chain`.

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
        **defaults: hyperparameter defaults (overriding the chain's own).

    Example::

        >>> import torch, antigrad
        >>> from antigrad import transforms as T
        >>> w = torch.nn.Parameter(torch.ones(3))
        >>> opt = antigrad.ChainOptimizer([w], T.chain(T.trace(), T.descend()),
        ...                               lr=0.1, momentum=0.9)
        >>> (w ** 2).sum().backward(); _ = opt.step()
        >>> w.detach()
        tensor([0.8000, 0.8000, 0.8000])
    """

    default_nonfinite = "raise"

    def __init__(self, params: Iterable[Any], chain: Chain | None = None, *,
                 nonfinite: str | None = None, **defaults: Any) -> None:
        self.nonfinite_chosen = nonfinite is not None
        nonfinite = self.default_nonfinite if nonfinite is None else nonfinite
        if nonfinite not in NONFINITE_MODES:
            raise ValueError(f"Invalid nonfinite: {nonfinite!r} (must be one of "
                             f"{', '.join(map(repr, NONFINITE_MODES))})")
        if chain is not None and not isinstance(chain, Chain):
            raise TypeError(f"Invalid chain: {chain!r} (build one with antigrad.chain(...))")
        self._chain = chain
        self.nonfinite = nonfinite
        self._pending: tuple[tritonkernel.Verdict, list[Bucket]] | None = None
        self.skipped_steps = 0
        self._plans: dict[tuple, backends.Plan] = {}
        # None until the first step and after anything that invalidates the buckets.
        self._prepared: _Prepared | None = None
        base = dict(chain.defaults) if chain is not None else {}
        # torch.optim.Optimizer's own constructor, even when a subclass also derives from a
        # torch.optim class (antigrad.Adam is a torch.optim.Adam): that class's constructor
        # would build torch's state, not ours.
        torch.optim.Optimizer.__init__(self, params, {**base, **defaults})

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
        work: list[tuple] = []
        sparse_work: list[tuple] = []
        for gi, group in enumerate(self.param_groups):
            params = [p for p in group["params"] if p.grad is not None]
            if params:
                grads = [p.grad for p in params]
                if any(g.is_sparse for g in grads):
                    params = self._split_sparse(gi, group, params, build, sparse_work)
                    grads = [p.grad for p in params]
                if params:
                    work.append((gi, group, params, grads, build(group)))
        # Sparse gradients are checked first and applied last: a refused step writes nothing.
        if sparse_work and self.nonfinite != "ignore" and not sparse.all_finite(
                [p.grad for w in sparse_work for p in w[1]]):
            self._refuse()
            return
        if work and not self._apply_dense(work):
            self._refuse()
            return
        if sparse_work:
            sparse.step(self, sparse_work)

    def _apply_dense(self, work: list[tuple]) -> bool:
        """Update the parameters in ``work`` with the bucketed backends; False (nothing
        written) if a gradient was not finite and ``nonfinite`` asks to check."""
        check = self.nonfinite != "ignore"
        ready = self._ready(work)
        if check and ready is not None and self._step_on_device(*ready, work):
            return True
        # The common case, one bucket in all: the backend checks in the same call.
        folded = check and ready is not None and len(ready[0]) == 1
        if check and not folded and not backends.all_finite([g for w in work for g in w[3]]):
            return False
        buckets, exact = ready or (self._make_buckets(work), False)
        # New buckets: checked above; on the device once more, so that the first step
        # compiles every kernel a steady step runs.
        if check and ready is None and self._step_on_device(buckets, exact, work):
            return True
        for bucket in buckets:  # a parameter without gradient sits the step out (None)
            grads = work[0][3] if exact and len(work) == len(buckets) == 1 else [
                p.grad for p in bucket.params]
            if not bucket.step(self._plan(bucket.chain), bucket.chain, self.param_groups, grads,
                               check=folded):
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
                f"{_position(group, p)} of param group {gi}, shape "
                f"{tuple(p.shape)}); use torch.optim.SparseAdam or a dense embedding")

    def _refuse(self, message: str | None = None) -> None:
        if self.nonfinite == "skip":
            self._skipped += 1
            return
        raise NonFiniteGradientError(message or self._describe_nonfinite())

    def _grads_of(self, buckets: list[Bucket], exact: bool, work: list[tuple]
                  ) -> list[list[Tensor | None]]:
        """Each bucket's gradients this step (``None``: the parameter sits it out)."""
        if exact and len(work) == len(buckets) == 1:
            return [work[0][3]]
        return [[p.grad for p in b.params] for b in buckets]

    def _step_on_device(self, buckets: list[Bucket], exact: bool, work: list[tuple]) -> bool:
        """The checked step of buckets all on the Triton backend, on one device, without
        waiting for the verdict: the gradients are checked into a device flag that the
        updates read, and the verdict is settled when next needed (:meth:`synchronize`).
        False (nothing done) if the buckets cannot run so."""
        if not all(b.triton for b in buckets) or len({b.device for b in buckets}) != 1:
            return False
        steps = [b.stage(self._plan(b.chain), b.chain, self.param_groups, grads)
                 for b, grads in zip(buckets, self._grads_of(buckets, exact, work), strict=True)]
        if not all(isinstance(s.bound, tritonkernel.Bound) for s in steps):
            return False
        verdict = tritonkernel.step_all(steps, buckets[0].device)
        for bucket, step in zip(buckets, steps, strict=True):
            bucket.commit(step, undo=True)
        self._pending = (verdict, buckets)
        return True

    def synchronize(self) -> None:
        """Settle the last step's non-finite verdict now, waiting for the device if it is
        still running it: with ``nonfinite="raise"`` raise :class:`NonFiniteGradientError`
        if it refused the step, with ``"skip"`` count it in ``skipped_steps``.

        Only steps on the Triton (GPU) backend leave a verdict pending: they check their
        gradients on the device, and a refused step writes nothing there. The next
        ``step()``, ``state_dict()`` and reading ``skipped_steps`` settle it too, first.
        """
        pending, self._pending = self._pending, None
        if pending is None:
            return
        verdict, buckets = pending
        bad = verdict.value()
        if bad is None:
            return
        for bucket in buckets:
            bucket.revert()
        index, has_nan = bad
        p = [p for b in buckets for p in b.params][index]
        gi = next(i for i, g in enumerate(self.param_groups) if any(q is p for q in g["params"]))
        self._refuse(
            f"gradient of parameter {_position(self.param_groups[gi], p)} in param group {gi} "
            f"(shape {tuple(p.shape)}) contained {'NaN' if has_nan else 'infinity'} in the "
            f"previous step; that step was not applied (the device checked it without "
            f"waiting) and parameters and optimizer state are as before it; this call did "
            f"nothing either. Pass nonfinite='skip' to skip such steps or 'ignore' to apply "
            f"them.")

    @property
    def skipped_steps(self) -> int:
        """Steps refused for a non-finite gradient (with ``nonfinite="skip"``)."""
        self.synchronize()
        return self._skipped

    @skipped_steps.setter
    def skipped_steps(self, value: int) -> None:
        self._skipped = value

    def state_dict(self) -> dict[str, Any]:
        self.synchronize()
        return super().state_dict()

    def _describe_nonfinite(self) -> str:
        tail = ("the step was not applied and parameters and optimizer state are unchanged. "
                "Pass nonfinite='skip' to skip such steps or 'ignore' to apply them.")
        for gi, group in enumerate(self.param_groups):
            for i, p in enumerate(group["params"]):
                if p.grad is None:
                    continue
                (g,), _ = sharded.local_view([p.grad])
                g = g._values() if g.is_sparse else g
                if not bool(torch.isfinite(g).all()):
                    kind = "NaN" if bool(torch.isnan(g).any()) else "infinity"
                    return (f"gradient of parameter {i} in param group {gi} (shape "
                            f"{tuple(p.shape)}) contains {kind}; {tail}")
        return f"a gradient shard on another rank is not finite; {tail}"

    def _plan(self, chain: Chain) -> backends.Plan:
        plan = self._plans.get(chain.key)
        if plan is None:
            plan = self._plans[chain.key] = backends.prepare(chain.graph)
        return plan

    def _ready(self, work: list[tuple]) -> tuple[list[Bucket], bool] | None:
        """The prepared buckets if they still apply to the parameters with gradients in
        ``work``, and whether they hold exactly those (else more: the others sit the step
        out); None if they must be rebuilt."""
        if self._prepared is None:
            return None
        prepared = self._prepared
        exact = len(work) == len(prepared.keys)
        for gi, _, params, _, chain in work:
            if prepared.keys.get(gi) != chain.key:
                return None
            now = [id(p) for p in params]
            if now != prepared.ids[gi]:
                if not prepared.idsets[gi].issuperset(now):
                    return None  # a parameter got its first gradient
                exact = False
        buckets = prepared.buckets
        return (buckets, exact) if all(b.valid(self.state) for b in buckets) else None

    def _check_state_shapes(self, chosen: list[tuple[int, Tensor, Chain, bool]]) -> None:
        """A state_dict of another model: refuse before a kernel reads it, write nothing."""
        for gi, p, chain, _ in chosen:
            for name in chain.state:
                t = self.state[p][name]
                if not isinstance(t, Tensor) or t.shape != p.shape:
                    found = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
                    raise RuntimeError(
                        f"{type(self).__name__}: state {name!r} of parameter "
                        f"{_position(self.param_groups[gi], p)} in param group {gi} is "
                        f"{found}, but the parameter has shape {tuple(p.shape)} (was the "
                        f"state_dict saved for another model?)")

    def _check_group_totals(self, split: dict[tuple, list[tuple]]) -> None:
        """A group-wide reduction (clipping by the global norm) totals a param group inside
        one bucket: refuse a group whose parameters span devices or dtypes."""
        where: dict[int, set[tuple]] = defaultdict(set)
        for (_chain, device, dtype), items in split.items():
            if reduction.group_wide(items[0][2].graph):
                for gi, *_ in items:
                    where[gi].add((device, dtype))
        for gi, places in where.items():
            if len(places) > 1:
                found = ", ".join(sorted(f"{dtype} on {device}" for device, dtype in places))
                raise ValueError(
                    f"param group {gi} of {type(self).__name__} holds parameters of "
                    f"{found}, but its chain takes a norm over the whole group "
                    f"(over='group'), which antigrad computes over one device and dtype: "
                    f"put each kind of parameter in its own param group")

    def _make_buckets(self, work: list[tuple]) -> list[Bucket]:
        """Create missing state and split the parameters of all groups by chain, device and
        dtype: one bucket updates groups whose chains agree (each group has rows of its
        own scalars). Parameters prepared before that still have state stay in (without
        gradient now, they sit the step out), so gradients coming and going rebuild
        nothing."""
        before = self._prepared
        chosen: list[tuple[int, Tensor, Chain, bool]] = []
        for gi, group, params, _, chain in work:
            if before is not None and before.keys.get(gi) == chain.key:
                keep = before.idsets[gi] | {id(p) for p in params}
                needs = [*chain.state, *chain.scalar_state]
                params = [p for p in group["params"] if id(p) in keep and (
                    p.grad is not None or all(n in self.state.get(p, ()) for n in needs))]
            for p in params:
                if group.get("fused"):  # torch's check, on the parameter's first step
                    validation.fused_device(p)
                chosen.append((gi, p, chain, self._init_state(p, group, chain)))
        self._check_state_shapes(chosen)
        split: dict[tuple, list[tuple[int, Tensor, Chain, bool]]] = defaultdict(list)
        for item in chosen:
            split[(item[2].key, item[1].device, item[1].dtype)].append(item)
        self._check_group_totals(split)
        buckets = []
        for items in split.values():
            chain = items[0][2]
            names = list(chain.scalar_state)
            flat = _as_floats([self.state[p][n] for _, p, _, _ in items for n in names]) \
                if names else []
            k = len(names)
            buckets.append(Bucket([p for _, p, _, _ in items],
                                  [self.state.get(p) for _, p, _, _ in items], chain,
                                  [tuple(flat[i * k:(i + 1) * k]) for i in range(len(items))],
                                  [fresh for *_, fresh in items], [gi for gi, *_ in items]))
        keys = {gi: chain.key for gi, _, _, _, chain in work}
        ids: dict[int, list[int]] = {gi: [] for gi in keys}
        for gi, p, _, _ in chosen:
            ids[gi].append(id(p))
        self._prepared = _Prepared(keys, ids, {gi: frozenset(v) for gi, v in ids.items()},
                                   buckets)
        capturable.check_devices(buckets, self.param_groups)
        return buckets

    # State buffers that may be missing from a parameter's state: created when needed, as
    # torch's SGD does with its momentum buffer. Any other missing buffer is an error.
    optional_state: tuple[str, ...] = ()

    @staticmethod
    def check_hyperparameters(group: dict[str, Any]) -> None:
        """Raise if ``group``'s hyperparameters are invalid; subclasses check theirs (the
        constructor's checks), for groups added later and for loaded state dicts too."""

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load as torch does, after checking the hyperparameters as the constructor does
        (ValueError: a NaN ``lr``, ...) and that no parameter's state lacks a buffer its
        update reads (KeyError, as torch raises); a refused state dict changes nothing."""
        self._check_loaded(state_dict)
        self._prepared = None
        super().load_state_dict(state_dict)

    def _check_loaded(self, state_dict: dict[str, Any]) -> None:
        groups, states = state_dict.get("param_groups"), state_dict.get("state")
        if not isinstance(groups, list) or not isinstance(states, dict):
            return  # torch's own load reports a malformed state dict
        for gi, saved in enumerate(groups):
            if not isinstance(saved, dict):
                return
            group = {**self.defaults, **saved}
            self.check_hyperparameters(group)
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
        skipped = state.pop("skipped_steps", 0)
        super().__setstate__(state)
        self._plans, self._prepared, self._pending = {}, None, None
        self.skipped_steps = skipped

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        if isinstance(param_group, dict):  # a group's own lr too, before anything is added
            self.check_hyperparameters({**self.defaults, **param_group})
        self._prepared = None
        super().add_param_group(param_group)

    def _init_state(self, p: Tensor, group: dict[str, Any], chain: Chain) -> bool:
        """Create the state ``chain`` needs for ``p``; true if a buffer had to be created.
        A chain without state leaves ``p`` out of ``self.state`` (torch's SGD without
        momentum keeps no entry, not even an empty one)."""
        if not chain.state and not chain.scalar_state:
            return False
        state = self.state[p]
        fresh = False
        for name, init in chain.state.items():
            if state.get(name) is None:  # torch's SGD saves a momentum buffer as None
                state[name] = init(p, group)
                fresh = True
        # On the Triton backend the kernel writes the scalar state: it lives on the device,
        # as it does with capturable=True (as in torch).
        on_device = backends.use_triton(p.device) or bool(group.get("capturable"))
        device = p.device if on_device else torch.device("cpu")
        for name, value in chain.scalar_state.items():
            if name not in state:
                state[name] = torch.tensor(value, dtype=_scalar_dtype(), device=device)
            elif on_device and isinstance(state[name], Tensor) and state[name].device != device:
                state[name] = state[name].to(device)  # e.g. loaded from torch.optim's format
        return fresh

    def init_state(self) -> None:
        """Create every parameter's state now (torch.optim.Adagrad does so at construction)."""
        for group in self.param_groups:
            chain = self.build(group)
            for p in group["params"]:
                self._init_state(p, group, chain)


def _apply_without_grad(opt: ChainOptimizer,
                        build: Callable[[dict[str, Any]], Chain] | None) -> None:
    # As torch.no_grad(), at a fifth of its cost (it matters for small models).
    grad_was_enabled = torch.is_grad_enabled()
    torch._C._set_grad_enabled(False)
    try:
        opt._apply_chains(build)
    finally:
        torch._C._set_grad_enabled(grad_was_enabled)


# Under torch.compile the step runs eagerly: its bookkeeping is Python and its update an
# opaque native call, so there is nothing for the compiler to trace.
_apply_outside_graph = torch.compiler.disable(_apply_without_grad)


def _scalar_dtype() -> torch.dtype:
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


def _position(group: dict[str, Any], p: Tensor) -> int:
    return next(i for i, q in enumerate(group["params"]) if q is p)


def _as_floats(tensors: list[Tensor]) -> list[float]:
    """Python values of 0-d tensors, with one synchronisation when possible."""
    try:
        return torch.stack(tensors).tolist()
    except RuntimeError:  # different devices or dtypes
        return [float(t) for t in tensors]
