"""What the report's gallery costs: each lecture picture's drawing time, CPU and wall.

    python benchmarks/gallery_cost.py

Draws every picture of ``antigrad.lab.figures.LECTURE_FIGURES`` (what ``antigrad compare``
adds to a report unless ``--no-gallery``) and saves it as a PNG at the report's 100 dpi.
CPU seconds are this process's (``time.process_time``, one intra-op thread): on a shared
machine they move less with the other processes than the wall time does.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
os.environ.setdefault("OMP_NUM_THREADS", "1")


def main() -> None:
    import torch

    from antigrad.lab.figures import LECTURE_FIGURES

    torch.set_num_threads(1)
    cpu_total = wall_total = 0.0
    print("| picture | CPU s | wall s |\n|---|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for stem, draw in LECTURE_FIGURES.items():
            cpu, wall = time.process_time(), time.perf_counter()
            draw().savefig(Path(tmp) / f"{stem}.png", dpi=100)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            cpu_total += cpu
            wall_total += wall
            print(f"| {stem} | {cpu:.2f} | {wall:.2f} |")
    print(f"| **all {len(LECTURE_FIGURES)}** | **{cpu_total:.1f}** | **{wall_total:.1f}** |")


if __name__ == "__main__":
    main()
