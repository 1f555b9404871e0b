"""lrnotes: learning-rate control in PyTorch, the code of the book."""

from lrnotes.env import pick_device, seed_everything, setup
from lrnotes.notebook import glue, in_colab

__version__ = "0.1.0"

__all__ = ["setup", "seed_everything", "pick_device", "glue", "in_colab", "__version__"]
