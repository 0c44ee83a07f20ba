"""The training loop: it learns, it detects divergence, it is reproducible, it times."""

import math

import pytest
import torch

from antigrad.lab import get_optimizer, lr_range_test, train_run
from antigrad.problems import get_training_problem

BC = "breast-cancer"


def test_learns_and_reaches_target():
    p = get_training_problem(BC)
    r = train_run(p, get_optimizer("adam"), 0.01, seed=0, steps=60, eval_every=10)
    assert not r.diverged and r.steps == 60 and len(r.losses) == 60
    assert r.evals[0][0] == 0 and r.evals[-1][0] == 60 and len(r.evals) == 7
    assert r.final_metric > r.evals[0][2] and r.final_metric >= p.target
    assert r.steps_to_target is not None and r.steps_to_target % 10 == 0
    assert 0 <= r.seconds_to_target <= r.seconds
    assert r.tail_loss() < r.losses[0][1]


def test_same_seed_same_run_other_seed_differs():
    p = get_training_problem(BC)
    a, b, c = (train_run(p, get_optimizer("sgd"), 0.1, seed=s, steps=15) for s in (3, 3, 4))
    assert a.losses == b.losses and a.losses != c.losses


def test_divergence_is_detected_and_stops_the_run():
    p = get_training_problem("noisy-least-squares")
    r = train_run(p, get_optimizer("sgd"), 50.0, seed=0, steps=100)
    assert r.diverged and r.steps < 100 and math.isnan(r.final_metric)
    assert r.tail_loss() == math.inf


def test_restores_cpu_settings():
    threads = torch.get_num_threads()
    train_run(get_training_problem(BC), get_optimizer("sgd"), 0.1, steps=2)
    assert torch.get_num_threads() == threads


def test_bad_settings():
    p = get_training_problem(BC)
    for kw in ({"steps": 0}, {"batch_size": -1}, {"eval_every": 1.5}):
        with pytest.raises(ValueError, match=next(iter(kw))):
            train_run(p, get_optimizer("sgd"), 0.1, **kw)


def test_range_test_stops_when_loss_explodes_and_suggests_inside():
    p = get_training_problem(BC)
    r = lr_range_test(p, get_optimizer("sgd"), lr_min=1e-4, lr_max=1e4, steps=60)
    assert r.diverged and len(r.lrs) < 60
    assert r.lrs[0] <= r.suggestion <= r.lrs[-1]
    assert all(b > a for a, b in zip(r.lrs, r.lrs[1:], strict=False))
    with pytest.raises(ValueError, match="lr_max"):
        lr_range_test(p, get_optimizer("sgd"), lr_min=1.0, lr_max=0.1)


def test_long_runs_keep_bounded_curves(monkeypatch):
    from antigrad.lab import runner

    p = get_training_problem("noisy-least-squares")
    full = train_run(p, get_optimizer("sgd"), 0.01, steps=1000, eval_every=15)
    assert len(full.losses) == 1000 and len(full.evals) == 1 + 66 + 1
    monkeypatch.setattr(runner, "MAX_CURVE_POINTS", 100)
    monkeypatch.setattr(runner, "MAX_EVALS", 10)
    r = train_run(p, get_optimizer("sgd"), 0.01, steps=1000, eval_every=15)
    assert len(r.losses) == 100 and [s for s, _ in r.losses[:2]] == [10, 20]
    assert r.losses[-1][0] == 1000 and len(r.evals) == 1 + 10
    # the same run: block means of the full curve, same tail loss, last loss, metric
    blocks = [sum(v for _, v in full.losses[k:k + 10]) / 10 for k in range(0, 1000, 10)]
    assert [v for _, v in r.losses] == pytest.approx(blocks, rel=1e-12)
    assert r.tail_loss() == pytest.approx(full.tail_loss(), rel=1e-12)
    assert r.final_loss == full.final_loss and r.final_metric == full.final_metric


def test_diverged_long_run_keeps_its_last_block(monkeypatch):
    from antigrad.lab import runner

    monkeypatch.setattr(runner, "MAX_CURVE_POINTS", 10)
    r = train_run(get_training_problem("noisy-least-squares"), get_optimizer("sgd"), 50.0,
                  steps=1000)
    assert r.diverged and r.steps < 100  # inside the first block of 100 steps
    assert r.losses == [(r.steps, r.losses[0][1])] and len(r.losses) == 1


def test_fixed_order_batches_walk_the_data_in_order():
    import dataclasses

    seen = []
    p = get_training_problem(BC)

    def loss(model, xb, yb):
        seen.append(xb.clone())
        return p.make(0).loss(model, xb, yb)

    def build(seed):
        return dataclasses.replace(p.build(seed), loss=loss)

    fixed = dataclasses.replace(p, build=build, shuffle=False)
    train_run(fixed, get_optimizer("sgd"), 0.01, steps=4, batch_size=200)
    x = p.make(0).x_train  # 455 rows: two batches of 200, then the first two again
    expected = [x[:200], x[200:400], x[:200], x[200:400]]
    assert all(torch.equal(a, b) for a, b in zip(seen, expected, strict=True))
    seen.clear()
    train_run(dataclasses.replace(p, build=build), get_optimizer("sgd"), 0.01, steps=1,
              batch_size=200)
    assert not torch.equal(seen[0], x[:200])  # the default reshuffles
