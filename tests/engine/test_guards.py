"""The native checks of many tensors' layouts and addresses (antigrad.engine.guards), and a
bucket's steady steps relying on them without ever missing a change."""

import ctypes

import pytest
import torch

import antigrad
from antigrad.engine import guards, native

pytestmark = pytest.mark.skipif(not guards.available(),
                                reason="torch's native guard pieces or a C compiler missing")


def test_a_snapshot_notices_each_change_a_bound_kernel_cares_about():
    base = torch.zeros(5, 6)
    t, s = base[1:3], torch.tensor(1.0)
    taken = guards.snapshot([t, s, torch.ones(3)])
    assert taken is not None and taken.unchanged()
    changes = [lambda: setattr(t, "data", t.data.clone()),  # other address
               lambda: setattr(t, "data", base[2:4]),  # same layout, other address
               lambda: setattr(t, "data", t.data.view(3, 4)),  # same address, other shape
               lambda: setattr(t, "data", base.t()[1:3]),  # other strides
               lambda: setattr(t, "data", t.data.double()),
               lambda: setattr(s, "data", s.data.view(1)),  # a 0-d counter made 1-d
               lambda: t.set_(torch.zeros(2, 6))]
    for change in changes:
        keep_t, keep_s = t.data, s.data
        change()
        assert not taken.unchanged(), change
        t.data, s.data = keep_t, keep_s
        assert taken.unchanged()


def test_layouts_match_only_the_recorded_type_dtype_shape_and_strides():
    g, a, b = torch.randn(4, 3), torch.randn(2), torch.randn(())
    recorded = guards.layouts([g, a, b])
    assert recorded is not None
    # any address: only the layout is recorded
    assert recorded.match([torch.randn(4, 3), torch.randn(2), torch.randn(())])
    for other in (torch.randn(3, 4).t(), torch.randn(4, 3, dtype=torch.float64),
                  torch.randn(12), torch.nn.Parameter(torch.randn(4, 3)),
                  torch.randn(4, 3, requires_grad=True), torch.randn(4, 3, 2)[..., 0]):
        assert not recorded.match([other, a, b])
    assert not recorded.match([g, a, b, b])  # another count: no
    assert guards.layouts([g, a, g]) is None  # a repeated tensor cannot be checked natively
    assert guards.layouts([g, a]) is None  # too few to be worth a native call


def test_only_plain_tensors_with_readable_addresses_are_checked_natively():
    class Marked(torch.Tensor):
        pass

    plain = [torch.zeros(3), torch.zeros(2)]
    assert guards.snapshot([*plain, torch.zeros(3)]) is not None
    assert guards.snapshot([*plain, torch.zeros(3).as_subclass(Marked)]) is None
    assert guards.layouts([*plain, torch.zeros(3).to_sparse()]) is None  # data_ptr() raises


def test_addresses_are_written_where_the_kernel_reads_them_and_none_as_zero():
    ts = [torch.randn(3), None, torch.randn(2, 2)[:, 1]]
    out = (ctypes.c_void_p * 5)(*[7] * 5)
    assert guards.addresses_into(ts, out, 1, 3)
    assert list(out) == [7, ts[0].data_ptr(), None, ts[2].data_ptr(), 7]


@pytest.mark.parametrize("kind", [list, tuple])
def test_addresses_of_another_count_or_past_the_end_are_not_written(kind):
    """A list that grew or shrank since its tensors were counted (or an ``out`` without room
    for them) is refused with nothing written: the caller reads them from Python."""
    ts = [torch.randn(3), torch.randn(2), torch.randn(4)]
    out = (ctypes.c_void_p * 5)(*[7] * 5)
    assert not guards.addresses_into(kind(ts), out, 1, 2)  # one more than counted
    assert not guards.addresses_into(kind(ts[:2]), out, 1, 3)  # one fewer
    assert not guards.addresses_into(kind(ts), out, 3, 3)  # out[3:6]: past the end
    assert list(out) == [7] * 5
    assert guards.addresses_into(kind(ts), out, 2, 3)
    assert list(out) == [7, 7, *(t.data_ptr() for t in ts)]


def test_a_step_whose_gradients_are_not_read_natively_reads_them_from_python(monkeypatch):
    """The bound kernel falls back to the Python reads when the native read refuses."""
    p, q, ours, theirs = _pair()
    for t in range(3):
        _step_both(p, q, ours, theirs, t)
    assert ours.planner.buckets[0]._grad_guard
    refused = []
    monkeypatch.setattr(guards, "addresses_into", lambda *a: refused.append(a) or False)
    for t in range(3, 6):
        _step_both(p, q, ours, theirs, t)
    assert refused  # the native read was asked, refused, and the steps are torch's


def test_steady_steps_read_no_layout_from_python(monkeypatch):
    """Once bound, a step checks the state tensors, parameters and gradients natively:
    none of their layouts is read from Python (that was half a step of 64 replicas)."""
    stacked = torch.randn(8, 5, 3)
    views = [stacked[r] for r in range(8)]  # as the lab's replicas: rows of stacked weights
    opt = antigrad.Adam([{"params": [v], "lr": 1e-2 * (1 + r % 3)} for r, v in
                         enumerate(views)], lr=1e-3)
    reads = []
    real_layout = native.param_layout
    monkeypatch.setattr(native, "param_layout", lambda ts: reads.append(len(ts)) or
                        real_layout(ts))
    for _ in range(5):
        for v in views:
            v.grad = torch.randn(5, 3)
        reads.clear()
        opt.step()
    assert reads == []
    bucket = opt.planner.buckets[0]
    assert isinstance(bucket.bound, native.Bound)
    assert bucket._held_guard and bucket._param_guard and bucket._grad_guard


def _pair():
    """Parameter 0 and two more (enough that each kind of tensor is checked natively)."""
    gen = torch.Generator().manual_seed(0)
    ps = [torch.nn.Parameter(torch.randn(s, generator=gen)) for s in [(6, 4), (5,), (3, 2)]]
    qs = [torch.nn.Parameter(p.detach().clone()) for p in ps]
    return ps[0], qs[0], antigrad.Adam(ps, lr=0.1), torch.optim.Adam(qs, lr=0.1)


def _step_both(p, q, ours, theirs, t):
    for opt in (ours, theirs):
        for x in opt.param_groups[0]["params"]:
            x.grad = torch.linspace(-1, 1, x.numel()).reshape(x.shape) * (1 + t)
    ours.step()
    theirs.step()
    # (an ulp apart where the native square root is correctly rounded: docs/engine.md)
    for a, b in zip(ours.param_groups[0]["params"], theirs.param_groups[0]["params"],
                    strict=True):
        torch.testing.assert_close(a.detach(), b.detach(), rtol=1e-6, atol=1e-7)


def _state_moved(opt, x):
    opt.state[x]["exp_avg_sq"].data = opt.state[x]["exp_avg_sq"].clone()


def _state_transposed(opt, x):
    m = opt.state[x]["exp_avg"]
    m.data = m.data.t().contiguous().t()  # other strides: read as torch reads it


def _param_moved(opt, x):
    x.data = x.data.clone()


def _param_transposed(opt, x):
    x.data = x.data.t().contiguous().t()


def _counter_set(opt, x):
    opt.state[x]["step"].fill_(10.0)


@pytest.mark.parametrize("change", [_state_moved, _state_transposed, _param_moved,
                                    _param_transposed, _counter_set])
def test_a_change_after_the_native_checks_took_over_is_followed(change):
    """Changes made once steps are checked natively (not only on the second step, as the
    older tests do) give torch's numbers."""
    p, q, ours, theirs = _pair()
    for t in range(4):
        _step_both(p, q, ours, theirs, t)
    bucket = ours.planner.buckets[0]
    assert bucket._held_guard and bucket._param_guard and bucket._grad_guard
    change(ours, p)
    change(theirs, q)
    for t in range(4, 8):
        _step_both(p, q, ours, theirs, t)
    for key, value in theirs.state[q].items():
        torch.testing.assert_close(ours.state[p][key], value, rtol=1e-6, atol=1e-7)


def test_a_gradient_laid_out_otherwise_after_steady_steps_runs_as_torch():
    p, q, ours, theirs = _pair()
    for t in range(4):
        _step_both(p, q, ours, theirs, t)
    g = torch.randn(4, 6).t()  # the parameter's shape, other strides
    p.grad, q.grad = g.clone().t().contiguous().t(), g.clone()
    assert p.grad.stride() != p.stride()
    ours.step()
    theirs.step()
    torch.testing.assert_close(p.detach(), q.detach(), rtol=1e-6, atol=1e-7)
    _step_both(p, q, ours, theirs, 5)


def test_requires_grad_toggled_on_a_state_tensor_is_checked_again_then_natively():
    """A change the Python reads do not see fails the native check once; the check is
    taken again and the steps go on with torch's numbers."""
    p, q, ours, theirs = _pair()
    for t in range(3):
        _step_both(p, q, ours, theirs, t)
    bucket = ours.planner.buckets[0]
    before = bucket._held_guard
    ours.state[p]["exp_avg"].requires_grad_(True)
    _step_both(p, q, ours, theirs, 3)
    assert ours.planner.buckets[0] is bucket and bucket._held_guard is not before
    assert bucket._held_guard.unchanged()
    _step_both(p, q, ours, theirs, 4)


lists = pytest.mark.skipif(not guards.reads_lists(),
                           reason="the native loops do not read this interpreter's lists")


@lists
def test_a_list_of_tensors_is_read_by_the_c_loop_itself(monkeypatch):
    ts = [torch.zeros(3), None, torch.ones(2, 2)[1]]
    out = (ctypes.c_void_p * 4)()
    # the list path builds no array of ids in Python: id() of the list and of None only
    seen = []
    monkeypatch.setattr(guards, "id", lambda obj: seen.append(obj) or id(obj), raising=False)
    assert guards.addresses_into(ts, out, 1, 3)
    monkeypatch.undo()
    assert seen == [ts, None]
    assert (out[0], out[1], out[2], out[3]) == (None, ts[0].data_ptr(), None, ts[2].data_ptr())
    # any other sequence: through an array of ids
    assert guards.addresses_into(tuple(ts), out, 0, 3)
    assert (out[0], out[1], out[2]) == (ts[0].data_ptr(), None, ts[2].data_ptr())


@lists
def test_entries_notice_a_replaced_or_missing_object_and_a_replaced_entry():
    a, b, c = torch.zeros(2), torch.zeros(2), torch.zeros(2)
    states = [{"exp_avg": a, "step": b}, {"exp_avg": c, "step": b}]
    held = [a, b, c, b]
    entries = guards.Entries(states, ["exp_avg", "step"], held)
    assert entries.same()
    states[1]["exp_avg"] = c.clone()  # an equal tensor, another object
    assert not entries.same()
    states[1]["exp_avg"] = c
    del states[0]["step"]
    assert not entries.same()
    states[0]["step"] = b
    assert entries.same()
    states[0] = {"exp_avg": a, "step": b}  # the list's item is read each call: the new dict
    assert entries.same()
    states[0] = None  # not a dict
    assert not entries.same()
    with pytest.raises(ValueError, match="list of dicts"):
        guards.Entries(states, ["exp_avg"], held)  # one object per dict and name


@lists
def test_a_state_tensor_replaced_after_steady_steps_rebuilds_the_bucket():
    w = [torch.nn.Parameter(torch.randn(4)) for _ in range(4)]
    opt = antigrad.Adam(w, lr=0.1)
    for _ in range(3):
        for p in w:
            p.grad = torch.ones(4)
        opt.step()
    bucket = opt.planner.buckets[0]
    assert bucket._entries_guard, "the native entries check should be in use"
    opt.state[w[2]]["exp_avg"] = torch.zeros(4)  # replaced: the step must use the new one
    before = w[2].detach().clone()
    opt.step()
    assert opt.planner.buckets[0] is not bucket
    # exp_avg restarted from zero: the update is that of a first moment of (1 - beta1) g
    assert not torch.equal(w[2].detach(), before)
    assert opt.state[w[2]]["exp_avg"][0].item() == pytest.approx(0.1)


@lists
def test_entries_of_a_list_that_grew_or_shrank_are_changed():
    """The objects recorded are one per dict and name of the list as it was: a list of
    more dicts is not read past them, and one of fewer is not "the same" for those left."""
    a, b, c = torch.zeros(2), torch.zeros(2), torch.zeros(2)
    states = [{"exp_avg": a}, {"exp_avg": b}, {"exp_avg": c}]
    entries = guards.Entries(states, ["exp_avg"], [a, b, c])
    assert entries.same()
    states.append({"exp_avg": a})
    assert not entries.same()
    del states[2:]  # the first two still hold what they did
    assert not entries.same()
    states.append({"exp_avg": c})
    assert entries.same()


@lists
def test_a_bucket_whose_states_list_grew_checks_again_and_steps_as_torch():
    p, q, ours, theirs = _pair()
    for t in range(3):
        _step_both(p, q, ours, theirs, t)
    bucket = ours.planner.buckets[0]
    assert isinstance(bucket._entries_guard, guards.Entries)
    bucket.states.append({})  # as if the list were changed after the check was made
    _step_both(p, q, ours, theirs, 3)
    assert ours.planner.buckets[0] is not bucket  # not the same: built again
    _step_both(p, q, ours, theirs, 4)
    for key, value in theirs.state[q].items():
        torch.testing.assert_close(ours.state[p][key], value, rtol=1e-6, atol=1e-7)


@lists
def test_entries_refusing_a_bucket_leave_its_steps_to_the_python_reads(monkeypatch):
    def refuse(*args):
        raise ValueError("native entry checks need a list of dicts")

    monkeypatch.setattr(guards, "Entries", refuse)
    p, q, ours, theirs = _pair()
    for t in range(4):
        _step_both(p, q, ours, theirs, t)
    bucket = ours.planner.buckets[0]
    assert bucket._entries_guard is False
    ours.state[p]["exp_avg"] = ours.state[p]["exp_avg"].clone()  # still noticed
    theirs.state[q]["exp_avg"] = theirs.state[q]["exp_avg"].clone()
    _step_both(p, q, ours, theirs, 4)
    assert ours.planner.buckets[0] is not bucket


def test_a_list_head_laid_out_otherwise_does_not_pass_as_a_list():
    """Where the object head is longer (free-threaded, trace-refs builds) the fields the
    C code reads are other ones: the self-test's check refuses such a head, read here from
    arrays of words laid out as those builds' lists would be."""
    items = [torch.zeros(1), None, torch.zeros(2)]
    array = (ctypes.c_void_p * 3)(*map(id, items))
    size, ptr = len(items), ctypes.addressof(array)

    def head(*words):
        return (ctypes.c_void_p * 8)(*words)

    as_read = head(1, id(list), size, ptr)
    trace_refs = head(0x1000, 0x2000, 1, id(list), size, ptr)  # _ob_next, _ob_prev first
    free_threaded = head(0x7F00, 1 << 32, 0, id(list), size, ptr)  # ob_tid, flags, shared
    assert guards._reads_as_list(ctypes.addressof(as_read), items)
    assert guards._reads_as_list(id(items), items)
    assert not guards._reads_as_list(ctypes.addressof(trace_refs), items)
    assert not guards._reads_as_list(ctypes.addressof(free_threaded), items)
    assert not guards._reads_as_list(ctypes.addressof(as_read), items[:2])  # other size
    assert not guards._reads_as_list(ctypes.addressof(as_read), items[::-1])  # other items
