"""compare: lr choice on training loss, seeds, summaries; the SQLite store round trip."""

import math
import sqlite3

import pytest

from antigrad.lab import CompareConfig, Store, StoreError, lr_grid, run_compare
from antigrad.problems import UnknownNameError


@pytest.fixture(scope="module")
def cmp():
    return run_compare(CompareConfig("breast-cancer", ["sgd", "adam"], grid_points=2, seeds=2,
                                     steps=30, eval_every=10))


def test_grid_is_centred_and_log_spaced():
    assert lr_grid(0.1, 3) == [0.0316, 0.1, 0.316]
    assert lr_grid(1e-3, 1) == [1e-3]
    with pytest.raises(ValueError):
        lr_grid(0.1, 0)


def test_runs_choice_and_summaries(cmp):
    assert set(cmp.chosen_lr) == {"sgd", "adam"}
    for name in ("sgd", "adam"):
        runs = [r for r in cmp.runs if r.optimizer == name]
        final = cmp.final_runs(name)
        assert len(runs) == 3 and sorted(r.seed for r in final) == [0, 1]  # seed 0 reused
        assert all(r.lr == cmp.chosen_lr[name] for r in final)
        tuned = [r for r in runs if r.seed == 0]
        best = min(tuned, key=lambda r: r.tail_loss())
        assert best.lr == cmp.chosen_lr[name]  # chosen on training loss
    rank = cmp.ranking()
    assert len(rank) == 2 and rank[0].metric_mean >= rank[1].metric_mean
    assert all(s.runs == 2 and 0 <= s.metric_mean <= 1 for s in rank)


def test_progress_is_reported():
    seen = []
    run_compare(CompareConfig("breast-cancer", ["sgd"], grid_points=2, seeds=2, steps=3),
                progress=lambda label, done, total: seen.append((done, total)))
    assert seen[-1] == (3, 4) or seen[-1][0] == seen[-1][1]
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_range_method_records_tests():
    c = run_compare(CompareConfig("breast-cancer", ["adam"], lr_method="range", seeds=1,
                                  steps=5))
    assert len(c.range_tests) == 1 and c.chosen_lr["adam"] == c.range_tests[0].suggestion


@pytest.mark.parametrize("kw, match", [
    ({"problem": "nope"}, "unknown problem 'nope'; choose from"),
    ({"optimizers": ["sgd", "lion"]}, "unknown optimizer 'lion'"),
    ({"optimizers": []}, "empty"),
    ({"optimizers": ["sgd", "sgd"]}, "repeat"),
    ({"lr_method": "magic"}, "grid or range"),
    ({"lrs": [0.1, -1.0]}, "lrs"),
    ({"seeds": 0}, "seeds"),
    ({"grid_points": 1300}, "grid_points: 1300 .must be an int from 1 to 25"),
    ({"seeds": 100_000}, "seeds"),
    ({"steps": 10**9}, "steps"),
    ({"steps": True}, "steps"),
    ({"lrs": [0.1] * 26}, "at most 25"),
    ({"lr_method": "range", "lrs": [0.1]}, "range"),
])
def test_config_validation(kw, match):
    base = {"problem": "breast-cancer"}
    with pytest.raises(ValueError, match=match):
        CompareConfig(**{**base, **kw}).validate()
    if "problem" in kw:
        with pytest.raises(UnknownNameError):
            CompareConfig(**{**base, **kw}).validate()


def test_store_round_trip(cmp, tmp_path):
    store = Store(tmp_path / "runs" / "s.sqlite")
    assert store.list() == []
    cid = store.save(cmp)
    assert cmp.id == cid and store.latest_id() == cid
    back = store.load(cid)
    assert back.config == cmp.config and back.chosen_lr == cmp.chosen_lr
    assert back.summaries() == cmp.summaries()
    assert [r.losses for r in back.runs] == [[tuple(x) for x in r.losses] for r in cmp.runs]
    assert store.save(cmp) == cid + 1 and len(store.list()) == 2
    with sqlite3.connect(store.path) as con:
        assert con.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 2 * len(cmp.runs)


def test_store_keeps_nan_and_errors(tmp_path, cmp):
    store = Store(tmp_path / "s.sqlite")
    with pytest.raises(StoreError, match="run `antigrad compare` first"):
        store.load()
    original, cmp.runs[0].final_metric = cmp.runs[0].final_metric, math.nan
    try:
        store.save(cmp)
        assert math.isnan(store.load().runs[0].final_metric)
    finally:
        cmp.runs[0].final_metric = original
    with pytest.raises(StoreError, match="no comparison 99"):
        store.load(99)


def test_explicit_seeds_and_optimizer_texts_round_trip(tmp_path):
    text = "torch:SGD(momentum=0.9, lr=0.1)@cosine"
    c = run_compare(CompareConfig("breast-cancer", ["adam", text], grid_points=2,
                                  seeds=[42, 7], steps=8, eval_every=4))
    for name in ("adam", text):
        assert sorted(r.seed for r in c.final_runs(name)) == [7, 42]
        assert {r.seed for r in c.runs if r.optimizer == name and r.phase == "tune"} == {42}
        assert len([r for r in c.runs if r.optimizer == name]) == 3
    assert c.chosen_lr[text] in (0.0562, 0.178)  # a grid around the text's lr=0.1
    assert all(len(r.evals) == 3 for r in c.runs)  # steps 0, 4, 8
    store = Store(tmp_path / "s.sqlite")
    back = store.load(store.save(c))
    assert back.config.seeds == [42, 7] and back.config.optimizers == ["adam", text]
    assert back.summaries() == c.summaries()


@pytest.mark.parametrize("seeds, match", [
    ([], "seeds"), ([1, 1], "different"), ([-1], "from 0"), ([0.5], "ints"),
    (True, "seeds"),
])
def test_seed_lists_are_checked(seeds, match):
    with pytest.raises(ValueError, match=match):
        CompareConfig("breast-cancer", ["sgd"], seeds=seeds).validate()
