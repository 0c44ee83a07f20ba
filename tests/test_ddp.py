"""antigrad optimizers under DistributedDataParallel (2 processes, gloo, CPU)."""

import torch

import antigrad
import gloo

STEPS = 5


def make_data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(32, 6, generator=g)
    y = torch.randn(32, 1, generator=g)
    return x, y


def make_model():
    torch.manual_seed(1)
    return torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))


def train(model, x, y, opt_factory):
    opt = opt_factory(model.parameters())
    for _ in range(STEPS):
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()
    return [p.detach().clone() for p in model.parameters()]


def worker(rank, world, out):
    torch.set_num_threads(1)
    x, y = make_data()
    shard = slice(rank * len(x) // world, (rank + 1) * len(x) // world)
    model = torch.nn.parallel.DistributedDataParallel(make_model())
    params = train(model, x[shard], y[shard],
                   lambda p: antigrad.Adam(p, lr=0.05, weight_decay=0.01))
    if rank == 0:
        torch.save(params, out)


def test_two_processes_match_one_process_on_the_full_batch(tmp_path):
    out = str(tmp_path / "params.pt")
    gloo.spawn(worker, 2, str(tmp_path / "store"), out)
    distributed = torch.load(out)
    x, y = make_data()
    single = train(make_model(), x, y, lambda p: antigrad.Adam(p, lr=0.05, weight_decay=0.01))
    for a, b in zip(distributed, single, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert not torch.equal(single[0], make_model()[0].weight.detach())  # training moved


def dtensor_worker(rank, world, out):
    """Parameters sharded as DTensors: antigrad must match torch.optim, shard by shard,
    and refuse a NaN on any rank (the native kernel cannot write into a DTensor)."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import Shard, distribute_tensor

    torch.set_num_threads(1)
    mesh = init_device_mesh("cpu", (world,))
    results = {}
    for name, kw in [("Adam", dict(lr=0.1, weight_decay=0.01)), ("SGD", dict(lr=0.1, momentum=0.9)),
                     ("NAdam", dict(lr=0.1))]:
        ours = torch.nn.Parameter(distribute_tensor(torch.linspace(-1, 1, 16), mesh, [Shard(0)]))
        ref = torch.nn.Parameter(distribute_tensor(torch.linspace(-1, 1, 16), mesh, [Shard(0)]))
        a = getattr(antigrad, name)([ours], nonfinite="raise", **kw)
        b = getattr(torch.optim, name)([ref], **kw)
        for t in range(4):
            for p in (ours, ref):
                p.grad = distribute_tensor(torch.linspace(0, 1, 16) * (t + 1), mesh, [Shard(0)])
            a.step()
            b.step()
        before = ours.full_tensor().clone()
        bad = torch.zeros(16)
        bad[15] = float("nan")  # on the last rank's shard only
        ours.grad = distribute_tensor(bad, mesh, [Shard(0)])
        try:
            a.step()
            refused = False
        except antigrad.NonFiniteGradientError:
            refused = True
        results[name] = ((ours.full_tensor() - ref.full_tensor()).abs().max().item(), refused,
                         torch.equal(ours.full_tensor(), before))
    if rank == 0:
        torch.save(results, out)


def test_dtensor_parameters_match_torch_and_refuse_nan(tmp_path):
    out = str(tmp_path / "results.pt")
    gloo.spawn(dtensor_worker, 2, str(tmp_path / "store"), out)
    for name, (diff, refused, unchanged) in torch.load(out).items():
        assert diff <= 1e-6, name
        assert refused and unchanged, name
