"""The lecture's pictures draw without a display."""

import matplotlib

matplotlib.use("Agg")
