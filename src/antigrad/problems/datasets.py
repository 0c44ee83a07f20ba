"""The data behind the benchmark problems, loaded offline and standardized.

- scikit-learn's bundled breast cancer (569 x 30, binary) and digits (1797 x 64, 10 classes);
- MNIST-1D (4000 train + 1000 test x 40, 10 classes), *generated* locally by the
  ``mnist1d`` package with its default arguments (never downloaded) and cached as
  ``.npz`` under the user's cache directory (``$ANTIGRAD_CACHE``, else
  ``$XDG_CACHE_HOME/antigrad``, else ``~/.cache/antigrad``).

Every loader returns ``(x_train, y_train, x_test, y_test)`` as float32 / int64 tensors,
with features standardized by the training set's statistics, and a fixed split;
``mnist1d(standardize=False)`` gives the data as generated (the MNIST-1D paper's setup).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

__all__ = ["cache_dir", "breast_cancer", "digits", "mnist1d"]

Split = tuple[Tensor, Tensor, Tensor, Tensor]


def cache_dir() -> Path:
    """The directory where generated data sets are cached (created on demand)."""
    root = os.environ.get("ANTIGRAD_CACHE")
    if root:
        return Path(root)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "antigrad"


def _split(x: np.ndarray, y: np.ndarray, test_fraction: float = 0.2, seed: int = 0) -> Split:
    """Fixed shuffled split, then standardization by the training statistics."""
    order = np.random.default_rng(seed).permutation(len(y))
    n_test = int(round(len(y) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    return _tensors(x[train], y[train], x[test], y[test])


def _tensors(x_tr: np.ndarray, y_tr: np.ndarray, x_te: np.ndarray, y_te: np.ndarray,
             standardize: bool = True) -> Split:
    mean, std = (x_tr.mean(0), x_tr.std(0)) if standardize else (0.0, 1.0)
    std = np.where(std > 0, std, 1.0)
    f = lambda a: torch.as_tensor((a - mean) / std, dtype=torch.float32)  # noqa: E731
    i = lambda a: torch.as_tensor(a, dtype=torch.int64)  # noqa: E731
    return f(x_tr), i(y_tr), f(x_te), i(y_te)


@lru_cache(maxsize=1)
def breast_cancer() -> Split:
    """scikit-learn's breast cancer data (bundled): 455 train / 114 test, labels 0/1."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    return _split(data.data, data.target)


@lru_cache(maxsize=1)
def digits() -> Split:
    """scikit-learn's 8x8 digits (bundled): 1438 train / 359 test, labels 0..9."""
    from sklearn.datasets import load_digits

    data = load_digits()
    return _split(data.data, data.target)


@lru_cache(maxsize=2)
def mnist1d(standardize: bool = True) -> Split:
    """MNIST-1D with the package's default arguments: 4000 train / 1000 test, length 40;
    standardized by the training set's statistics unless ``standardize=False``.

    Generated with ``mnist1d.data.make_dataset`` (the offline path of
    ``get_dataset(download=False, regenerate=True)``) and cached as ``mnist1d.npz``.
    """
    path = cache_dir() / "mnist1d.npz"
    if path.exists():
        with np.load(path) as f:
            arrays = {k: f[k] for k in ("x", "y", "x_test", "y_test")}
    else:
        from mnist1d.data import get_dataset_args, make_dataset

        state = np.random.get_state()  # make_dataset reseeds numpy's global generator
        try:
            data = make_dataset(get_dataset_args())
        finally:
            np.random.set_state(state)
        arrays = {k: np.asarray(data[k]) for k in ("x", "y", "x_test", "y_test")}
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    return _tensors(arrays["x"], arrays["y"], arrays["x_test"], arrays["y_test"], standardize)
