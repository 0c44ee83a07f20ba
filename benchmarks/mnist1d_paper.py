"""The MNIST-1D paper's four models with the paper's recipe: ``antigrad reproduce mnist1d``.

Kept so that the commands recorded in ``benchmarks/RESULTS.md`` still run; the work is
done by :mod:`antigrad.lab.reproduce` (see ``docs/lab.md``, "Reproducing a published
table"). Any option of the command passes through:

    python benchmarks/mnist1d_paper.py [--seeds 42,0,1] [--steps 8000] [--models cnn,gru]
"""

from __future__ import annotations

import sys

from antigrad.cli import main

if __name__ == "__main__":
    main(["reproduce", "mnist1d", *sys.argv[1:]])
