"""The garbage collector around a training loop: the objects alive at its start frozen
while it runs, and the caller's state back afterwards, also after an exception."""

import gc

import pytest

from antigrad.train.collector import objects_frozen
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
