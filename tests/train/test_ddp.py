"""fit under torch.distributed (2 processes, gloo, CPU) gives the one-process result."""

import torch
from torch.nn.functional import mse_loss

import antigrad
import gloo
from antigrad import schedules as S


def problem():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(45, 4, generator=g, dtype=torch.float64)
    y = torch.tanh(x @ torch.randn(4, 1, generator=g, dtype=torch.float64))
    return x, y


def train(seed_model=0):
    torch.manual_seed(seed_model)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(),
                                torch.nn.Linear(8, 1)).double()
    x, y = problem()
    # batch 7 over 2 ranks: slices of 3 and 4 rows, and a last batch of 3 (1 + 2 rows)
    return antigrad.fit(model, mse_loss, (x, y), optimizer=antigrad.SGD, lr=0.1,
                        batch_size=7, epochs=3, val=(x[:11], y[:11]),
                        schedule=lambda o: S.InverseTime(o, tau=5), track=["grad_norm"],
                        progress=False)


def worker(rank, world, out):
    torch.set_num_threads(1)
    r = train(seed_model=rank)           # different weights per rank: rank 0's win
    torch.save({"params": [p.detach() for p in r.model.parameters()],
                "history": r.history.to_dict()}, f"{out}.{rank}")


def test_two_processes_give_the_one_process_result(tmp_path):
    out = str(tmp_path / "result")
    gloo.spawn(worker, 2, str(tmp_path / "store"), out)
    single = train()
    ranks = [torch.load(f"{out}.{r}") for r in (0, 1)]
    for got in ranks:
        for p, q in zip(got["params"], single.model.parameters(), strict=True):
            torch.testing.assert_close(p, q.detach(), rtol=1e-12, atol=1e-12)
        for table in ("steps", "epochs", "val"):
            for key, column in single.history.to_dict()[table].items():
                torch.testing.assert_close(torch.tensor(got["history"][table][key]),
                                           torch.tensor(column), rtol=1e-12, atol=1e-12)
    assert len(single.history) == 21   # 7 batches an epoch, 3 epochs


def train_accumulating(seed_model=0):
    torch.manual_seed(seed_model)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(),
                                torch.nn.Linear(8, 1)).double()
    x, y = problem()
    # batches of 4 over 2 ranks, 5 per step (groups of 5, 5, 2 batches an epoch); the
    # epoch's last batch has 1 row, so rank 0 holds no example of it; clipped by norm
    return antigrad.fit(model, mse_loss, (x, y), optimizer=antigrad.SGD, lr=0.3,
                        batch_size=4, accumulate=5, clip_grad_norm=0.05, epochs=2,
                        progress=False)


def worker_accumulating(rank, world, out):
    torch.set_num_threads(1)
    r = train_accumulating(seed_model=rank)
    torch.save({"params": [p.detach() for p in r.model.parameters()],
                "history": r.history.to_dict()}, f"{out}.{rank}")


def test_two_processes_accumulating_and_clipping_give_the_one_process_result(tmp_path):
    out = str(tmp_path / "result")
    gloo.spawn(worker_accumulating, 2, str(tmp_path / "store"), out)
    single = train_accumulating()
    assert len(single.history) == 6 and "grad_norm_clipped" in single.history.steps
    for got in [torch.load(f"{out}.{r}") for r in (0, 1)]:
        for p, q in zip(got["params"], single.model.parameters(), strict=True):
            torch.testing.assert_close(p, q.detach(), rtol=1e-12, atol=1e-12)
        for key, column in single.history.steps.items():
            torch.testing.assert_close(torch.tensor(got["history"]["steps"][key]),
                                       torch.tensor(column), rtol=1e-12, atol=1e-12)
