"""lrnotes: learning-rate control in PyTorch, the code of the book.

The public API, re-exported from the modules that hold it (``lrnotes.schedules`` is
imported as a module: ``from lrnotes import schedules as S``)::

    import lrnotes
    from lrnotes import schedules as S

    device = lrnotes.setup(seed=0)
    scheduler = S.attach(optimizer, S.warmup(S.cosine(S.rest()), steps=S.of_run(0.05)))
    history = lrnotes.fit(model, train_loader, optimizer, loss_fn, epochs=10, scheduler=scheduler)
"""

from lrnotes import schedules
from lrnotes.callbacks import Callback, EarlyStopping, KeepBest, PrintEpochs
from lrnotes.checkpoint import CheckpointError
from lrnotes.clip import ClipResult, clip_gradients
from lrnotes.env import pick_device, seed_everything, setup
from lrnotes.finder import LRFindResult, lr_find
from lrnotes.monitor import History, read_tensorboard
from lrnotes.notebook import glue, in_colab
from lrnotes.optim import LARS, layerwise_lrs, optimizer_mode, param_groups
from lrnotes.plot import plot_history, plot_lr_find, plot_schedule
from lrnotes.runplan import CompletedRunWarning, ScheduleLengthWarning
from lrnotes.schedules import attach
from lrnotes.train import accuracy, distributed_loader, evaluate, fit, train_one_epoch

__version__ = "0.1.0"

__all__ = [
    "schedules", "attach",
    "LARS", "param_groups", "layerwise_lrs", "optimizer_mode",
    "clip_gradients", "ClipResult",
    "lr_find", "LRFindResult",
    "fit", "train_one_epoch", "CheckpointError", "evaluate", "accuracy", "distributed_loader",
    "Callback", "EarlyStopping", "KeepBest", "PrintEpochs",
    "ScheduleLengthWarning", "CompletedRunWarning",
    "History", "read_tensorboard",
    "plot_schedule", "plot_history", "plot_lr_find",
    "setup", "seed_everything", "pick_device", "glue", "in_colab",
    "__version__",
]
