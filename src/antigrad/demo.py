"""``make demo``: ``antigrad compare`` on the default problem (MNIST-1D MLP), then the report.

Every lecture optimizer, a 3-point lr grid, 3 seeds, 1500 steps each: about a minute on
two CPU cores. Results go to ``runs/antigrad.sqlite``; the last line printed is the
report's path.
"""

from __future__ import annotations

import sys

from antigrad.cli import main

if __name__ == "__main__":
    main(["compare", *sys.argv[1:]])
