"""The garbage collector around a training loop: the objects alive at its start frozen
while it runs, and the caller's state back afterwards, also after an exception."""

import gc
import threading

import pytest

from antigrad.train import collector
from antigrad.train.collector import freeze_for_good, objects_frozen
from antigrad.train.loop import Loop, StepRecord, StopAfter


@pytest.fixture
def unfrozen():
    """Nothing frozen before the test (a test that froze objects may have run) nor after."""
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_a_block_freezes_what_is_alive_and_unfreezes_it_after(unfrozen):
    alive = [[]]
    assert any(o is alive for o in gc.get_objects())
    with objects_frozen():
        assert gc.get_freeze_count() > 0
        assert not any(o is alive for o in gc.get_objects())  # no collection walks it
        made_inside = [[]]
        assert any(o is made_inside for o in gc.get_objects())
    assert gc.get_freeze_count() == 0
    assert any(o is alive for o in gc.get_objects())


def test_the_state_comes_back_after_an_exception(unfrozen):
    with pytest.raises(KeyError), objects_frozen():
        raise KeyError("in the block")
    assert gc.get_freeze_count() == 0


def test_the_callers_frozen_objects_stay_frozen(unfrozen):
    gc.freeze()
    before = gc.get_freeze_count()
    with objects_frozen():
        pass
    assert gc.get_freeze_count() == before


def test_automatic_collection_stays_as_the_caller_set_it(unfrozen):
    enabled = gc.isenabled()
    try:
        for setting in (gc.disable, gc.enable):
            setting()
            with objects_frozen():
                assert gc.isenabled() is (setting is gc.enable)
            assert gc.isenabled() is (setting is gc.enable)
    finally:
        gc.enable() if enabled else gc.disable()


def test_a_loop_runs_its_steps_with_the_objects_alive_at_its_start_frozen(unfrozen):
    seen = []

    def step(n):
        seen.append(gc.get_freeze_count())
        return StepRecord(n, 0.0)

    Loop(step, [StopAfter(3)]).run()
    assert len(seen) == 3 and min(seen) > 1000
    assert gc.get_freeze_count() == 0


def test_a_loop_that_raises_leaves_nothing_frozen(unfrozen):
    def step(n):
        raise RuntimeError("the step failed")

    with pytest.raises(RuntimeError, match="the step failed"):
        Loop(step, [StopAfter(3)]).run()
    assert gc.get_freeze_count() == 0


def test_cycles_made_inside_a_loop_are_still_collected(unfrozen):
    collected = []

    def step(n):
        cycle = []
        cycle.append(cycle)
        collected.append(gc.collect())
        return StepRecord(n, 0.0)

    Loop(step, [StopAfter(2)]).run()
    assert collected[1] >= 1  # the first step's cycle, found by a collection in the loop


def test_nested_blocks_unfreeze_when_the_outer_one_leaves(unfrozen):
    with objects_frozen():
        count = gc.get_freeze_count()
        with objects_frozen():
            pass
        assert gc.get_freeze_count() == count  # the inner block left it frozen
    assert gc.get_freeze_count() == 0


def test_blocks_in_two_threads_unfreeze_when_the_last_one_leaves(unfrozen):
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen = []

    def first():
        with objects_frozen():
            first_in.set()
            second_in.wait(10)
        first_out.set()

    def second():
        first_in.wait(10)
        with objects_frozen():
            second_in.set()
            first_out.wait(10)
            seen.append(gc.get_freeze_count())  # the first block has left

    threads = [threading.Thread(target=f) for f in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert seen and seen[0] > 0
    assert gc.get_freeze_count() == 0


def test_after_freezing_for_good_blocks_do_not_even_ask(unfrozen, monkeypatch):
    def walk_of_the_frozen_objects():
        raise AssertionError("asked for the freeze count (a walk of every frozen object)")

    monkeypatch.setattr(collector, "_for_good", False)
    freeze_for_good()
    monkeypatch.setattr(gc, "get_freeze_count", walk_of_the_frozen_objects)
    with objects_frozen():
        pass
    Loop(lambda n: StepRecord(n, 0.0), [StopAfter(2)]).run()
    monkeypatch.undo()
    assert gc.get_freeze_count() > 0  # frozen for good: no block undid it
