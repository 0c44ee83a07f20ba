"""Training: the fit loop (GD and minibatch SGD), restarts and ensembles, the learning-rate
range test, the batch-size probe and checkpoints. See ``docs/training.md``."""

from .batch_size import BatchSizeResult, find_batch_size
from .callbacks import Callback, ProgressBar, StopTraining
from .checkpoint import Checkpointer, CheckpointError, load_checkpoint, save_checkpoint
from .ensemble import Ensemble, reset_parameters
from .fit import fit, fit_with
from .fit_config import FitConfig
from .loggers import CSVLogger, TensorBoardLogger
from .lr_finder import LRFinderResult, find_lr
from .result import FitResult, History

__all__ = ["fit", "fit_with", "FitConfig", "find_lr", "find_batch_size", "FitResult",
           "History", "LRFinderResult",
           "BatchSizeResult", "Callback", "StopTraining", "ProgressBar", "Ensemble",
           "reset_parameters", "Checkpointer", "CheckpointError", "load_checkpoint",
           "save_checkpoint", "CSVLogger", "TensorBoardLogger"]
