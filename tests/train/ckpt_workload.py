"""A small training job for the checkpoint tests, also run as a child process."""

import sys
import time

import torch
from torch.nn.functional import mse_loss

import antigrad
from antigrad import schedules as S
from antigrad import stop
from antigrad.train import Callback

STEPS, EVERY = 60, 5


def data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(30, 3, generator=g)
    return x, torch.sin(x.sum(1, keepdim=True))


def model(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.Dropout(0.2), torch.nn.Tanh(),
                               torch.nn.Linear(16, 1))


def train(folder, resume=False, callbacks=(), seed=0, **kw):
    """The job; ``kw`` overrides any of its fit arguments."""
    x, y = data()
    args = dict(optimizer=antigrad.Adam, lr=0.01, batch_size=8, steps=STEPS,
                schedule=lambda o: S.InverseTime(o, tau=10, p=0.75), stop=stop.Patience(100),
                val=(x, y), checkpoint=folder, checkpoint_every=EVERY, progress=False)
    args.update(kw)
    return antigrad.fit(model(seed), mse_loss, args.pop("train", (x, y)), resume=resume,
                        callbacks=list(callbacks), **args)


class Announce(Callback):
    """Print every step (the parent kills the child when it sees enough) and go slowly."""

    def on_step_end(self, run, obs):
        print(f"step {obs.step}", flush=True)
        time.sleep(0.02)


if __name__ == "__main__":
    train(sys.argv[1], callbacks=[Announce()])
