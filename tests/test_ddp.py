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
