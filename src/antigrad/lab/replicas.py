r"""Many runs of one optimizer on one problem, trained in lock step as one batched model.

:func:`train_replicas` trains R runs of :func:`~antigrad.lab.runner.train_run` at once:
each *replica* is one run, a ``(lr, seed)`` pair (and, optionally, hyperparameters of its
own, such as ``beta1``), with

- its own initial weights: the model ``problem.make(seed)`` builds, as the sequential run;
- its own minibatch order: the order the sequential run with that seed walks;
- its own hyperparameters: each replica's weights are one param group of a single
  optimizer, so the engine updates every replica in one kernel call per bucket, each
  group with its own row of scalars (lr, betas, step count...); the spec's lr schedule
  acts on every replica's lr (a torch scheduler steps each param group).

Second-order methods and LBFGS (they evaluate one run's loss in their own line search)
cannot train as replicas: :func:`train_replicas` refuses them; the lab runs them
sequentially.

The R models are stacked (``torch.func.stack_module_state``) into one tensor per weight
with a leading replica axis; one forward and backward pass computes every replica's mean
minibatch loss and gradient: the batched module of :mod:`~antigrad.lab.batched_model`
(one operation per layer for all replicas) when the model is made of the layers it knows
and it agrees with each replica's own model on a probe batch, else ``vmap`` of
``functional_call``. With
the batched module and the standard loss (:func:`~antigrad.problems.cross_entropy_loss`
itself, on class indices), every replica's loss is one ``cross_entropy`` over the logits
as the last layer lays them out, ``(R, classes, batch)``, each replica's mean taken as
torch's mean reduction takes it; any other loss is ``vmap``'d over the replicas' outputs.
Replica ``r``'s param group holds the views ``stacked[r]`` of those tensors, and its
gradients are the matching rows of stacked gradient buffers (autograd's fresh tensors of
the first step, into which later steps' are copied, one copy per weight): the optimizer
writes straight into the batched model. The step's bookkeeping is done for all replicas
at once: their minibatch indices are one ``(R, batch)`` slice (the rows gathered by one
``index_select``), one sum over all
gradients checks that every replica's is finite (rows are told apart only when it is
not), the runner's per-step rules run in one pass over the replicas, and an evaluation
computes every replica's test outputs in one batched forward.

Divergence is per replica, by the runner's rules (those of :func:`train_run`'s hooks,
applied to each replica's step): a replica whose loss is NaN/inf or whose gradient is not
updated that step; it, or one whose loss exceeds ``divergence_factor`` times its first,
is marked diverged and frozen (its weights sit out every later step: the engine leaves a
parameter without gradient and its state untouched) while the others go on. The batch
ends when every replica has stopped.

A batch trains on one intra-op thread, as a run alone, or on the process's threads when
its own timing finds them faster (:mod:`~antigrad.lab.batch_threads`).

Results equal the sequential runs' up to the rounding of batched matrix products (the
equivalence tests: float64 final weights to 1e-10 relative). ``seconds`` is each
replica's share of the batch's training time (the batch's seconds over R). Afterwards the
model ``problem.make(seed)`` built for each replica holds that replica's final weights,
as the model of a sequential run does.

Example: three runs of momentum SGD, two learning rates and two seeds::

    >>> from antigrad.lab.optimizers import get_optimizer
    >>> from antigrad.lab.replicas import train_replicas
    >>> from antigrad.problems import get_training_problem
    >>> runs = train_replicas(get_training_problem("digits-mlp"), get_optimizer("momentum"),
    ...                       [(0.05, 0), (0.05, 1), (0.2, 0)], steps=20)
    >>> [(r.lr, r.seed, r.steps) for r in runs]
    [(0.05, 0, 20), (0.05, 1, 20), (0.2, 0, 20)]
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap

from ..problems.base import Task, TrainingProblem, cross_entropy_loss
from ..train.loop import (
    Every,
    Hook,
    Loop,
    LossAbove,
    StepRecord,
    StopAfter,
    Stopwatch,
)
from .batch_threads import ThreadChoice
from .batched_model import batched_forward
from .heap import keep_freed_memory
from .optimizers import OptimizerSpec, needs_closure
from .runner import (
    DIVERGENCE_FACTOR,
    MAX_CURVE_POINTS,
    RunRequest,
    RunResult,
    _Curve,
    _Evaluate,
    _Minibatches,
    _Schedule,
    _settings,
    flush_denormals,
)

__all__ = ["train_replicas", "train_batch", "check_requests", "ReplicaModel", "batchable",
           "batchable_method", "batchable_problem", "MIN_REPLICAS"]

#: Fewest runs the lab trains as replicas: on one CPU thread a batch of 8 MNIST-1D MLPs
#: computes a step 1.2x faster per run than one run alone, a batch of 4 0.9x as fast
#: (benchmarks/replicas.py, RESULTS.md): smaller batches run sequentially.
MIN_REPLICAS = 8


class ReplicaModel:
    """Replica ``r`` of a batched model as a callable model: ``model(x)`` runs ``base``
    with the replica's slices of the stacked weights (what a task's loss and metric
    call); ``eval()``/``train()`` switch ``base``'s mode."""

    def __init__(self, base: nn.Module, tensors: Mapping[str, Tensor]) -> None:
        self.base, self.tensors = base, dict(tensors)

    def __call__(self, *inputs: Tensor) -> Tensor:
        return functional_call(self.base, self.tensors, inputs)

    def eval(self) -> ReplicaModel:
        self.base.eval()
        return self

    def train(self, mode: bool = True) -> ReplicaModel:
        self.base.train(mode)
        return self


class _Outputs:
    """A model that answers its one input, ``x`` itself, with outputs computed already
    (by the batched forward): what a task's loss or metric calls instead of the model."""

    def __init__(self, out: Tensor, x: Tensor) -> None:
        self.out, self.x = out, x

    def __call__(self, *inputs: Tensor) -> Tensor:
        if len(inputs) != 1 or inputs[0] is not self.x:
            raise ValueError("Invalid call of a batched model: the loss or metric calls the "
                             "model on something else than its inputs")
        return self.out

    def eval(self) -> _Outputs:
        return self

    def train(self, mode: bool = True) -> _Outputs:
        return self


class _ReplicaOutputs:
    """Replica ``r``'s model for evaluation: its rows of one forward pass of every
    replica on the same inputs (the first replica to evaluate computes it for all).
    ``eval()``/``train()`` set the mode that pass runs in (the batched model's own mode
    is switched once for the pass, not by each replica)."""

    def __init__(self, batched: _Batched, r: int) -> None:
        self.batched, self.r, self.training = batched, r, True

    def __call__(self, *inputs: Tensor) -> Tensor:
        return self.batched.outputs(inputs, self.training)[self.r]

    def eval(self) -> _ReplicaOutputs:
        self.training = False
        return self

    def train(self, mode: bool = True) -> _ReplicaOutputs:
        self.training = mode
        return self


#: Replicas per forward pass of an evaluation: bounds its activations' memory to what
#: this many runs alone would hold.
EVAL_CHUNK = 8


class _Batched:
    """R models stacked: ``weights[name]`` has a leading replica axis and requires grad;
    ``views[r]`` are replica ``r``'s slices of them (leaves sharing their storage), the
    tensors its param group holds. The forward pass is the batched module of
    :mod:`~antigrad.lab.batched_model` when the model's layers allow (and it computes the
    losses each replica's own model does on a probe batch), else ``vmap`` of
    ``functional_call``."""

    def __init__(self, tasks: Sequence[Task]) -> None:
        models = [t.model for t in tasks]
        self.weights, self.buffers = stack_module_state(models)
        # functional_call replaces every tensor: the template needs no memory of its own
        self.base = _template(models[0])
        self.names = list(self.weights)
        self.views = [[self.weights[n].detach()[r] for n in self.names]
                      for r in range(len(models))]
        self.frozen: set[int] = set()
        self.grads: list[Tensor] | None = None  # the stacked gradients, from the first step
        self._cached: tuple[bool, tuple[Tensor, ...], Tensor] | None = None
        self.forward = batched_forward(self.base)
        if self.forward is not None and not self._agrees(tasks[0]):
            self.forward = None

    def freeze(self, r: int) -> None:
        """Replica ``r`` sits every later step out (its weights have no gradient)."""
        self.frozen.add(r)
        for view in self.views[r]:
            view.grad = None

    @torch.no_grad()
    def write_back(self, models: Sequence[nn.Module]) -> None:
        """Each replica's weights and buffers copied into its own model."""
        for r, model in enumerate(models):
            for name, p in model.named_parameters():
                p.copy_(self.weights[name][r])
            for name, b in model.named_buffers():
                if name in self.buffers:
                    b.copy_(self.buffers[name][r])

    def replica(self, r: int) -> _ReplicaOutputs:
        """Replica ``r``'s model, for its evaluations."""
        return _ReplicaOutputs(self, r)

    def losses(self, loss: Callable[..., Tensor], xb: Tensor, yb: Tensor) -> Tensor:
        """Every replica's mean loss on its own minibatch ``xb[r], yb[r]``: shape ``(R,)``."""
        if self.forward is None:
            return self._vmap_losses(loss, xb, yb)
        act = self.forward.activation(self.weights, xb)
        if _standard_cross_entropy(loss, yb) and len(act.inner()) == 1:
            # the logits (R, classes, batch): the class axis second, as torch reads it
            return _mean_cross_entropy(act.features(), yb)
        out = act.rows()

        def one(o: Tensor, x: Tensor, y: Tensor) -> Tensor:
            return loss(_Outputs(o, x), x, y)

        return vmap(one)(out, xb, yb)

    def _vmap_losses(self, loss: Callable[..., Tensor], xb: Tensor, yb: Tensor) -> Tensor:
        def one(weights: dict[str, Tensor], buffers: dict[str, Tensor], x: Tensor,
                y: Tensor) -> Tensor:
            return loss(ReplicaModel(self.base, {**weights, **buffers}), x, y)

        return vmap(one)(self.weights, self.buffers, xb, yb)

    @torch.no_grad()
    def _agrees(self, task: Task) -> bool:
        """Whether the batched forward computes the losses each replica's own model does
        on a probe batch (a layer it reads otherwise, or a loss that calls the model on
        other inputs, raises or disagrees: then ``vmap`` it is). The reference is a loop
        over the replicas, not ``vmap``: a first ``vmap`` of a loss costs a process about
        a second (torch's decompositions load), which a batch that never needs it saves."""
        r = len(self.views)
        xb = task.x_train[:4].expand(r, *task.x_train[:4].shape)
        yb = task.y_train[:4].expand(r, *task.y_train[:4].shape)
        try:
            fast = self.losses(task.loss, xb, yb)
        except (RuntimeError, ValueError, TypeError, IndexError):
            return False
        tensors = {**self.weights, **self.buffers}
        slow = torch.stack([
            task.loss(ReplicaModel(self.base, {n: t[k] for n, t in tensors.items()}),
                      xb[k], yb[k]) for k in range(r)])
        return fast.shape == slow.shape and bool(torch.allclose(fast, slow, rtol=1e-4,
                                                                atol=1e-6, equal_nan=True))

    def backward(self, total: Tensor) -> list[Tensor]:
        """The gradients of ``total`` (the sum of the usable replicas' losses), one stacked
        tensor per weight: autograd's fresh tensors (no zeroing, no adding into old ones),
        kept from the first step on as the buffers whose rows are the live replicas'
        views' gradients, and copied into them on later steps (one copy per weight
        instead of setting R x P gradients every step)."""
        stacked = [self.weights[name] for name in self.names]
        for w in stacked:
            w.grad = None
        total.backward()
        # a weight the loss does not depend on gets zeros
        fresh = [torch.zeros_like(w) if w.grad is None else w.grad for w in stacked]
        for w in stacked:
            w.grad = None
        if self.grads is None:
            self.grads = fresh
            for r, views in enumerate(self.views):
                if r not in self.frozen:
                    for view, grad in zip(views, fresh, strict=True):
                        view.grad = grad[r]
        else:
            for grad, new in zip(self.grads, fresh, strict=True):
                grad.copy_(new)
        return self.grads

    def stepped(self) -> None:
        """The weights changed: evaluations compute their outputs again."""
        self._cached = None

    @torch.no_grad()
    def outputs(self, inputs: tuple[Tensor, ...], training: bool) -> Tensor:
        """Every replica's model output on the same ``inputs``, ``(R, ...)``, with the
        model in training mode or not, computed once per step (:data:`EVAL_CHUNK`
        replicas at a time)."""
        cached = self._cached
        if cached is not None and cached[0] == training and len(cached[1]) == len(inputs) \
                and all(a is b for a, b in zip(cached[1], inputs, strict=True)):
            return cached[2]
        r, mode = len(self.views), self.base.training
        self.base.train(training)
        try:
            chunks = [self._outputs(inputs, slice(i, min(i + EVAL_CHUNK, r)))
                      for i in range(0, r, EVAL_CHUNK)]
        finally:
            self.base.train(mode)
        self._cached = (training, inputs, torch.cat(chunks))
        return self._cached[2]

    def _outputs(self, inputs: tuple[Tensor, ...], rows: slice) -> Tensor:
        weights = {n: w[rows] for n, w in self.weights.items()}
        if self.forward is not None and len(inputs) == 1:
            x = inputs[0]
            return self.forward(weights, x.expand(rows.stop - rows.start, *x.shape))
        buffers = {n: b[rows] for n, b in self.buffers.items()}
        return vmap(lambda w, b: functional_call(self.base, {**w, **b}, inputs))(
            weights, buffers)


def _standard_cross_entropy(loss: Callable[..., Tensor], yb: Tensor) -> bool:
    """Whether ``loss`` is :func:`~antigrad.problems.cross_entropy_loss` itself (torch's
    cross-entropy with its defaults) on class indices ``(R, batch)``: then every
    replica's loss is computed at once, without ``vmap``."""
    return loss is cross_entropy_loss and yb.dim() == 2 and not yb.is_floating_point() \
        and not yb.is_complex()


def _mean_cross_entropy(logits: Tensor, yb: Tensor) -> Tensor:
    """Each replica's ``F.cross_entropy(logits[r].T, yb[r])`` from the logits laid out
    ``(R, classes, batch)`` (the class axis second, as torch reads it, so the last
    layer's output needs no copy): the per-example losses summed over the minibatch and
    divided, as torch's mean reduction divides, by the count of targets that are not its
    default ``ignore_index``."""
    per_example = nn.functional.cross_entropy(logits, yb, reduction="none")
    return per_example.sum(1) / (yb != _IGNORED).sum(1)


#: ``F.cross_entropy``'s default ``ignore_index``: a target that adds nothing to the mean.
_IGNORED = -100


def _gather(data: Tensor, idx: Tensor) -> Tensor:
    """``data[idx]`` for every replica's minibatch indices ``idx`` ``(R, batch)``: one
    ``index_select`` of whole rows (advanced indexing takes several times as long on the
    replicas' minibatches)."""
    return torch.index_select(data, 0, idx.reshape(-1)).view(*idx.shape, *data.shape[1:])


def _template(model: nn.Module) -> nn.Module:
    return copy.deepcopy(model).to("meta")


def _finite_rows(grads: Sequence[Tensor]) -> list[bool]:
    """Per replica: whether all its gradient entries are finite. One sum over every
    gradient first (finite exactly when no entry is NaN/inf, or the sum overflowed): only
    when it is not, one reduction per stacked tensor tells which rows."""
    rows = grads[0].shape[0]
    if math.isfinite(float(torch.stack([g.sum() for g in grads]).sum())):
        return [True] * rows
    finite = torch.stack([torch.isfinite(g.reshape(rows, -1)).all(1) for g in grads])
    return finite.all(0).tolist()


class _Draws:
    """Every replica's next minibatch indices at once, ``(R, batch)``: the orders its
    sequential run walks (each replica's epochs drawn by its own
    :class:`~antigrad.lab.runner._Minibatches`), one slice of the stacked epochs a step
    (every replica starts an epoch at the same step: same data, same batch size)."""

    def __init__(self, orders: Sequence[_Minibatches]) -> None:
        self.orders = list(orders)
        self.n, self.size = orders[0].n, orders[0].batch_size
        self.table, self.pos = torch.stack([o.order for o in self.orders]), 0

    def __call__(self) -> Tensor:
        if self.pos + self.size > self.n:
            self.table, self.pos = torch.stack([o._epoch() for o in self.orders]), 0
        idx = self.table[:, self.pos:self.pos + self.size]
        self.pos += self.size
        return idx


class _ReplicaStep:
    """One step of every live replica: draws each replica's minibatch, one batched
    forward/backward, then hands the optimizer only the gradients of the replicas whose
    loss and gradient are finite (the others sit the step out). ``record.extra`` is
    ``(losses, reasons)``: each replica's minibatch loss and why its step was not applied
    (``None`` when it was; a replica that has stopped is skipped by the lanes)."""

    def __init__(self, batched: _Batched, optimizers: list[torch.optim.Optimizer],
                 task: Task, orders: list[_Minibatches], live: list[bool]) -> None:
        self.batched, self.optimizers, self.task = batched, optimizers, task
        self.draw, self.live = _Draws(orders), live

    def __call__(self, n: int) -> StepRecord:
        batched, task = self.batched, self.task
        idx = self.draw()
        xb, yb = _gather(task.x_train, idx), _gather(task.y_train, idx)
        losses = batched.losses(task.loss, xb, yb)
        values = losses.detach().tolist()
        usable = [live and math.isfinite(v) for live, v in zip(self.live, values, strict=True)]
        # every replica usable (the usual step): the sum is the masked sum's, term for term
        total = losses.sum() if all(usable) else \
            torch.where(torch.tensor(usable), losses, 0.0).sum()
        finite = _finite_rows(batched.backward(total))
        reasons: list[str | None] = [None] * len(values)
        if not all(usable) or not all(finite):
            for r, v in enumerate(values):
                reasons[r] = "non-finite loss" if not math.isfinite(v) else \
                    None if finite[r] else "non-finite gradient"
                if self.live[r] and reasons[r] is not None:
                    batched.freeze(r)  # not updated by this step, nor any later one
        for optimizer in self.optimizers:  # each updates its own replicas' groups
            optimizer.step()
        batched.stepped()
        live_values = [v for v, live in zip(values, self.live, strict=True) if live]
        return StepRecord(n, sum(live_values) / max(1, len(live_values)), None,
                          (values, reasons))


class _Lanes(Hook):
    """Each live replica's step, handled as :func:`train_run`'s hooks handle its own step
    (``LossAbove``, ``StopOnDivergence``, ``_Record``, then ``Every(eval_every, ...)``, the
    order they run after a step), in one pass over the replicas: a loss above
    ``divergence_factor`` times the replica's first marks the step diverged; a diverged
    step stops the replica (it is frozen); every step's loss goes into its curve and
    result; an evaluation every ``eval_every`` steps and at the batch's last step, unless
    the step diverged. The batch stops when every replica has."""

    def __init__(self, results: list[RunResult], curves: list[_Curve],
                 evaluations: list[Callable[[int], None]], eval_every: int,
                 divergence_factor: float, live: list[bool],
                 freeze: Callable[[int], None]) -> None:
        self.results, self.curves, self.evaluations = results, curves, evaluations
        self.live, self.freeze = live, freeze
        # the runner's own rules, applied to every replica's loss in one pass
        self.every = Every(eval_every, lambda loop: None)
        self.above = LossAbove(divergence_factor)
        self.limits: list[float] = []  # from each replica's first loss
        self.running = [r for r, alive in enumerate(live) if alive]

    def after_step(self, loop: Loop, record: StepRecord) -> None:
        n, (values, reasons) = record.step, record.extra
        if not self.limits:  # every replica's first step is the batch's first
            self.limits = [self.above.limit_from(v) for v in values]
        elif not all(v <= lim for v, lim in zip(values, self.limits, strict=True)):
            reasons = [reason if reason is not None or not v > lim else "loss above limit"
                       for v, lim, reason in zip(values, self.limits, reasons, strict=True)]
        evaluate = self.every.due(loop, n)
        stopped = []
        for r in self.running:
            loss, diverged = values[r], reasons[r] is not None
            self.curves[r].add(n, loss)
            result = self.results[r]
            result.steps, result.final_loss, result.diverged = n, loss, diverged
            if diverged:
                stopped.append(r)
            elif evaluate:
                self.evaluations[r](n)
        for r in stopped:
            self.live[r] = False
            self.freeze(r)
        if stopped:
            self.running = [r for r in self.running if self.live[r]]
            if not self.running:
                loop.stop("every replica diverged")


def batchable(problem: TrainingProblem, spec: OptimizerSpec) -> bool:
    """Whether ``spec``'s runs on ``problem`` can train as replicas: not a method that
    evaluates the loss itself (second-order methods, LBFGS), not a recurrent model
    (torch's fused RNN kernels have no ``vmap`` rule)."""
    return batchable_method(spec) and batchable_problem(problem)


def batchable_method(spec: OptimizerSpec) -> bool:
    """Whether ``spec``'s optimizer takes one gradient per step (no closure)."""
    probe = spec.build([torch.nn.Parameter(torch.zeros(2))], spec.default_lr)
    return not needs_closure(probe)


def batchable_problem(problem: TrainingProblem) -> bool:
    """Whether ``problem``'s model can be batched (it holds no recurrent module)."""
    model = problem.make(0).model
    return not any(isinstance(m, nn.RNNBase) for m in model.modules())


def _check_runs(runs: Sequence[tuple[float, int]],
                overrides: Sequence[Mapping[str, Any]] | None) -> None:
    if overrides is not None and len(overrides) != len(runs):
        raise ValueError(f"Invalid overrides: {len(overrides)} given for {len(runs)} runs "
                         f"(one mapping per run)")


def check_requests(requests: Sequence[RunRequest]) -> None:
    """Raise before any training: no requests, a request that is not a
    :class:`~antigrad.lab.runner.RunRequest`, an lr that is not a finite number > 0, a
    seed that is not an int >= 0, overrides that are not a mapping."""
    if not requests:
        raise ValueError("Invalid runs: none given (need at least one run)")
    for q in requests:
        if not isinstance(q, RunRequest):
            raise TypeError(f"Invalid run: {q!r} (must be an antigrad.lab.RunRequest)")
        if isinstance(q.lr, bool) or not isinstance(q.lr, int | float) or not \
                (math.isfinite(q.lr) and q.lr > 0):
            raise ValueError(f"Invalid lr: {q.lr!r} (must be a finite number > 0)")
        if isinstance(q.seed, bool) or not isinstance(q.seed, int) or q.seed < 0:
            raise ValueError(f"Invalid seed: {q.seed!r} (must be an int >= 0)")
        if not isinstance(q.overrides, Mapping):
            raise TypeError(f"Invalid overrides: {q.overrides!r} (must be a mapping of "
                            "hyperparameters)")


def train_replicas(problem: TrainingProblem, spec: OptimizerSpec,
                   runs: Sequence[tuple[float, int]], *, steps: int | None = None,
                   batch_size: int | None = None, eval_every: int | None = None,
                   phase: str = "final", divergence_factor: float = DIVERGENCE_FACTOR,
                   overrides: Sequence[Mapping[str, Any]] | None = None) -> list[RunResult]:
    """``[train_run(problem, spec, lr, seed, ...) for lr, seed in runs]``, trained at once
    as one batched model (see the module doc); ``overrides[r]`` are replica ``r``'s own
    hyperparameters (param-group keys, e.g. ``{"beta1": 0.8}``). The one-optimizer case
    of :func:`train_batch`."""
    _check_runs(runs, overrides)
    requests = [RunRequest(spec, lr, seed, phase, dict(overrides[r]) if overrides else {})
                for r, (lr, seed) in enumerate(runs)]
    return train_batch(problem, requests, steps=steps, batch_size=batch_size,
                       eval_every=eval_every, divergence_factor=divergence_factor)


def train_batch(problem: TrainingProblem, requests: Sequence[RunRequest], *,
                steps: int | None = None, batch_size: int | None = None,
                eval_every: int | None = None,
                divergence_factor: float = DIVERGENCE_FACTOR) -> list[RunResult]:
    """``[train_run(problem, q.spec, q.lr, q.seed, phase=q.phase, overrides=q.overrides)
    for q in requests]``, trained at once as one batched model whose replicas are split
    among several optimizers: one per distinct spec, owning its replicas' param groups
    (each with the replica's lr and overrides); see the module doc."""
    check_requests(requests)
    threads = torch.get_num_threads()  # the process's, before the run's setting
    keep_freed_memory()  # a batch's steps free and take back the same large blocks
    with flush_denormals():
        return _train(problem, list(requests), steps, batch_size, eval_every,
                      divergence_factor, threads)


def _group_keys(spec: OptimizerSpec,
                known: list[tuple[OptimizerSpec, set[str]]]) -> set[str]:
    """The hyperparameters ``spec``'s optimizer keeps per param group (its ``defaults``):
    those a replica's overrides may set in its own group (``known`` caches them)."""
    for other, keys in known:
        if other == spec:
            return keys
    probe = spec.build([torch.nn.Parameter(torch.zeros(2))], spec.default_lr)
    known.append((spec, set(getattr(probe, "defaults", {}))))
    return known[-1][1]


def _owners(requests: list[RunRequest]) -> list[tuple[OptimizerSpec, dict[str, Any],
                                                       list[int]]]:
    """Which optimizer owns which replicas: one per spec and per set of overrides that
    are not param-group keys (those go to the constructor, as in the sequential run)."""
    known: list[tuple[OptimizerSpec, set[str]]] = []
    owners: list[tuple[OptimizerSpec, dict[str, Any], list[int]]] = []
    for r, q in enumerate(requests):
        per_group = _group_keys(q.spec, known)
        fixed = {k: v for k, v in q.overrides.items() if k not in per_group}
        for spec, kwargs, members in owners:
            if spec == q.spec and kwargs == fixed:
                members.append(r)
                break
        else:
            owners.append((q.spec, fixed, [r]))
    return owners


def _optimizers(requests: list[RunRequest], views: list[list[Tensor]], steps: int
                ) -> tuple[list[torch.optim.Optimizer], list[Any]]:
    """One optimizer per owner (see :func:`_owners`), replica ``r``'s param group holding
    ``views[r]`` with its lr and per-group overrides; and each optimizer's schedule (acting
    on every group's own lr)."""
    optimizers, schedules = [], []
    for spec, fixed, members in _owners(requests):
        groups = [{"params": views[r], "lr": float(requests[r].lr),
                   **{k: v for k, v in requests[r].overrides.items() if k not in fixed}}
                  for r in members]
        optimizer = spec.build(groups, float(requests[members[0]].lr), **fixed)
        if needs_closure(optimizer):
            raise ValueError(f"Invalid spec: {spec.name!r} evaluates the loss itself (a "
                             f"second-order method or LBFGS: its line search and curvature "
                             f"act on one run's loss), so it cannot train as replicas; use "
                             f"train_run")
        optimizers.append(optimizer)
        # a schedule per replica: every param group keeps its own lr (OneCycleLR's peak too)
        schedule = spec.build_schedule(optimizer, steps,
                                       [float(requests[r].lr) for r in members])
        if schedule is not None:
            schedules.append(schedule)
    return optimizers, schedules


def _train(problem: TrainingProblem, requests: list[RunRequest], steps: int | None,
           batch_size: int | None, eval_every: int | None, divergence_factor: float,
           threads: int) -> list[RunResult]:
    steps, batch_size, eval_every = _settings(problem, steps, batch_size, eval_every)
    tasks = [problem.make(q.seed) for q in requests]
    task = tasks[0]
    batched = _Batched(tasks)
    optimizers, schedules = _optimizers(requests, batched.views, steps)
    n, size = len(task.x_train), min(batch_size, len(task.x_train))
    orders = [_Minibatches(n, size, q.seed, problem.shuffle) for q in requests]
    live = [True] * len(requests)
    clock = Stopwatch()
    results, curves, evaluations = [], [], []
    for r, q in enumerate(requests):
        result = RunResult(q.spec.name, float(q.lr), q.seed, 0, False, math.nan, math.nan,
                           0.0, phase=q.phase)
        evaluate = _Evaluate(problem, dataclasses.replace(task, model=batched.replica(r)),
                             result)
        evaluate(0, 0.0)
        results.append(result)
        curves.append(_Curve(steps, MAX_CURVE_POINTS))
        evaluations.append(_evaluation(evaluate, clock, len(requests)))
    step = _ReplicaStep(batched, optimizers, task, orders, live)
    lanes = _Lanes(results, curves, evaluations, eval_every, divergence_factor, live,
                   batched.freeze)
    Loop(step, [lanes, *[_Schedule(schedule, steps) for schedule in schedules],
                StopAfter(steps), *([ThreadChoice(threads)] if threads > 1 else []),
                clock]).run()
    batched.write_back([t.model for t in tasks])
    for result, curve in zip(results, curves, strict=True):
        curve.flush(result.steps)
        result.losses, result.seconds = curve.points, clock.seconds / len(requests)
        result.final_metric = math.nan if result.diverged else result.evals[-1][2]
    return results


def _evaluation(evaluate: _Evaluate, clock: Stopwatch, share: int) -> Callable[[int], None]:
    """The replica's evaluation at a step, stamped with its share of the training time."""
    return lambda step: evaluate(step, clock.seconds / share)
